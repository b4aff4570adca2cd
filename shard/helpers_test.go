package shard

import "sync/atomic"

// tb is what the helpers need of *testing.T, *testing.F and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// harness applies commands with increasing log positions, as the FSM does.
type harness struct {
	t    tb
	m    *Machine
	seq  uint64
	time int64
}

func newHarness(t tb, shards int) *harness {
	return &harness{t: t, m: NewMachine(shards), time: 1_700_000_000_000}
}

func (h *harness) apply(c Command) Result {
	h.seq++
	h.time++
	return h.m.Apply(Context{Seq: h.seq, TimeMs: h.time}, placed(&c, h.m.ClusterShards()))
}

// must applies a command that has to succeed.
func (h *harness) must(c Command) Result {
	h.t.Helper()
	r := h.apply(c)
	if r.Code != OK {
		h.t.Fatalf("%s: got %s, want OK", c.Kind, r.Code)
	}
	return r
}

func (h *harness) project() ProjectID {
	return h.must(Command{Kind: CmdCreateProject, Name: "p"}).Value.(ProjectView).ID
}

func (h *harness) asset(p ProjectID, code string) AssetID {
	return h.must(Command{Kind: CmdCreateAsset, Project: p, Name: code, Code: code, Fractions: 100}).Value.(Asset).ID
}

func (h *harness) customer(p ProjectID, id string) {
	h.must(Command{Kind: CmdUpsertCustomer, Project: p, Customer: id})
}

func (h *harness) wallet(p ProjectID, customer string, a AssetID) WalletID {
	return h.must(Command{Kind: CmdCreateWallet, Project: p, Customer: customer, Asset: a}).Value.(WalletView).ID
}

func (h *harness) systemWallet(p ProjectID, a AssetID) WalletID {
	return h.must(Command{Kind: CmdCreateSystemWallet, Project: p, Asset: a, Shard: uint16(h.seq % uint64(len(h.m.Shards)))}).Value.(WalletView).ID
}

func (h *harness) tx(p ProjectID, ref string, ops ...Op) Result {
	return h.apply(Command{Kind: CmdTransaction, Project: p, ReferenceID: ref, Ops: ops})
}

func (h *harness) balance(p ProjectID, w WalletID) int64 {
	h.t.Helper()
	v, ok := h.m.Shards[w.Shard].Wallet(p, w.Index)
	if !ok {
		h.t.Fatalf("wallet %s not found", w)
	}
	return v.Balance
}

func issue(to WalletID, amount int64) Op { return Op{Type: OpIssue, Destination: to, Amount: amount} }
func redeem(from WalletID, amount int64) Op {
	return Op{Type: OpRedeem, Source: from, Amount: amount}
}
func transfer(from, to WalletID, amount int64) Op {
	return Op{Type: OpTransfer, Source: from, Destination: to, Amount: amount}
}

// spread is the placement of a project over all of a cluster's total
// shards: what every project of these tests uses.
func spread(total int) Placement { return Placement{Groups: []uint16{0}, PerGroup: total} }

func customerShard(p ProjectID, id string, total int) uint16 {
	return spread(total).CustomerShard(p, id)
}

func referenceShard(p ProjectID, ref string, total int) uint16 {
	return spread(total).ReferenceShard(p, ref)
}

// placed sets a command's home shard as the engine does, for a project
// spread over all total shards.
// testAttempt is a fresh attempt; Apply never draws one, the engine's
// coordinator does.
func testAttempt() Attempt { return Attempt{Hi: 0xa77e, Lo: attempts.Add(1)} }

var attempts atomic.Uint64 // testAttempt's counter

func placed(c *Command, total int) *Command {
	spread(total).Home(c)
	return c
}
