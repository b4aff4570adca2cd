package shard

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// groups is a cluster of G shard groups of S shards each, one machine per
// group, fed commands the way the engine routes them.
type groups struct {
	t        tb
	s, total int
	ms       []*Machine
	seq      uint64
}

func newGroups(t tb, g, s int) *groups {
	c := &groups{t: t, s: s, total: g * s}
	for i := range g {
		c.ms = append(c.ms, NewGroupMachine(Layout{Meta: i == 0, Base: uint16(i * s), Count: s, Groups: g}))
	}
	return c
}

func (c *groups) of(shard uint16) int { return int(shard) / c.s }

func (c *groups) apply(g int, at int64, cmd Command) Result {
	c.seq++
	cmd.Ops = slices.Clone(cmd.Ops)
	return c.ms[g].Apply(Context{Seq: c.seq << 16, TimeMs: at}, placed(&cmd, c.total))
}

// coordinator is one run of the protocol for one transaction, a step (one
// command in one group) at a time, so tests can interleave runs, repeat
// steps and stop half-way. Its steps are a queue: each may add the ones
// its answer calls for, as the engine's coordinator decides.
type coordinator struct {
	c        *groups
	p        ProjectID
	ref      string
	ops      []Op
	at       int64
	attempt  Attempt
	refGroup int
	parts    []int // the groups of its wallets
	votes    []*Prepared
	steps    []func()
	lastG    int
	lastCmd  *Command // the last command applied, for again
	tx       *Tx      // the record, once begun or found
	done     *Tx      // the record as the run leaves it (nil: never made)
	finished bool     // nothing left to do
}

func (c *groups) run(p ProjectID, ref string, at int64, ops []Op) *coordinator {
	k := &coordinator{c: c, p: p, ref: ref, ops: ops, at: at, attempt: testAttempt()}
	k.refGroup = c.of(referenceShard(p, ref, c.total))
	for _, op := range ops {
		for _, w := range [2]WalletID{op.Source, op.Destination} {
			if int(w.Shard) < c.total && !slices.Contains(k.parts, c.of(w.Shard)) {
				k.parts = append(k.parts, c.of(w.Shard))
			}
		}
	}
	return k
}

// coordinator is a new run: the prepares of the other groups and the
// begin, in that order (the engine sends them at once; prepares applied
// before the begin are the harder case).
func (c *groups) coordinator(p ProjectID, ref string, at int64, ops []Op) *coordinator {
	k := c.run(p, ref, at, ops)
	for _, g := range k.others() {
		k.push(func() { k.prepare(g, k.attempt, ops) })
	}
	k.push(func() {
		r := k.apply(k.refGroup, Command{Kind: CmdTxBegin, Project: k.p, ReferenceID: k.ref, Attempt: k.attempt, Ops: k.ops})
		b, ok := r.Value.(*Began)
		switch {
		case !ok: // fenced off: the run never makes a record
			k.finishAll(CmdTxAbort, k.attempt, k.ops, nil)
		case b.Attempt == k.attempt && !r.Created: // this run's own begin, applied twice
			k.tx = b.Tx
			k.push(func() { k.takeOn(b.Tx, b.Attempt) })
		case r.Created:
			k.tx = b.Tx
			if slices.Contains(k.parts, k.refGroup) {
				if b.Vote.Blocked != nil {
					k.push(func() { k.prepare(k.refGroup, k.attempt, k.ops) })
				} else {
					k.votes = append(k.votes, b.Vote)
				}
			}
			k.push(k.decide)
		case b.Tx.Status != TxWaiting: // a duplicate: drop this run's parts, answer the record
			k.finishAll(CmdTxAbort, k.attempt, k.ops, b.Tx)
		default: // a duplicate still Waiting: drop this run's parts, take the record on
			k.finishAll(CmdTxAbort, k.attempt, k.ops, nil)
			k.push(func() { k.takeOn(b.Tx, b.Attempt) })
		}
	})
	return k
}

// recordResolver takes on a run from its record, as a resolver or a retry does.
func (c *groups) recordResolver(p ProjectID, ref string, at int64) *coordinator {
	k := c.run(p, ref, at, nil)
	k.push(func() {
		rs := c.ms[k.refGroup].shard(referenceShard(p, ref, c.total))
		tx, _ := rs.TxByReference(p, ref)
		k.takeOn(tx, rs.AttemptOf(tx.ID.Index))
	})
	return k
}

