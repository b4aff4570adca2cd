package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cloudwallet/cloudwallet/shard"
)

// BenchmarkGroupApply measures the partition workers and coordinator alone:
// batches of 512 transfers between random wallets (most span two or three
// shards), no Raft, no disk.
func BenchmarkGroupApply(b *testing.B) {
	for _, shards := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			m := shard.NewMachine(shards)
			seq := uint64(0)
			apply := func(c shard.Command) shard.Result {
				seq++
				return m.Apply(shard.Context{Seq: seq}, &c)
			}
			apply(shard.Command{Kind: shard.CmdCreateProject})
			apply(shard.Command{Kind: shard.CmdCreateAsset, Code: "A", Fractions: 1})
			var ws []shard.WalletID
			for i := 0; i < 10_000; i++ {
				c := fmt.Sprintf("c%d", i)
				apply(shard.Command{Kind: shard.CmdUpsertCustomer, Customer: c})
				w := apply(shard.Command{Kind: shard.CmdCreateWallet, Customer: c}).Value.(shard.WalletView).ID
				apply(shard.Command{Kind: shard.CmdTransaction, ReferenceID: "f" + c, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: 1 << 40}}})
				ws = append(ws, w)
			}
			g := newGroup(m)
			defer g.close()
			const batch = 512
			ctxs := make([]shard.Context, batch)
			cmds := make([]shard.Command, batch)
			ptrs := make([]*shard.Command, batch)
			res := make([]shard.Result, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				n := min(batch, b.N-done)
				for j := 0; j < n; j++ {
					i := done + j
					seq++
					ctxs[j] = shard.Context{Seq: seq}
					cmds[j] = shard.Command{Kind: shard.CmdTransaction, ReferenceID: fmt.Sprintf("t%d", i),
						Ops: []shard.Op{{Type: shard.OpTransfer, Source: ws[i%len(ws)], Destination: ws[(i*7919+3)%len(ws)], Amount: 1}}}
					ptrs[j] = &cmds[j]
				}
				g.apply(ctxs[:n], ptrs[:n], res[:n])
			}
		})
	}
}

// BenchmarkNodeTransfers measures durable throughput through the whole
// engine: proposer, Raft, the log store with fsync, FSM, workers. Run with
// -cpu and watch ns/op as the time per acknowledged transfer.
func BenchmarkNodeTransfers(b *testing.B) {
	for _, store := range []string{"wal", "bolt"} {
		b.Run("store="+store, func(b *testing.B) {
			cfg := testConfig(b.TempDir())
			cfg.LogStore = store
			cfg.Shards = 2
			n := openReady(b, cfg)
			defer n.Close()
			l := setupLedger(b, n, 200)
			for i, w := range l.wallets {
				propose(b, n, shard.Command{Kind: shard.CmdTransaction, Project: l.project, ReferenceID: fmt.Sprintf("f%d", i),
					Ops: []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: 1 << 40}}})
			}
			var next atomic.Int64
			b.SetParallelism(128) // many clients in flight, as an HTTP server has
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					c := shard.Command{Kind: shard.CmdTransaction, Project: l.project, ReferenceID: fmt.Sprintf("t%d", i),
						Ops: []shard.Op{{Type: shard.OpTransfer, Source: l.wallets[i%200], Destination: l.wallets[(i*7+1)%200], Amount: 1}}}
					if r, err := n.Propose(context.Background(), &c); err != nil || r.Code != shard.OK {
						b.Errorf("transfer: %v %s", err, r.Code)
						return
					}
				}
			})
		})
	}
}
