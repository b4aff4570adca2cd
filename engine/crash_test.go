package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/shard"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("CW_CRASH_CHILD"); dir != "" {
		crashChild(dir, os.Getenv("CW_CRASH_ADDR"), os.Getenv("CW_CRASH_ROUND"))
		return
	}
	os.Exit(m.Run())
}

const crashWallets = 16

// crashChild is the node under test: it sets up a ledger (idempotently: it
// may have been killed half way before), prints READY, then runs
// concurrent transactions and prints every acknowledged outcome until it is
// killed. A line is written only after Propose returned, so every ACK line
// the parent reads is a promise the node made.
func crashChild(dir, addr, round string) {
	cfg := testConfig(dir)
	cfg.PeerAddr = addr
	cfg.SnapshotThreshold = 64 // snapshots and compaction happen during the run
	cfg.TrailingLogs = 16
	n, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if err := n.WaitReady(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ready:", err)
		os.Exit(2)
	}
	must := func(c shard.Command) shard.Result {
		r, err := n.Propose(ctx, &c)
		if err != nil {
			fmt.Fprintln(os.Stderr, "setup:", err)
			os.Exit(2)
		}
		return r
	}
	var projects, assets int
	n.ReadMeta(func(m *shard.Meta) {
		projects = len(m.Projects())
		if projects > 0 {
			assets = len(m.Assets(0))
		}
	})
	if projects == 0 {
		must(shard.Command{Kind: shard.CmdCreateProject, Name: "crash"})
	}
	if assets == 0 {
		must(shard.Command{Kind: shard.CmdCreateAsset, Project: 0, Name: "a", Code: "A", Fractions: 100})
	}
	var wallets []shard.WalletID
	for i := 0; i < crashWallets; i++ {
		c := fmt.Sprintf("c%d", i)
		must(shard.Command{Kind: shard.CmdUpsertCustomer, Project: 0, Customer: c})
		var ws []shard.WalletView
		pl, _ := n.Placement(0)
		n.ReadShard(pl.CustomerShard(0, c), func(s *shard.Shard) { ws, _ = s.CustomerWallets(0, c) })
		if len(ws) == 0 {
			ws = append(ws, must(shard.Command{Kind: shard.CmdCreateWallet, Project: 0, Customer: c, Asset: 0}).Value.(shard.WalletView))
		}
		wallets = append(wallets, ws[0].ID)
		must(shard.Command{Kind: shard.CmdTransaction, Project: 0, ReferenceID: fmt.Sprintf("fund-%d", i),
			Ops: []shard.Op{{Type: shard.OpIssue, Destination: ws[0].ID, Amount: 1000}}})
	}
	var out sync.Mutex
	say := func(line string) {
		out.Lock()
		os.Stdout.WriteString(line + "\n")
		out.Unlock()
	}
	seed := uint64(time.Now().UnixNano())
	say(fmt.Sprintf("SEED %d", seed))
	say("READY")
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), seed))
			for k := 0; ; k++ {
				a, b := wallets[r.IntN(len(wallets))], wallets[r.IntN(len(wallets))]
				ops := []shard.Op{{Type: shard.OpTransfer, Source: a, Destination: b, Amount: 1 + r.Int64N(400)}}
				switch r.IntN(10) {
				case 0:
					ops = append(ops, shard.Op{Type: shard.OpIssue, Destination: b, Amount: 1 + r.Int64N(50)})
				case 1:
					ops = append(ops, shard.Op{Type: shard.OpRedeem, Source: b, Amount: 1 + r.Int64N(50)})
				}
				ref := fmt.Sprintf("r%s-%d-%d", round, w, k)
				c := shard.Command{Kind: shard.CmdTransaction, Project: 0, ReferenceID: ref, Ops: ops}
				res, err := n.Propose(ctx, &c)
				if err == nil {
					say(fmt.Sprintf("ACK %s %s", ref, res.Code))
				}
			}
		}()
	}
	wg.Wait()
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestCrashKeepsEveryAcknowledgedTransaction kills a node with SIGKILL at
// random moments while it commits transactions, restarts it each time, and
// then checks that every acknowledged transaction is there with the
// acknowledged outcome and that the ledger is sound.
func TestCrashKeepsEveryAcknowledgedTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts child processes")
	}
	dir, addr := t.TempDir(), freePort(t)
	acked := map[string]string{}
	const rounds = 6
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CW_CRASH_CHILD="+dir, "CW_CRASH_ADDR="+addr, fmt.Sprintf("CW_CRASH_ROUND=%d", round))
		cmd.Stderr = os.Stderr
		// Our own pipe, not StdoutPipe: Wait closes that one, and an ACK
		// line still in it would be lost. This one ends at the child's death.
		stdout, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		ready := make(chan struct{})
		lines := make(chan []string, 1)
		go func() {
			var got []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == "READY" {
					close(ready)
					continue
				}
				got = append(got, sc.Text())
			}
			stdout.Close()
			lines <- got
		}()
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: child not ready", round)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited: // a panic, or a race report under -race
			t.Fatalf("round %d: the child exited before it was killed: %v", round, err)
		case <-time.After(time.Duration(150+r.IntN(600)) * time.Millisecond):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		err = <-exited
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the child did not die of the SIGKILL but of %v", round, err)
		}
		got := <-lines
		for _, l := range got {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "ACK" {
				acked[f[1]] = f[2]
			}
			if len(f) == 2 && f[0] == "SEED" {
				t.Logf("round %d: the child's load seed %s", round, f[1])
			}
		}
		t.Logf("round %d: %d acknowledged so far", round, len(acked))
	}
	if len(acked) < rounds {
		t.Fatalf("only %d transactions acknowledged in %d rounds: the test proved nothing", len(acked), rounds)
	}

	cfg := testConfig(dir)
	cfg.PeerAddr = addr
	n := openReady(t, cfg)
	defer n.Close()
	pl, _ := n.Placement(0)
	n.ReadAll(func(m *shard.Machine) {
		if err := m.CheckInvariants(); err != nil {
			t.Errorf("after crashes: %v", err)
		}
		for ref, code := range acked {
			s := m.Shards[pl.ReferenceShard(0, ref)]
			tx, ok := s.TxByReference(0, ref)
			if !ok {
				t.Errorf("acknowledged transaction %s is lost", ref)
				continue
			}
			got := shard.OK
			if tx.Status == shard.TxFailed {
				got = tx.ErrCode
			}
			if got.String() != code {
				t.Errorf("transaction %s: acknowledged %s, stored %s", ref, code, got)
			}
		}
	})
}