// partResolver takes on a prepared part of an attempt: it fences the
// attempt in the referenceId's group, and the answer says what to do.
func (c *groups) partResolver(p ProjectID, ref string, at int64, a Attempt, ops []Op) *coordinator {
	k := c.run(p, ref, at, ops)
	k.attempt = a
	k.push(func() {
		r := k.apply(k.refGroup, Command{Kind: CmdTxFence, Project: p, ReferenceID: ref, Attempt: a})
		if b, ok := r.Value.(*Began); ok && b.Attempt == a {
			k.takeOn(b.Tx, a)
			return
		}
		k.finishAll(CmdTxAbort, a, ops, nil)
	})
	return k
}

func (k *coordinator) push(step func()) { k.steps = append(k.steps, step) }

// apply applies one step's command in group g.
func (k *coordinator) apply(g int, cmd Command) Result {
	k.lastG, k.lastCmd = g, &cmd
	return k.c.apply(g, k.at, cmd)
}

func (k *coordinator) others() []int {
	return slices.DeleteFunc(slices.Clone(k.parts), func(g int) bool { return g == k.refGroup })
}

// prepare is group g's vote; one Blocked on holds settles them and
// votes again, as the engine does.
func (k *coordinator) prepare(g int, a Attempt, ops []Op) {
	cmd := Command{Kind: CmdTxPrepare, Project: k.p, ReferenceID: k.ref, Attempt: a, Ops: ops}
	vote := k.apply(g, cmd).Value.(*Prepared)
	if vote.Blocked != nil {
		k.c.settle(k.p, vote.Blocked)
		cmd.HoldsSettled = true
		vote = k.apply(g, cmd).Value.(*Prepared)
	}
	k.votes = append(k.votes, vote)
}

// settle finishes the decided transactions whose parts hold the wallets,
// as the engine does for a Blocked command: a part whose record is its
// attempt's and decided is finished in every group but the referenceId's
// (its decision did that); one whose referenceId has another attempt's
// record aborts; the others (no record yet, or Waiting) stay.
func (c *groups) settle(p ProjectID, wallets []WalletID) {
	for _, w := range wallets {
		s := c.ms[c.of(w.Shard)].shard(w.Shard)
		for _, part := range s.HeldParts(p, []uint32{w.Index}) {
			rg := c.of(referenceShard(p, part.Ref, c.total))
			rs := c.ms[rg].shard(referenceShard(p, part.Ref, c.total))
			tx, ok := rs.TxByReference(p, part.Ref)
			if !ok || rs.AttemptOf(tx.ID.Index) == part.Attempt && tx.Status == TxWaiting {
				continue
			}
			cmd := Command{Kind: CmdTxAbort, Project: p, ReferenceID: part.Ref, Attempt: part.Attempt, Ops: part.Ops}
			if rs.AttemptOf(tx.ID.Index) == part.Attempt && tx.Status == TxCompleted {
				cmd.Kind, cmd.Tx, cmd.At = CmdTxCommit, tx.ID, tx.CreatedAt
			}
			for _, g := range c.run(p, part.Ref, 0, part.Ops).parts {
				if g != rg || cmd.Kind == CmdTxAbort && rs.AttemptOf(tx.ID.Index) != part.Attempt {
					c.apply(g, 0, cmd)
				}
			}
		}
	}
}

// takeOn runs the protocol from a record: prepares everywhere (again),
// the decision, the finishes; a decided record only needs the finishes.
func (k *coordinator) takeOn(tx *Tx, a Attempt) {
	k.tx, k.attempt, k.ops, k.votes = tx, a, tx.Ops, nil
	parts := k.c.run(k.p, k.ref, k.at, tx.Ops).parts
	k.parts = parts
	if tx.Status != TxWaiting {
		k.finishAll(finishKind(tx), a, tx.Ops, tx)
		return
	}
	for _, g := range parts {
		k.push(func() { k.prepare(g, a, tx.Ops) })
	}
	k.push(k.decide)
}

