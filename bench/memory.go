package bench

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/cloudwallet/cloudwallet/shard"
)

// MemoryResult is the heap the state machine holds per record.
type MemoryResult struct {
	Wallets              int     `json:"wallets"`
	BytesPerWallet       float64 `json:"bytesPerWallet"`       // a customer and its wallet
	BytesPerSystemWallet float64 `json:"bytesPerSystemWallet"` // a wallet alone
	Entries              int     `json:"entries"`
	BytesPerEntry        float64 `json:"bytesPerEntry"` // transfers: 2 entries + 1 transaction record
}

// heapBytes is the live heap after a full collection.
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// MeasureMemory builds a state machine in this process — wallets customer
// wallets, then transfers until it holds entries entries — and reports the
// live heap per record. It measures the state the server keeps, without
// Raft or HTTP around it.
func MeasureMemory(wallets, entries, shards int, progress io.Writer) (MemoryResult, error) {
	if wallets < 2 || entries < 2*wallets {
		return MemoryResult{}, fmt.Errorf("bench: need at least 2 wallets and 2 entries per wallet")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", args...)
		}
	}
	m := shard.NewMachine(shards)
	seq := uint64(0)
	spread := shard.Placement{Groups: []uint16{0}, PerGroup: shards}
	apply := func(c *shard.Command) shard.Result {
		seq++
		spread.Home(c)
		r := m.Apply(shard.Context{Seq: seq << 16, TimeMs: 1_700_000_000_000 + int64(seq/1000)}, c)
		if r.Code != shard.OK {
			panic(fmt.Sprintf("bench: %v: %v", c.Kind, r.Code))
		}
		return r
	}
	p := apply(&shard.Command{Kind: shard.CmdCreateProject, Name: "memory"}).Value.(shard.ProjectView).ID
	a := apply(&shard.Command{Kind: shard.CmdCreateAsset, Project: p, Name: "A", Code: "A", Fractions: 100}).Value.(shard.Asset).ID

	before := heapBytes()
	ids := make([]shard.WalletID, wallets)
	for i := range wallets {
		cust := "customer-" + strconv.Itoa(i)
		apply(&shard.Command{Kind: shard.CmdUpsertCustomer, Project: p, Customer: cust})
		ids[i] = apply(&shard.Command{Kind: shard.CmdCreateWallet, Project: p, Customer: cust, Asset: a}).Value.(shard.WalletView).ID
		if (i+1)%200_000 == 0 {
			say("memory: %d/%d wallets", i+1, wallets)
		}
	}
	idsBytes := uint64(cap(ids)) * 8 // the ids slice is the harness's, not the state's
	res := MemoryResult{Wallets: wallets, Entries: entries}
	res.BytesPerWallet = float64(heapBytes()-before-idsBytes) / float64(wallets)

	// System wallets alone, as many, on a machine of their own (adding them
	// to the first would measure the slack left in its slices instead).
	sysMachine := shard.NewMachine(shards)
	sysApply := func(c *shard.Command) shard.Result {
		seq++
		spread.Home(c)
		return sysMachine.Apply(shard.Context{Seq: seq << 16, TimeMs: 1_700_000_000_000}, c)
	}
	sp := sysApply(&shard.Command{Kind: shard.CmdCreateProject, Name: "system"}).Value.(shard.ProjectView).ID
	sa := sysApply(&shard.Command{Kind: shard.CmdCreateAsset, Project: sp, Name: "A", Code: "A", Fractions: 100}).Value.(shard.Asset).ID
	before = heapBytes()
	for i := range wallets {
		sysApply(&shard.Command{Kind: shard.CmdCreateSystemWallet, Project: sp, Asset: sa, Shard: uint16(i % shards)})
	}
	res.BytesPerSystemWallet = float64(heapBytes()-before) / float64(wallets)
	runtime.KeepAlive(sysMachine)
	sysMachine = nil

	// Fund (one entry per wallet), then transfers (two entries each).
	before = heapBytes()
	made := 0
	for from := 0; from < wallets; from += shard.OperationsPerTxMax {
		ops := make([]shard.Op, 0, shard.OperationsPerTxMax)
		for _, w := range ids[from:min(from+shard.OperationsPerTxMax, wallets)] {
			ops = append(ops, shard.Op{Type: shard.OpIssue, Destination: w, Amount: 1 << 40})
		}
		apply(&shard.Command{Kind: shard.CmdTransaction, Project: p, ReferenceID: "fund" + strconv.Itoa(from), Ops: ops})
		made += len(ops)
	}
	for k := 0; made < entries; k++ {
		src, dst := ids[(k*7919)%wallets], ids[(k*104729+1)%wallets]
		if src == dst {
			dst = ids[(k*104729+2)%wallets]
		}
		apply(&shard.Command{Kind: shard.CmdTransaction, Project: p, ReferenceID: "t" + strconv.Itoa(k),
			Ops: []shard.Op{{Type: shard.OpTransfer, Source: src, Destination: dst, Amount: 1}}})
		made += 2
		if made%2_000_000 == 0 {
			say("memory: %d/%d entries", made, entries)
		}
	}
	res.Entries = made
	res.BytesPerEntry = float64(heapBytes()-before) / float64(made)
	runtime.KeepAlive(m)
	return res, nil
}
