package shard

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"unsafe"
)

// holdFixture is one project with a customer wallet A holding 1000 and an
// empty wallet B of the same asset.
type holdFixture struct {
	h    *harness
	p    ProjectID
	a, b WalletID
}

func newHoldFixture(t *testing.T) *holdFixture {
	h := newHarness(t, 4)
	p := h.project()
	asset := h.asset(p, "USD")
	h.customer(p, "alice")
	h.customer(p, "bob")
	f := &holdFixture{h: h, p: p, a: h.wallet(p, "alice", asset), b: h.wallet(p, "bob", asset)}
	h.must(Command{Kind: CmdTransaction, Project: p, ReferenceID: "fund", Ops: []Op{issue(f.a, 1000)}})
	return f
}

func (f *holdFixture) hold(ref string, timeoutMs int64, ops ...Op) (Result, Attempt) {
	a := testAttempt()
	return f.h.apply(Command{Kind: CmdHold, Project: f.p, ReferenceID: ref, Attempt: a, Ops: ops, HoldTimeoutMs: timeoutMs}), a
}

func (f *holdFixture) finish(tx *Tx, a Attempt, to TxStatus) Result {
	return f.h.apply(Command{Kind: CmdHoldFinish, Project: f.p, ReferenceID: tx.ReferenceID, Attempt: a, TxStatus: to, Ops: tx.Ops})
}

// restart replaces the machine with one read from its snapshot.
func (f *holdFixture) restart() *Machine {
	f.h.t.Helper()
	var buf bytes.Buffer
	if _, err := f.h.m.Freeze().WriteTo(&buf); err != nil {
		f.h.t.Fatal(err)
	}
	m, err := ReadMachine(buf.Bytes())
	if err != nil {
		f.h.t.Fatal(err)
	}
	f.h.m = m
	return m
}

func (f *holdFixture) view(w WalletID) WalletView {
	f.h.t.Helper()
	v, ok := f.h.m.Shards[w.Shard].Wallet(f.p, w.Index)
	if !ok {
		f.h.t.Fatalf("wallet %s not found", w)
	}
	return v
}