// decide proposes the outcome of the votes; the first decision wins, and
// the other groups' parts are finished as it says.
func (k *coordinator) decide() {
	st, code, i := Outcome(k.tx.Ops, k.c.total, k.votes)
	r := k.apply(k.refGroup, Command{Kind: CmdTxDecide, Project: k.p, ReferenceID: k.ref, Attempt: k.attempt,
		TxStatus: st, ErrCode: code, ErrOpIndex: i, Ops: k.tx.Ops})
	k.tx = r.Value.(*Tx)
	k.finishAll(finishKind(k.tx), k.attempt, k.tx.Ops, k.tx)
}

// finishAll commits or aborts the attempt's part in every group but the
// referenceId's (its decision did that), then ends the run with done.
func (k *coordinator) finishAll(kind Kind, a Attempt, ops []Op, done *Tx) {
	parts := k.c.run(k.p, k.ref, k.at, ops)
	parts.refGroup = k.refGroup
	for _, g := range parts.others() {
		k.push(func() {
			cmd := Command{Kind: kind, Project: k.p, ReferenceID: k.ref, Attempt: a, Ops: ops}
			if kind == CmdTxCommit {
				cmd.Tx, cmd.At = done.ID, done.CreatedAt
			}
			k.apply(g, cmd)
		})
	}
	k.push(func() { k.done, k.finished = done, true })
}

func finishKind(tx *Tx) Kind {
	if tx.Status == TxCompleted {
		return CmdTxCommit
	}
	return CmdTxAbort
}

// next runs the run's next step; it reports false once finished.
func (k *coordinator) next() bool {
	if k.finished || len(k.steps) == 0 {
		return false
	}
	step := k.steps[0]
	k.steps = k.steps[1:]
	step()
	return !k.finished
}

// again applies the last command once more, its answer unread (a
// proposal applied twice).
func (k *coordinator) again() {
	if k.lastCmd != nil {
		k.c.apply(k.lastG, k.at, *k.lastCmd)
	}
}

func (k *coordinator) run() *Tx {
	for k.next() {
	}
	return k.done
}

// answer runs the run until it has its answer: its record decided (the
// other groups' finishes left queued, as the engine leaves them to after
// the answer), or the run finished.
func (k *coordinator) answer() *Tx {
	for !k.finished && (k.tx == nil || k.tx.Status == TxWaiting) {
		k.next()
	}
	if k.finished {
		return k.done
	}
	return k.tx
}

