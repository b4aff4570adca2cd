package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cloudwallet/cloudwallet/shard"
)

// workload builds a reproducible mix of commands over several shards: most
// are transactions spanning two or three shards, the rest touch customers,
// wallets and the meta partition.
func workload(seed uint64, shards, n int) []shard.Command {
	r := rand.New(rand.NewPCG(seed, 1))
	cmds := []shard.Command{
		{Kind: shard.CmdCreateProject, Name: "p"},
		{Kind: shard.CmdCreateAsset, Name: "a", Code: "A", Fractions: 100},
	}
	var custs []string
	for i := 0; i < 12; i++ {
		c := fmt.Sprintf("c%d", i)
		custs = append(custs, c)
		cmds = append(cmds, shard.Command{Kind: shard.CmdUpsertCustomer, Customer: c},
			shard.Command{Kind: shard.CmdCreateWallet, Customer: c})
	}
	wallet := func() shard.WalletID {
		return shard.WalletID{Shard: uint16(r.IntN(shards)), Index: uint32(r.IntN(4))}
	}
	for i := 0; i < n; i++ {
		var c shard.Command
		switch k := r.IntN(20); {
		case k == 0:
			c = shard.Command{Kind: shard.CmdSuspendCustomer, Customer: custs[r.IntN(len(custs))]}
		case k == 1:
			c = shard.Command{Kind: shard.CmdResumeCustomer, Customer: custs[r.IntN(len(custs))], Wallets: []shard.WalletID{wallet()}}
		case k == 2:
			c = shard.Command{Kind: shard.CmdCreateSystemWallet, Shard: uint16(r.IntN(shards))}
		case k == 3:
			c = shard.Command{Kind: shard.CmdCreateAsset, Name: "b", Code: fmt.Sprint(i), Fractions: 1}
		default:
			a, b, d := wallet(), wallet(), wallet()
			c = shard.Command{Kind: shard.CmdTransaction, ReferenceID: fmt.Sprintf("r%d", r.IntN(n)), Ops: []shard.Op{
				{Type: shard.OpIssue, Destination: a, Amount: 1 + r.Int64N(100)},
				{Type: shard.OpTransfer, Source: a, Destination: b, Amount: 1 + r.Int64N(150)},
				{Type: shard.OpTransfer, Source: b, Destination: d, Amount: 1 + r.Int64N(50)},
			}}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

func encode(t *testing.T, m *shard.Machine) []byte {
	var b bytes.Buffer
	if _, err := m.Freeze().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The parallel schedule must give exactly the results and state of a
// sequential run, whatever the batch boundaries.
func TestGroupMatchesSequentialRun(t *testing.T) {
	for _, shards := range []int{1, 2, 5} {
		for seed := uint64(1); seed <= 3; seed++ {
			cmds := workload(seed, shards, 3000)
			seq := shard.NewMachine(shards)
			want := make([]shard.Result, len(cmds))
			for i := range cmds {
				c := cmds[i]
				want[i] = seq.Apply(shard.Context{Seq: uint64(i + 1), TimeMs: int64(i / 10)}, &c)
			}

			g := newGroup(shard.NewMachine(shards))
			got := make([]shard.Result, len(cmds))
			r := rand.New(rand.NewPCG(seed, 2))
			for i := 0; i < len(cmds); {
				n := min(1+r.IntN(300), len(cmds)-i)
				ctxs := make([]shard.Context, n)
				ptrs := make([]*shard.Command, n)
				for j := range n {
					c := cmds[i+j]
					ctxs[j], ptrs[j] = shard.Context{Seq: uint64(i + j + 1), TimeMs: int64((i + j) / 10)}, &c
				}
				g.apply(ctxs, ptrs, got[i:i+n])
				i += n
			}
			for i := range want {
				if want[i].Code != got[i].Code || want[i].Created != got[i].Created {
					t.Fatalf("S=%d seed=%d command %d (%s): parallel %s, sequential %s", shards, seed, i, cmds[i].Kind, got[i].Code, want[i].Code)
				}
			}
			var frozen []byte
			g.readAll(func(m *shard.Machine) { frozen = encode(t, m) })
			if !bytes.Equal(frozen, encode(t, seq)) {
				t.Fatalf("S=%d seed=%d: parallel state differs from sequential", shards, seed)
			}
			g.close()
		}
	}
}

// Reads interleave with applies: they never block for good, never race
// (run with -race), and never see the state go back: the number of
// recorded transactions a reader sees only grows, and ends at the count a
// sequential run records.
func TestGroupReadsDuringApply(t *testing.T) {
	g := newGroup(shard.NewMachine(3))
	defer g.close()
	cmds := workload(9, 3, 2000)
	seq := shard.NewMachine(3)
	for i := range cmds {
		c := cmds[i]
		seq.Apply(shard.Context{Seq: uint64(i + 1)}, &c)
	}
	want := seq.Transactions(0, 0, 1<<62, 0, 1).Total
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := 0
		for i := 0; i < 200; i++ {
			g.read(1+i%3, func(m *shard.Machine) { m.Shards[i%3].Customer(0, "c1") })
			var n int
			g.readAll(func(m *shard.Machine) { n = m.Transactions(0, 0, 1<<62, 0, 5).Total })
			if n < seen {
				t.Errorf("a read saw %d transactions after one saw %d", n, seen)
			}
			seen = n
		}
	}()
	for i := 0; i < len(cmds); i += 100 {
		n := min(100, len(cmds)-i)
		ctxs := make([]shard.Context, n)
		ptrs := make([]*shard.Command, n)
		for j := range n {
			ctxs[j], ptrs[j] = shard.Context{Seq: uint64(i + j + 1)}, &cmds[i+j]
		}
		g.apply(ctxs, ptrs, make([]shard.Result, n))
	}
	<-done
	var got int
	g.readAll(func(m *shard.Machine) { got = m.Transactions(0, 0, 1<<62, 0, 1).Total })
	if got != want {
		t.Fatalf("after every apply a read sees %d transactions, a sequential run records %d", got, want)
	}
}

// The commands of transactions across groups touch only the partitions
// they name, so the workers may run them side by side (run with -race: an
// Issue's unused zero source once made a prepare read shard 0's maps while
// shard 0's worker wrote them).
func TestGroupAcrossGroupCommandsStayInTheirPartitions(t *testing.T) {
	m := shard.NewMachine(2)
	g := newGroup(m)
	defer g.close()
	setup := []shard.Command{
		{Kind: shard.CmdCreateProject, Name: "p"},
		{Kind: shard.CmdCreateAsset, Code: "A", Fractions: 1},
		{Kind: shard.CmdCreateSystemWallet, Shard: 0},
		{Kind: shard.CmdCreateSystemWallet, Shard: 1},
	}
	var ctxs []shard.Context
	var ptrs []*shard.Command
	for i := range setup {
		ctxs, ptrs = append(ctxs, shard.Context{Seq: uint64(i + 1)}), append(ptrs, &setup[i])
	}
	g.apply(ctxs, ptrs, make([]shard.Result, len(ptrs)))
	w0, w1 := shard.WalletID{Shard: 0}, shard.WalletID{Shard: 1}
	for round := range 200 {
		// shard 1: prepare and commit an issue; shard 0: its own prepares
		ref1, ref0 := fmt.Sprintf("one-%d", round), fmt.Sprintf("zero-%d", round)
		a1, a0 := newAttempt(), newAttempt()
		cmds := []shard.Command{
			{Kind: shard.CmdTxPrepare, ReferenceID: ref1, Attempt: a1, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w1, Amount: 1}}},
			{Kind: shard.CmdTxPrepare, ReferenceID: ref0, Attempt: a0, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w0, Amount: 1}}},
			{Kind: shard.CmdTxCommit, ReferenceID: ref1, Attempt: a1, Tx: shard.TxID{Index: uint32(2 * round)}, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w1, Amount: 1}}},
			{Kind: shard.CmdTxCommit, ReferenceID: ref0, Attempt: a0, Tx: shard.TxID{Index: uint32(2*round + 1)}, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w0, Amount: 1}}},
		}
		ctxs, ptrs = ctxs[:0], ptrs[:0]
		for i := range cmds {
			ctxs, ptrs = append(ctxs, shard.Context{Seq: uint64(100 + 4*round + i)}), append(ptrs, &cmds[i])
		}
		g.apply(ctxs, ptrs, make([]shard.Result, len(ptrs)))
	}
	g.readAll(func(m *shard.Machine) {
		for s := range 2 {
			if w, _ := m.Shards[s].Wallet(0, 0); w.Balance != 200 {
				t.Errorf("shard %d wallet: balance %d, want 200", s, w.Balance)
			}
		}
	})
}