func (f *holdFixture) check(t *testing.T, w WalletID, balance, available int64, entries int) {
	t.Helper()
	v := f.view(w)
	n := len(f.h.m.Shards[w.Shard].wallets[w.Index].Entries)
	if v.Balance != balance || v.Available != available || n != entries {
		t.Fatalf("wallet %s: balance %d available %d entries %d, want %d %d %d", w, v.Balance, v.Available, n, balance, available, entries)
	}
	if err := f.h.m.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestHoldReservesThenCaptureWritesEntries(t *testing.T) {
	f := newHoldFixture(t)
	r, a := f.hold("h1", 0, transfer(f.a, f.b, 300))
	tx := r.Value.(*Tx)
	if !r.Created || tx.Status != TxHeld || tx.Hold == nil {
		t.Fatalf("hold: %+v", r)
	}
	f.check(t, f.a, 1000, 700, 1) // reserved, nothing posted
	f.check(t, f.b, 0, 0, 0)      // the credit is not spendable yet

	// Other transactions check against the available balance.
	if r := f.h.tx(f.p, "too-much", transfer(f.a, f.b, 701)); r.Code != InsufficientFunds {
		t.Fatalf("spending held money: %s", r.Code)
	}
	if r := f.h.tx(f.p, "spend-b", redeem(f.b, 1)); r.Code != InsufficientFunds {
		t.Fatalf("spending a held credit: %s", r.Code)
	}
	// A wallet with a hold cannot be closed, even at balance 0.
	if r := f.h.apply(Command{Kind: CmdSetWalletStatus, Project: f.p, Wallet: f.b, Status: WalletClosed}); r.Code != ChangeWalletStatusError {
		t.Fatalf("closing a wallet with a held credit: %s", r.Code)
	}

	before := f.h.time
	c := f.finish(tx, a, TxCompleted)
	got := c.Value.(*Tx)
	if c.Code != OK || got.Status != TxCompleted || got.Hold.FinishedAt <= before {
		t.Fatalf("capture: %+v", c)
	}
	f.check(t, f.a, 700, 700, 2)
	f.check(t, f.b, 300, 300, 1)
	if e := f.h.m.Shards[f.b.Shard].wallets[f.b.Index].Entries[0]; e.CreatedAt != got.Hold.FinishedAt || e.Balance != 300 || e.Tx() != tx.ID {
		t.Fatalf("the capture's entry: %+v", e)
	}
	// Captured again: the record as it stands, nothing posted twice.
	if again := f.finish(tx, a, TxCompleted); again.Value.(*Tx).Status != TxCompleted {
		t.Fatalf("capture again: %+v", again)
	}
	if again := f.finish(tx, a, TxVoided); again.Value.(*Tx).Status != TxCompleted {
		t.Fatalf("void after capture changed it: %+v", again)
	}
	f.check(t, f.a, 700, 700, 2)
}

func TestHoldVoidAndExpiryReleaseInLogTime(t *testing.T) {
	f := newHoldFixture(t)
	r, a := f.hold("v", 0, redeem(f.a, 400))
	tx := r.Value.(*Tx)
	f.check(t, f.a, 1000, 600, 1)
	if v := f.finish(tx, a, TxVoided).Value.(*Tx); v.Status != TxVoided {
		t.Fatalf("void: %s", v.Status)
	}
	f.check(t, f.a, 1000, 1000, 1)
	if again := f.finish(tx, a, TxCompleted).Value.(*Tx); again.Status != TxVoided {
		t.Fatalf("capturing a Voided hold changed it: %s", again.Status)
	}

	r, a = f.hold("e", 50, redeem(f.a, 100))
	tx = r.Value.(*Tx)
	if tx.ExpiresAt() != tx.CreatedAt+50 {
		t.Fatalf("expires at %d, created %d", tx.ExpiresAt(), tx.CreatedAt)
	}
	// An expiry before the deadline in log time does nothing.
	if e := f.finish(tx, a, TxExpired).Value.(*Tx); e.Status != TxHeld {
		t.Fatalf("expired early: %s", e.Status)
	}
	f.check(t, f.a, 1000, 900, 1)
	// A capture that applies at the deadline expires the hold instead,
	// though no expiry was proposed.
	f.h.time = tx.ExpiresAt() - 1 // the next command applies at the deadline
	if c := f.finish(tx, a, TxCompleted).Value.(*Tx); c.Status != TxExpired || c.Hold.FinishedAt != tx.ExpiresAt() {
		t.Fatalf("capture at the deadline: %s at %d", c.Status, c.Hold.FinishedAt)
	}
	f.check(t, f.a, 1000, 1000, 1)
}

func TestHoldFailsLikeATransaction(t *testing.T) {
	f := newHoldFixture(t)
	f.hold("big", 0, redeem(f.a, 900))
	r, _ := f.hold("over", 0, transfer(f.a, f.b, 50), redeem(f.a, 60))
	tx := r.Value.(*Tx)
	if r.Code != InsufficientFunds || tx.Status != TxFailed || tx.ErrOpIndex != 1 {
		t.Fatalf("a hold past the available balance: %s %+v", r.Code, tx)
	}
	// Its referenceId is used up, as a Failed transaction's.
	if r, _ := f.hold("over", 0, redeem(f.a, 1)); r.Code != DuplicateReferenceID {
		t.Fatalf("the referenceId again: %s", r.Code)
	}
	f.check(t, f.a, 1000, 100, 1)
}

// The reservation is what the operations may take at their deepest point
// and add at their highest, not their sum: a wallet credited and then
// debited keeps its available balance.
func TestHoldReservesTheExtremes(t *testing.T) {
	f := newHoldFixture(t)
	r, a := f.hold("chain", 0, transfer(f.a, f.b, 200), transfer(f.b, f.a, 200))
	f.check(t, f.a, 1000, 800, 1)
	f.check(t, f.b, 0, 0, 0)
	f.finish(r.Value.(*Tx), a, TxCompleted)
	f.check(t, f.a, 1000, 1000, 3)
	f.check(t, f.b, 0, 0, 2)
}

func TestHoldsSurviveASnapshot(t *testing.T) {
	f := newHoldFixture(t)
	open, oa := f.hold("open", 60_000, transfer(f.a, f.b, 100))
	done, da := f.hold("done", 0, redeem(f.a, 50))
	f.finish(done.Value.(*Tx), da, TxCompleted)

	m := f.restart()
	f.check(t, f.a, 950, 850, 2)
	tx := open.Value.(*Tx)
	got, _ := m.Shards[tx.ID.Shard].Tx(f.p, tx.ID.Index)
	if got.Status != TxHeld || got.ExpiresAt() != tx.ExpiresAt() {
		t.Fatalf("restored hold: %+v", got)
	}
	if c := f.finish(tx, oa, TxCompleted).Value.(*Tx); c.Status != TxCompleted {
		t.Fatalf("capture after a restore: %s", c.Status)
	}
	f.check(t, f.a, 850, 850, 3)
	f.check(t, f.b, 100, 100, 1)
}

// A hold across groups: begun and prepared like any transaction across
// groups, decided Held; its end is a HoldFinish in the referenceId's group
// and a commit or abort in the others.
func TestHoldAcrossGroups(t *testing.T) {
	c := newGroups(t, 2, 2)
	p := c.apply(0, 1, Command{Kind: CmdCreateProject, Name: "p"}).Value.(ProjectView).ID
	asset := c.apply(0, 2, Command{Kind: CmdCreateAsset, Project: p, Name: "u", Code: "U", Fractions: 1}).Value.(Asset).ID
	var ws [2]WalletID
	for g := range 2 {
		ws[g] = c.apply(g, 3, Command{Kind: CmdCreateSystemWallet, Project: p, Asset: asset, Shard: uint16(g * 2)}).Value.(WalletView).ID
	}
	// Fund the wallet of group 0 with a transaction in group 0.
	ref := refInGroup(c, p, "fund", 0)
	c.apply(0, 4, Command{Kind: CmdTransaction, Project: p, ReferenceID: ref, Ops: []Op{issue(ws[0], 500)}})

	// The hold's referenceId lives in group 1; it moves money from group 0.
	ref = refInGroup(c, p, "h", 1)
	ops := []Op{transfer(ws[0], ws[1], 200)}
	a := testAttempt()
	began := c.apply(1, 10, Command{Kind: CmdHoldBegin, Project: p, ReferenceID: ref, Attempt: a, Ops: ops, HoldTimeoutMs: 1000}).Value.(*Began)
	vote := c.apply(0, 10, Command{Kind: CmdTxPrepare, Project: p, ReferenceID: ref, Attempt: a, Ops: ops}).Value.(*Prepared)
	if began.Tx.Status != TxWaiting || began.Tx.Hold == nil || vote.FailedAt != -1 {
		t.Fatalf("begin %+v, vote %+v", began.Tx, vote)
	}
	if r := c.apply(1, 11, Command{Kind: CmdTxDecide, Project: p, ReferenceID: ref, Attempt: a, TxStatus: TxCompleted, Ops: ops}); r.Code != ValidationError {
		t.Fatalf("a hold decided Completed: %s", r.Code)
	}
	held := c.apply(1, 11, Command{Kind: CmdTxDecide, Project: p, ReferenceID: ref, Attempt: a, TxStatus: TxHeld, Ops: ops}).Value.(*Tx)
	if held.Status != TxHeld {
		t.Fatalf("decided %s", held.Status)
	}
	if err := CheckGroups(c.ms); err != nil {
		t.Fatal(err)
	}
	v, _ := c.ms[0].Shards[0].Wallet(p, ws[0].Index)
	if v.Balance != 500 || v.Available != 300 {
		t.Fatalf("held wallet: %+v", v)
	}
	// The participant's part is in flight (its group cannot know the
	// record is Held): a transaction on the wallet is Blocked until its
	// proposer settles, then counts the hold.
	if r := c.apply(0, 12, Command{Kind: CmdTransaction, Project: p, ReferenceID: ref + "y", Ops: []Op{redeem(ws[0], 301)}}); r.Value.(*Blocked) == nil {
		t.Fatalf("not blocked: %+v", r)
	}
	captured := c.apply(1, 20, Command{Kind: CmdHoldFinish, Project: p, ReferenceID: ref, Attempt: a, TxStatus: TxCompleted, Ops: ops}).Value.(*Tx)
	if captured.Status != TxCompleted || captured.PostedAt() != 20 {
		t.Fatalf("captured: %+v", captured)
	}
	c.apply(0, 21, Command{Kind: CmdTxCommit, Project: p, ReferenceID: ref, Attempt: a, Tx: captured.ID, At: captured.PostedAt(), Ops: ops})
	if err := CheckGroups(c.ms); err != nil {
		t.Fatal(err)
	}
	v, _ = c.ms[0].Shards[0].Wallet(p, ws[0].Index)
	w1, _ := c.ms[1].Shards[0].Wallet(p, ws[1].Index)
	if v.Balance != 300 || v.Available != 300 || w1.Balance != 200 {
		t.Fatalf("after the capture: %+v %+v", v, w1)
	}
}

// refInGroup is a referenceId made from prefix whose record lives in group g.
func refInGroup(c *groups, p ProjectID, prefix string, g int) string {
	for i := 0; ; i++ {
		if ref := fmt.Sprint(prefix, i); c.of(referenceShard(p, ref, c.total)) == g {
			return ref
		}
	}
}

// Tx stays in its size class with the hold's pointer: a million records
// must not grow by a sixth for a feature most of them do not use.
func TestTxRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(Tx{}); n != 80 {
		t.Fatalf("Tx is %d bytes, want 80", n)
	}
}