// A cluster of groups running transactions across them reaches exactly the
// state and the answers of one group running them as single commands: same
// outcomes, failing operations and codes, balances and entries (in the same
// order). Each answer comes at the decision; the other groups' finishes
// run later, at random, or when a later transaction meets their holds.
func TestAcrossGroupsMatchesOneGroup(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g, s := rapid.IntRange(2, 3).Draw(t, "groups"), rapid.IntRange(1, 2).Draw(t, "shards")
		c, one := newGroups(t, g, s), NewMachine(g*s)
		var at int64 = 1000
		all := func(cmd Command) Result { // meta: group 0 holds it here
			at++
			c.apply(0, at, cmd)
			return one.Apply(Context{Seq: c.seq << 16, TimeMs: at}, placed(&cmd, c.total))
		}
		routed := func(shard uint16, cmd Command) Result {
			at++
			c.apply(c.of(shard), at, cmd)
			return one.Apply(Context{Seq: c.seq << 16, TimeMs: at}, placed(&cmd, c.total))
		}
		p := all(Command{Kind: CmdCreateProject, Name: "p"}).Value.(ProjectView).ID
		assets := []AssetID{
			all(Command{Kind: CmdCreateAsset, Project: p, Code: "A", Fractions: 1}).Value.(Asset).ID,
			all(Command{Kind: CmdCreateAsset, Project: p, Code: "B", Fractions: 1}).Value.(Asset).ID,
		}
		var wallets []WalletID
		for i := range rapid.IntRange(2, 6).Draw(t, "customers") {
			id := fmt.Sprintf("c%d", i)
			home := customerShard(p, id, g*s)
			routed(home, Command{Kind: CmdUpsertCustomer, Project: p, Customer: id})
			a := assets[rapid.IntRange(0, 1).Draw(t, "asset")]
			r := routed(home, Command{Kind: CmdCreateWallet, Project: p, Customer: id, Asset: a})
			wallets = append(wallets, r.Value.(WalletView).ID)
		}
		ghost := WalletID{Shard: uint16(g * s), Index: 0} // on no group's shard
		missing := WalletID{Shard: 0, Index: 99}
		pick := rapid.Custom(func(t *rapid.T) WalletID {
			if rapid.IntRange(0, 9).Draw(t, "odd") == 0 {
				return rapid.SampledFrom([]WalletID{ghost, missing}).Draw(t, "bad")
			}
			return rapid.SampledFrom(wallets).Draw(t, "w")
		})
		if rapid.Bool().Draw(t, "close one") {
			w := wallets[0]
			routed(w.Shard, Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w, Status: WalletSuspended})
		}
		var pending []*coordinator // answered, with finishes left
		for n := range rapid.IntRange(1, 25).Draw(t, "transactions") {
			var ops []Op
			for range rapid.IntRange(1, 4).Draw(t, "ops") {
				op := Op{Type: rapid.SampledFrom([]OpType{OpIssue, OpIssue, OpTransfer, OpTransfer, OpRedeem}).Draw(t, "type"),
					Amount: rapid.Int64Range(1, 50).Draw(t, "amount")}
				if rapid.IntRange(0, 30).Draw(t, "huge") == 0 {
					op.Amount = AmountMax
				}
				if op.Type != OpIssue {
					op.Source = pick.Draw(t, "src")
				}
				if op.Type != OpRedeem {
					op.Destination = pick.Draw(t, "dst")
				}
				ops = append(ops, op)
			}
			ref := fmt.Sprintf("r%d", rapid.IntRange(0, n).Draw(t, "ref")) // repeats: duplicates
			at++
			want := one.Apply(Context{Seq: c.seq << 16, TimeMs: at}, placed(&Command{Kind: CmdTransaction, Project: p, ReferenceID: ref, Ops: slices.Clone(ops)}, c.total))
			k := c.coordinator(p, ref, at, ops)
			got := k.answer()
			pending = append(pending, k)
			if rapid.Bool().Draw(t, "finish the answered ones now") {
				for _, k := range pending {
					k.run()
				}
				pending = nil
			}
			wantTx := want.Value.(*Tx)
			if got.ID != wantTx.ID || got.Status != wantTx.Status || got.ErrCode != wantTx.ErrCode || got.ErrOpIndex != wantTx.ErrOpIndex || got.CreatedAt != wantTx.CreatedAt {
				t.Fatalf("%s %v: across groups %s %s@%d (%s), one group %s %s@%d (%s)", ref, ops,
					got.Status, got.ErrCode, got.ErrOpIndex, got.ID, wantTx.Status, wantTx.ErrCode, wantTx.ErrOpIndex, wantTx.ID)
			}
			if err := CheckGroups(c.ms); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range pending {
			k.run()
		}
		for _, w := range wallets {
			gw, _ := c.ms[c.of(w.Shard)].shard(w.Shard).Wallet(p, w.Index)
			ow, _ := one.shard(w.Shard).Wallet(p, w.Index)
			if d := cmp.Diff(ow.Balance, gw.Balance); d != "" {
				t.Fatalf("wallet %s balance (-one +groups):\n%s", w, d)
			}
			ge := c.ms[c.of(w.Shard)].shard(w.Shard).wallets[w.Index].Entries
			oe := one.shard(w.Shard).wallets[w.Index].Entries
			if d := cmp.Diff(oe, ge); d != "" {
				t.Fatalf("wallet %s entries (-one +groups):\n%s", w, d)
			}
		}
	})
}

