package shard

import (
	"fmt"
	"testing"
)

// BenchmarkApplyTransfer measures one Transfer on a machine of 10,000
// wallets, the unit of work of the whole system.
func BenchmarkApplyTransfer(b *testing.B) {
	for _, shards := range []int{1, 4} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			h := newHarness(b, shards)
			p := h.project()
			a := h.asset(p, "X")
			const n = 10_000
			ws := make([]WalletID, n)
			for i := range ws {
				c := fmt.Sprintf("c%d", i)
				h.customer(p, c)
				ws[i] = h.wallet(p, c, a)
				h.must(Command{Kind: CmdTransaction, Project: p, ReferenceID: "f" + c, Ops: []Op{issue(ws[i], 1<<40)}})
			}
			refs := make([]string, b.N)
			for i := range refs {
				refs[i] = fmt.Sprintf("t%d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := Command{Kind: CmdTransaction, Project: p, ReferenceID: refs[i],
					Ops: []Op{transfer(ws[i%n], ws[(i*7+1)%n], 1)}}
				h.seq++
				if r := h.m.Apply(Context{Seq: h.seq, TimeMs: h.time}, placed(&c, h.m.ClusterShards())); r.Code != OK {
					b.Fatal(r.Code)
				}
			}
		})
	}
}