// A Suspended wallet (or customer) does not stop a capture: the money was
// reserved while the wallet was Open. It does stop a new hold.
func TestHoldCapturesFromASuspendedWallet(t *testing.T) {
	f := newHoldFixture(t)
	r, a := f.hold("before", 0, transfer(f.a, f.b, 100))
	f.h.must(Command{Kind: CmdSuspendCustomer, Project: f.p, Customer: "alice"})
	if r, _ := f.hold("after", 0, transfer(f.a, f.b, 1)); r.Code != WrongWalletStatus {
		t.Fatalf("a hold from a Suspended wallet: %s", r.Code)
	}
	if c := f.finish(r.Value.(*Tx), a, TxCompleted).Value.(*Tx); c.Status != TxCompleted {
		t.Fatalf("capture from a Suspended wallet: %s", c.Status)
	}
	f.check(t, f.a, 900, 900, 2)
	f.check(t, f.b, 100, 100, 1)
}

// dueHolds lists, over every shard, the referenceIds of the holds due at
// now (at most limit per shard), each shard's earliest first.
func (f *holdFixture) dueHolds(now int64, limit int) []string {
	var refs []string
	for _, s := range f.h.m.Shards {
		due, _, _ := s.DueHolds(now, limit)
		for i, d := range due {
			if i > 0 && d.ExpiresAt < due[i-1].ExpiresAt {
				f.h.t.Fatalf("shard %d lists %s (due %d) after one due %d", s.id, d.Tx.ReferenceID, d.ExpiresAt, due[i-1].ExpiresAt)
			}
			refs = append(refs, d.Tx.ReferenceID)
		}
	}
	slices.Sort(refs)
	return refs
}