// Runs of the protocol interleaved step by step, some steps repeated (a
// retried proposal), resolvers starting again from the record while the
// coordinator is stopped half-way or still going, and snapshots taken and
// restored in between: the invariants hold after every step, no balance
// goes negative, and at the end every record is decided, nothing is held,
// and every Completed transaction posted all its entries.
func TestAcrossGroupsInterleaved(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := newGroups(t, 2, 2)
		var at int64 = 1000
		meta := func(cmd Command) Result { return c.apply(0, at, cmd) }
		p := meta(Command{Kind: CmdCreateProject, Name: "p"}).Value.(ProjectView).ID
		a := meta(Command{Kind: CmdCreateAsset, Project: p, Code: "A", Fractions: 1}).Value.(Asset).ID
		var wallets []WalletID
		for i := range 4 {
			id := fmt.Sprintf("c%d", i)
			g := c.of(customerShard(p, id, c.total))
			c.apply(g, at, Command{Kind: CmdUpsertCustomer, Project: p, Customer: id})
			wallets = append(wallets, c.apply(g, at, Command{Kind: CmdCreateWallet, Project: p, Customer: id, Asset: a}).Value.(WalletView).ID)
		}
		var runs []*coordinator
		for i := range rapid.IntRange(2, 12).Draw(t, "transactions") {
			var ops []Op
			for range rapid.IntRange(1, 3).Draw(t, "ops") {
				w1, w2 := rapid.SampledFrom(wallets).Draw(t, "w1"), rapid.SampledFrom(wallets).Draw(t, "w2")
				amount := rapid.Int64Range(1, 30).Draw(t, "amount")
				ops = append(ops, rapid.SampledFrom([]Op{
					{Type: OpIssue, Destination: w1, Amount: amount},
					{Type: OpTransfer, Source: w1, Destination: w2, Amount: amount},
					{Type: OpRedeem, Source: w1, Amount: amount},
				}).Draw(t, "op"))
			}
			runs = append(runs, c.coordinator(p, fmt.Sprintf("r%d", i), at+int64(i), ops))
		}
		for steps := 0; steps < 400; steps++ {
			live := slices.DeleteFunc(slices.Clone(runs), func(k *coordinator) bool { return k.finished })
			if len(live) == 0 {
				break
			}
			k := rapid.SampledFrom(live).Draw(t, "run")
			switch rapid.IntRange(0, 9).Draw(t, "what") {
			case 0: // a resolver takes the run on, racing the coordinator (if alive)
				var r *coordinator
				if rs := c.ms[k.refGroup].shard(referenceShard(p, k.ref, c.total)); rs != nil {
					if _, ok := rs.TxByReference(p, k.ref); ok {
						r = c.recordResolver(p, k.ref, k.at)
					}
				}
				if r == nil && k.tx == nil { // maybe only parts: fence the attempt
					r = c.partResolver(p, k.ref, k.at, k.attempt, k.ops)
				}
				if r != nil {
					if rapid.Bool().Draw(t, "coordinator died") {
						runs[slices.Index(runs, k)] = r
					} else {
						runs = append(runs, r)
					}
				}
			case 1: // a command applied twice
				k.again()
			case 2: // a group restored from its own snapshot
				g := rapid.IntRange(0, len(c.ms)-1).Draw(t, "group")
				m, err := ReadMachine(snapshotBytes(t, c.ms[g]))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(snapshotBytes(t, m), snapshotBytes(t, c.ms[g])) {
					t.Fatal("snapshot round trip changed the group")
				}
				c.ms[g] = m
			default:
				k.next()
			}
			if err := CheckGroups(c.ms); err != nil {
				t.Fatalf("after step %d: %v", steps, err)
			}
		}
		for _, k := range runs {
			if k.run(); k.done != nil && k.done.Status == TxWaiting {
				t.Fatalf("%s still Waiting after its run", k.ref)
			}
		}
		for _, m := range c.ms {
			for _, s := range m.Shards {
				if len(s.prepared) != 0 || len(s.holds) != 0 || len(s.waiting) != 0 {
					t.Fatalf("shard %d: %d prepared, %d holds, %d waiting at the end", s.id, len(s.prepared), len(s.holds), len(s.waiting))
				}
			}
		}
		if err := CheckGroups(c.ms); err != nil {
			t.Fatal(err)
		}
	})
}

