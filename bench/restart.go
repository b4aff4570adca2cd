package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
)

// RestartResult is how long a node with a big state takes to come back.
type RestartResult struct {
	Wallets        int     `json:"wallets"`
	Entries        int     `json:"entries"`
	SnapshotBytes  int64   `json:"snapshotBytes"`
	LogTailEntries uint64  `json:"logTailEntries"` // log entries after the snapshot, replayed on start
	BuildSeconds   float64 `json:"buildSeconds"`
	RestartSeconds float64 `json:"restartSeconds"` // Open until ready: snapshot restored, tail replayed, leader elected
	ElectionFloor  float64 `json:"electionFloorSeconds"`
}

// MeasureRestart builds a durable node on dir with the given numbers of
// wallets and entries (through Raft and the log store, as the server
// does), snapshots it, writes a tail of transfers after the snapshot,
// stops it, and times its restart.
func MeasureRestart(dir string, wallets, entries int, progress io.Writer) (RestartResult, error) {
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", args...)
		}
	}
	cfg := engine.DefaultConfig()
	cfg.DataDir, cfg.PeerAddr, cfg.Shards = dir, "127.0.0.1:0", 2
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.SnapshotThreshold = 1 << 62 // only the snapshot taken below
	cfg.SnapshotInterval = 24 * time.Hour
	res := RestartResult{Wallets: wallets, ElectionFloor: cfg.HeartbeatTimeout.Seconds()}
	start := time.Now()
	n, err := openReady(cfg)
	if err != nil {
		return res, err
	}
	ctx := context.Background()
	must := func(c *shard.Command) (shard.Result, error) {
		r, err := n.Propose(ctx, c)
		if err == nil && r.Code != shard.OK {
			err = fmt.Errorf("%v: %v", c.Kind, r.Code)
		}
		return r, err
	}
	r, err := must(&shard.Command{Kind: shard.CmdCreateProject, Name: "restart"})
	if err != nil {
		n.Close()
		return res, err
	}
	p := r.Value.(shard.ProjectView).ID
	if r, err = must(&shard.Command{Kind: shard.CmdCreateAsset, Project: p, Name: "A", Code: "A", Fractions: 100}); err != nil {
		n.Close()
		return res, err
	}
	a := r.Value.(shard.Asset).ID
	ids := make([]shard.WalletID, wallets)
	err = parallel(256, wallets, func(i int) error {
		cust := "c" + strconv.Itoa(i)
		if _, err := must(&shard.Command{Kind: shard.CmdUpsertCustomer, Project: p, Customer: cust}); err != nil {
			return err
		}
		r, err := must(&shard.Command{Kind: shard.CmdCreateWallet, Project: p, Customer: cust, Asset: a})
		if err == nil {
			ids[i] = r.Value.(shard.WalletView).ID
		}
		return err
	}, func(done int) { say("restart: %d/%d wallets", done, wallets) })
	if err == nil {
		err = parallel(16, (wallets+999)/1000, func(k int) error {
			ops := make([]shard.Op, 0, 1000)
			for _, w := range ids[k*1000 : min(k*1000+1000, wallets)] {
				ops = append(ops, shard.Op{Type: shard.OpIssue, Destination: w, Amount: 1 << 40})
			}
			_, err := must(&shard.Command{Kind: shard.CmdTransaction, Project: p, ReferenceID: "fund" + strconv.Itoa(k), Ops: ops})
			return err
		}, nil)
	}
	transfers := func(from, count int) error {
		return parallel(256, count, func(i int) error {
			k := from + i
			src, dst := ids[(k*7919)%wallets], ids[(k*104729+1)%wallets]
			if src == dst {
				dst = ids[(k*104729+2)%wallets]
			}
			_, err := must(&shard.Command{Kind: shard.CmdTransaction, Project: p, ReferenceID: "t" + strconv.Itoa(k),
				Ops: []shard.Op{{Type: shard.OpTransfer, Source: src, Destination: dst, Amount: 1}}})
			return err
		}, func(done int) { say("restart: %d/%d entries", wallets+2*done, entries) })
	}
	total := max((entries-wallets)/2, 0) // funding made one entry per wallet
	tail := min(total/20, 200_000)
	if err == nil {
		err = transfers(0, total-tail)
	}
	if err == nil {
		say("restart: snapshot")
		err = n.Snapshot()
	}
	var snapIndex uint64
	if err == nil {
		snapIndex = n.GroupRaft(0).AppliedIndex()
		err = transfers(total-tail, tail)
	}
	last := n.GroupRaft(0).LastIndex()
	n.Close()
	if err != nil {
		return res, err
	}
	res.Entries = wallets + 2*total
	res.LogTailEntries = last - snapIndex
	res.BuildSeconds = time.Since(start).Seconds()
	res.SnapshotBytes = dirBytes(filepath.Join(dir, "group-0", "snapshots"))

	say("restart: restarting")
	t0 := time.Now()
	n, err = openReady(cfg)
	if err != nil {
		return res, err
	}
	res.RestartSeconds = time.Since(t0).Seconds()
	var counts shard.Counts
	n.ReadAll(func(m *shard.Machine) {
		c := m.Counts()
		counts.Customers, counts.Wallets, counts.Transactions = counts.Customers+c.Customers, counts.Wallets+c.Wallets, counts.Transactions+c.Transactions
		counts.Projects = max(counts.Projects, c.Projects)
	})
	n.Close()
	if counts.Wallets != wallets || counts.Transactions != (wallets+999)/1000+total {
		return res, fmt.Errorf("bench: after restart %d wallets and %d transactions, want %d and %d",
			counts.Wallets, counts.Transactions, wallets, (wallets+999)/1000+total)
	}
	return res, nil
}

func openReady(cfg engine.Config) (*engine.Node, error) {
	n, err := engine.Open(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func dirBytes(dir string) int64 {
	var total int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return nil
	})
	return total
}