// The expiry sweep finds exactly the open holds that are due, earliest
// first, again at every look until their expiry applies; holds that ended
// early, and holds without a timeout, are never listed; a restored
// snapshot lists the same; and the order's memory stays within a constant
// of the open holds however many end early.
func TestDueHoldsInDeadlineOrder(t *testing.T) {
	f := newHoldFixture(t)
	type made struct {
		tx *Tx
		a  Attempt
	}
	var holds []made
	for i := range 30 {
		r, a := f.hold(fmt.Sprintf("h%02d", i), int64(i+1)*10, redeem(f.a, 1))
		holds = append(holds, made{r.Value.(*Tx), a})
	}
	for i := range 5 {
		f.hold(fmt.Sprintf("forever%d", i), 0, redeem(f.a, 1))
	}
	for i := 0; i < 30; i += 2 {
		f.finish(holds[i].tx, holds[i].a, TxCompleted) // captured before its deadline
	}
	now := holds[0].tx.CreatedAt + 155
	var want []string
	for i := 1; i < 30; i += 2 {
		if holds[i].tx.ExpiresAt() <= now {
			want = append(want, holds[i].tx.ReferenceID)
		}
	}
	if len(want) == 0 {
		t.Fatal("no hold is due: the test proves nothing")
	}
	for look := range 2 {
		if got := f.dueHolds(now, 100); !slices.Equal(got, want) {
			t.Fatalf("look %d: due %v, want %v", look, got, want)
		}
	}
	if got := f.dueHolds(now, 1); len(got) > len(f.h.m.Shards) || len(got) == 0 {
		t.Fatalf("at most one per shard: %v", got)
	}

	f.restart()
	if got := f.dueHolds(now, 100); !slices.Equal(got, want) {
		t.Fatalf("after a restore: due %v, want %v", got, want)
	}

	f.h.time = now
	for i := 1; i < 30; i += 2 {
		if holds[i].tx.ExpiresAt() <= now {
			if e := f.finish(holds[i].tx, holds[i].a, TxExpired).Value.(*Tx); e.Status != TxExpired {
				t.Fatalf("expiry of %s: %s", holds[i].tx.ReferenceID, e.Status)
			}
		}
	}
	if got := f.dueHolds(now, 100); len(got) != 0 {
		t.Fatalf("expired holds still due: %v", got)
	}
	if err := f.h.m.CheckInvariants(); err != nil {
		t.Fatal(err)
	}

	// Many holds ending early leave their deadlines behind; the order is
	// rebuilt before it outgrows the open holds by more than a constant.
	for i := range 8 * expiriesSlack { // some thousands per shard
		r, a := f.hold(fmt.Sprintf("brief%d", i), 3_600_000, redeem(f.a, 1))
		f.finish(r.Value.(*Tx), a, TxVoided)
	}
	for _, s := range f.h.m.Shards {
		if len(s.expiries) > 2*len(s.openHolds)+expiriesSlack {
			t.Fatalf("shard %d keeps %d deadlines for %d open holds", s.id, len(s.expiries), len(s.openHolds))
		}
	}
	if err := f.h.m.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