// Money a prepared transaction holds cannot be spent by another, nor can
// its wallet be closed, until the transaction is finished.
func TestHeldMoneyCannotBeSpent(t *testing.T) {
	c := newGroups(t, 2, 1)
	meta := func(cmd Command) Result { return c.apply(0, 1, cmd) }
	p := meta(Command{Kind: CmdCreateProject, Name: "p"}).Value.(ProjectView).ID
	a := meta(Command{Kind: CmdCreateAsset, Project: p, Code: "A", Fractions: 1}).Value.(Asset).ID
	var w [2]WalletID
	for i := range w {
		// one system wallet on each group's shard
		w[i] = c.apply(i, 1, Command{Kind: CmdCreateSystemWallet, Project: p, Asset: a, Shard: uint16(i)}).Value.(WalletView).ID
	}
	local := func(ref string, ops ...Op) Result {
		return c.apply(c.of(referenceShard(p, ref, c.total)), 2, Command{Kind: CmdTransaction, Project: p, ReferenceID: ref, Ops: ops})
	}
	// referenceIds in group 0, so these transactions are single commands there
	refIn0 := func(prefix string) string {
		for i := 0; ; i++ {
			if ref := fmt.Sprintf("%s%d", prefix, i); c.of(referenceShard(p, ref, c.total)) == 0 {
				return ref
			}
		}
	}
	// Fund w0 in its own group.
	if r := local(refIn0("fund"), Op{Type: OpIssue, Destination: w[0], Amount: 10}); r.Code != OK {
		t.Fatalf("funding: %s", r.Code)
	}
	k := c.coordinator(p, "move", 3, []Op{{Type: OpTransfer, Source: w[0], Destination: w[1], Amount: 7}})
	for k.tx == nil { // prepare every group and begin, no decision yet
		k.next()
	}
	if d := c.ms[0].Shards[0].holds[w[0].Index].debit; d != 7 {
		t.Fatalf("w0 holds %d, want 7", d)
	}
	// The hold may belong to a decided transaction: the check answers
	// Blocked, naming the wallet, and makes no record.
	spend := refIn0("spend")
	if r := local(spend, Op{Type: OpRedeem, Source: w[0], Amount: 4}); !slices.Equal(blockedOn(r), []WalletID{w[0]}) {
		t.Fatalf("spending held money before settling: %s %+v, want Blocked on %s", r.Code, r.Value, w[0])
	}
	if _, made := c.ms[0].Shards[0].TxByReference(p, spend); made {
		t.Fatal("a Blocked transaction made a record")
	}
	// Settled, the hold left is undecided: it counts, and the check fails.
	settled := Command{Kind: CmdTransaction, Project: p, ReferenceID: spend, Ops: []Op{{Type: OpRedeem, Source: w[0], Amount: 4}}, HoldsSettled: true}
	if r := c.apply(0, 2, settled); r.Code != InsufficientFunds || r.Value.(*Tx).Status != TxFailed {
		t.Fatalf("spending held money: %s, want INSUFFICIENT_FUNDS", r.Code)
	}
	if r := c.apply(0, 4, Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w[0], Status: WalletClosed}); r.Code != ChangeWalletStatusError || blockedOn(r) != nil {
		t.Fatalf("closing a wallet with money and a hold: %s %+v", r.Code, r.Value)
	}
	if tx := k.run(); tx.Status != TxCompleted {
		t.Fatalf("move: %s", tx.Status)
	}
	if got := c.ms[1].Shards[0].wallets[w[1].Index].Balance; got != 7 {
		t.Fatalf("w1 balance %d, want 7", got)
	}
	if r := local(refIn0("spend again"), Op{Type: OpRedeem, Source: w[0], Amount: 3}); r.Code != OK {
		t.Fatalf("spending what is left: %s", r.Code)
	}
	if err := CheckGroups(c.ms); err != nil {
		t.Fatal(err)
	}
}

// blockedOn is the wallets a Blocked result names (nil if not Blocked).
func blockedOn(r Result) []WalletID {
	switch v := r.Value.(type) {
	case *Blocked:
		return v.Wallets
	case *Prepared:
		return v.Blocked
	}
	return nil
}

// twoGroups is two groups of one shard, project 0 with asset 0, and a
// system wallet in each group.
func twoGroups(t tb) (c *groups, w0, w1 WalletID) {
	c = newGroups(t, 2, 1)
	for i := range c.ms {
		c.apply(i, 1, Command{Kind: CmdCreateProject, Name: "p"})
		c.apply(i, 1, Command{Kind: CmdCreateAsset, Code: "A", Fractions: 1})
		c.apply(i, 1, Command{Kind: CmdCreateSystemWallet, Shard: uint16(i)})
	}
	return c, WalletID{Shard: 0}, WalletID{Shard: 1}
}

// A transaction decided but not yet committed in a group holds the credit
// there: a transaction that touches the wallet answers Blocked until the
// commit, and so does the close of an empty wallet whose only hold is the
// credit of a transaction that will fail.
func TestDecidedHoldsBlockChecks(t *testing.T) {
	c, w0, w1 := twoGroups(t)
	refIn := func(g int, prefix string) string {
		for i := 0; ; i++ {
			if ref := fmt.Sprintf("%s%d", prefix, i); c.of(referenceShard(0, ref, c.total)) == g {
				return ref
			}
		}
	}
	if tx := c.coordinator(0, refIn(0, "fund"), 2, []Op{issue(w0, 10)}).run(); tx.Status != TxCompleted {
		t.Fatalf("funding: %s", tx.Status)
	}
	// A transfer w0 → w1 decided in group 0, its commit in group 1 not yet run.
	k := c.coordinator(0, refIn(0, "move"), 3, []Op{transfer(w0, w1, 7)})
	for k.tx == nil || k.tx.Status == TxWaiting {
		k.next()
	}
	spend := Command{Kind: CmdTransaction, Project: 0, ReferenceID: refIn(1, "spend"), Ops: []Op{redeem(w1, 5)}}
	if r := c.apply(1, 4, spend); !slices.Equal(blockedOn(r), []WalletID{w1}) {
		t.Fatalf("spending a decided credit before its commit: %s %+v, want Blocked", r.Code, r.Value)
	}
	k.run() // the commit in group 1
	if r := c.apply(1, 4, spend); r.Code != OK {
		t.Fatalf("spending the committed credit: %s", r.Code)
	}
	// An empty wallet whose only hold is the credit of a transaction that
	// will fail: closing it is Blocked, not refused, and once the abort
	// ran it closes.
	if r := c.apply(1, 5, Command{Kind: CmdTransaction, Project: 0, ReferenceID: refIn(1, "empty"), Ops: []Op{redeem(w1, 2)}}); r.Code != OK {
		t.Fatalf("emptying w1: %s", r.Code)
	}
	doomed := c.coordinator(0, refIn(0, "doomed"), 6, []Op{issue(w1, 3), redeem(w0, 1000)})
	doomed.next() // the prepare in group 1: w1 holds a credit of 3
	closeW1 := Command{Kind: CmdSetWalletStatus, Project: 0, Wallet: w1, Status: WalletClosed}
	if r := c.apply(1, 7, closeW1); !slices.Equal(blockedOn(r), []WalletID{w1}) {
		t.Fatalf("closing an empty wallet with a hold: %s %+v, want Blocked", r.Code, r.Value)
	}
	if tx := doomed.run(); tx.Status != TxFailed {
		t.Fatalf("doomed: %s", tx.Status)
	}
	if r := c.apply(1, 8, closeW1); r.Code != OK {
		t.Fatalf("closing once the hold is gone: %s", r.Code)
	}
	if err := CheckGroups(c.ms); err != nil {
		t.Fatal(err)
	}
}

// The first decision wins: a second one, even a different one, gets the
// record as the first left it. Only the attempt that made the record can
// decide it.
func TestFirstDecisionWins(t *testing.T) {
	h := newHarness(t, 1)
	p := h.project()
	a := h.asset(p, "A")
	w := h.systemWallet(p, a)
	ops := []Op{issue(w, 5)}
	at := testAttempt()
	b := h.must(Command{Kind: CmdTxBegin, Project: p, ReferenceID: "r", Attempt: at, Ops: ops}).Value.(*Began)
	tx := b.Tx
	if tx.Status != TxWaiting || b.Attempt != at || b.Vote.FailedAt != -1 {
		t.Fatalf("begun: %s, attempt %v, vote %+v", tx.Status, b.Attempt, b.Vote)
	}
	if got := h.m.Shards[0].holds[w.Index].credit; got != 5 {
		t.Fatalf("the begin's own prepare holds %d of credit, want 5", got)
	}
	r := h.apply(Command{Kind: CmdTxBegin, Project: p, ReferenceID: "r", Attempt: testAttempt(), Ops: ops})
	if again, ok := r.Value.(*Began); r.Code != DuplicateReferenceID || !ok || again.Tx.Status != TxWaiting || again.Attempt != at {
		t.Fatalf("second begin: %s %+v", r.Code, r.Value)
	}
	if r := h.apply(Command{Kind: CmdTxDecide, Project: p, ReferenceID: "r", Attempt: testAttempt(), TxStatus: TxCompleted, Ops: ops}); r.Code != TransactionNotFound {
		t.Fatalf("deciding with another attempt: %s", r.Code)
	}
	first := h.must(Command{Kind: CmdTxDecide, Project: p, ReferenceID: "r", Attempt: at, TxStatus: TxFailed, ErrCode: InsufficientFunds, Ops: ops}).Value.(*Tx)
	second := h.must(Command{Kind: CmdTxDecide, Project: p, ReferenceID: "r", Attempt: at, TxStatus: TxCompleted, Ops: ops}).Value.(*Tx)
	if first.Status != TxFailed || second.Status != TxFailed || second.ErrCode != InsufficientFunds {
		t.Fatalf("decisions: first %s, then %s %s", first.Status, second.Status, second.ErrCode)
	}
	if tx.Status != TxWaiting {
		t.Fatal("the decision changed the record a reader holds")
	}
	if len(h.m.Shards[0].holds) != 0 || h.m.Shards[0].wallets[w.Index].Balance != 0 {
		t.Fatal("the Failed decision did not abort the group's own part")
	}
}

// A resolver's fence stops a begin that had not arrived: the attempt never
// makes a record, so its parts can be aborted. A fence after the begin
// answers the record instead, with its attempt.
func TestFenceStopsALateBegin(t *testing.T) {
	h := newHarness(t, 1)
	p := h.project()
	w := h.systemWallet(p, h.asset(p, "A"))
	ops := []Op{issue(w, 5)}
	late := testAttempt()
	if r := h.apply(Command{Kind: CmdTxFence, Project: p, ReferenceID: "r", Attempt: late}); r.Code != OK || r.Value != nil {
		t.Fatalf("fence with no record: %s %v", r.Code, r.Value)
	}
	r := h.apply(Command{Kind: CmdTxBegin, Project: p, ReferenceID: "r", Attempt: late, Ops: ops})
	if err, _ := r.Value.(error); !errors.Is(err, ErrAttemptFenced) {
		t.Fatalf("begin of a fenced attempt: %s %v", r.Code, r.Value)
	}
	if len(h.m.Shards[0].holds) != 0 {
		t.Fatal("a fenced begin held money")
	}
	if _, ok := h.m.Shards[0].TxByReference(p, "r"); ok {
		t.Fatal("a fenced begin made a record")
	}
	// The referenceId stays free for another attempt.
	other := testAttempt()
	b := h.must(Command{Kind: CmdTxBegin, Project: p, ReferenceID: "r", Attempt: other, Ops: ops}).Value.(*Began)
	r = h.apply(Command{Kind: CmdTxFence, Project: p, ReferenceID: "r", Attempt: late})
	if got, ok := r.Value.(*Began); !ok || got.Tx != b.Tx || got.Attempt != other {
		t.Fatalf("fence after a begin: %s %+v, want the record of attempt %v", r.Code, r.Value, other)
	}
}

// A snapshot an older version wrote (format v1, testdata/snapshot-v1.bin,
// from before groups existed) is refused with ErrOldFormat, which the
// engine turns into its "older data dir" refusal, never misread.
func TestOlderSnapshotFormatIsRefused(t *testing.T) {
	data, err := os.ReadFile("testdata/snapshot-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMachine(data); !errors.Is(err, ErrOldFormat) {
		t.Fatalf("v1 snapshot: %v, want ErrOldFormat", err)
	}
	for _, v := range []string{"v2", "v3", "v4"} {
		older := append([]byte("cloudwallet-snapshot-"+v+"\n"), data[len("cloudwallet-snapshot-v1\n"):]...)
		if _, err := ReadMachine(older); !errors.Is(err, ErrOldFormat) {
			t.Fatalf("%s snapshot: %v, want ErrOldFormat", v, err)
		}
	}
	if _, err := ReadMachine([]byte("not a snapshot at all, not at all")); err == nil || errors.Is(err, ErrOldFormat) {
		t.Fatalf("garbage: %v, want a plain refusal", err)
	}
}
