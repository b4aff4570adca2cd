package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cloudwallet/cloudwallet/shard"
)

// crossFixture is a node with two groups, a project spread over both, and
// a wallet in each group.
type crossFixture struct {
	n      *Node
	p      shard.ProjectID
	pp     shard.Placement
	w0, w1 shard.WalletID // in groups 0 and 1
}

func newCrossFixture(t *testing.T) crossFixture {
	cfg := testConfig(t.TempDir())
	cfg.Groups, cfg.Shards = 2, 1
	n := openReady(t, cfg)
	t.Cleanup(func() { n.Close() })
	f := crossFixture{n: n}
	f.p = propose(t, n, shard.Command{Kind: shard.CmdCreateProject, Name: "p"}).Value.(shard.ProjectView).ID
	f.pp, _ = n.Placement(f.p)
	a := propose(t, n, shard.Command{Kind: shard.CmdCreateAsset, Project: f.p, Name: "A", Code: "A", Fractions: 1}).Value.(shard.Asset).ID
	ws := map[Scope]shard.WalletID{}
	for i := 0; len(ws) < 2; i++ {
		if i > 100 {
			t.Fatal("customers never reached both groups")
		}
		id := fmt.Sprintf("c%d", i)
		if _, have := ws[n.CustomerScope(f.p, id)]; have {
			continue
		}
		propose(t, n, shard.Command{Kind: shard.CmdUpsertCustomer, Project: f.p, Customer: id})
		ws[n.CustomerScope(f.p, id)] = propose(t, n, shard.Command{Kind: shard.CmdCreateWallet, Project: f.p, Customer: id, Asset: a}).Value.(shard.WalletView).ID
	}
	f.w0, f.w1 = ws[1<<0], ws[1<<1]
	return f
}

// ref is a fresh referenceId whose record lives in group g.
func (f crossFixture) ref(g int, prefix string) string {
	for i := 0; ; i++ {
		if ref := fmt.Sprintf("%s-%d", prefix, i); f.n.groupOf(f.pp.ReferenceShard(f.p, ref)).group == g {
			return ref
		}
	}
}

func (f crossFixture) transact(t *testing.T, ref string, ops ...shard.Op) shard.Result {
	t.Helper()
	r, err := f.n.Transact(context.Background(), shard.By{}, f.p, ref, ops)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return r
}

func (f crossFixture) balance(t *testing.T, w shard.WalletID, settle bool) int64 {
	t.Helper()
	v, ok, err := f.n.Wallet(context.Background(), settle, f.p, w)
	if err != nil || !ok {
		t.Fatalf("wallet %s: %v %v", w, ok, err)
	}
	return v.Balance
}

// A transaction across groups is answered at its decision; the other
// group's part is finished later. Here nobody finishes it after the
// answer (as if the coordinator died right then), and still: a read right
// after the answer sees all of it, a transaction spending the credit right
// after the answer succeeds, and the entries are there. Mutation: reads
// and checks that do not settle holds fail this test.
func TestAcrossGroupsAnswerAtTheDecisionAndSettleOnMeeting(t *testing.T) {
	f := newCrossFixture(t)
	f.n.leaveParts = true
	if r := f.transact(t, f.ref(0, "fund"), shard.Op{Type: shard.OpIssue, Destination: f.w0, Amount: 10}); r.Code != shard.OK {
		t.Fatalf("fund: %s", r.Code)
	}
	// The record in group 0: group 1's part (the credit) is finished after the answer.
	move := shard.Op{Type: shard.OpTransfer, Source: f.w0, Destination: f.w1, Amount: 7}
	if r := f.transact(t, f.ref(0, "move"), move); r.Code != shard.OK || r.Value.(*shard.Tx).Status != shard.TxCompleted {
		t.Fatalf("move: %s", r.Code)
	}
	if got := f.balance(t, f.w0, false); got != 3 {
		t.Fatalf("w0 after the answer: %d, want 3 (the decision finishes the referenceId group's own part)", got)
	}
	if got := f.balance(t, f.w1, false); got != 0 {
		t.Fatalf("w1 as this replica has it: %d; the test needs group 1's part left unfinished", got)
	}
	if got := f.balance(t, f.w1, true); got != 7 {
		t.Fatalf("a read right after the answer: w1 %d, want 7", got)
	}
	// A transaction in group 1 right after another answer posts after
	// that answer's credit, not before it.
	if r := f.transact(t, f.ref(0, "third"), shard.Op{Type: shard.OpTransfer, Source: f.w0, Destination: f.w1, Amount: 1}); r.Code != shard.OK {
		t.Fatalf("third: %s", r.Code)
	}
	if r := f.transact(t, f.ref(1, "issue"), shard.Op{Type: shard.OpIssue, Destination: f.w1, Amount: 2}); r.Code != shard.OK {
		t.Fatalf("issue: %s", r.Code)
	}
	// Again, and now spend the new credit at once in group 1.
	if r := f.transact(t, f.ref(0, "again"), shard.Op{Type: shard.OpTransfer, Source: f.w0, Destination: f.w1, Amount: 2}); r.Code != shard.OK {
		t.Fatalf("again: %s", r.Code)
	}
	if r := f.transact(t, f.ref(1, "spend"), shard.Op{Type: shard.OpRedeem, Source: f.w1, Amount: 12}); r.Code != shard.OK {
		t.Fatalf("spending a credit right after its answer: %s, want OK", r.Code)
	}
	pg, err := f.n.Entries(context.Background(), true, f.p, f.w1, 0, 1<<62, 0, 10)
	var balances []int64
	for _, e := range pg.Items {
		balances = append(balances, e.Balance)
	}
	if err != nil || !slices.Equal(balances, []int64{7, 8, 10, 12, 0}) {
		t.Fatalf("w1's balance after each entry: %v %v, want [7 8 10 12 0] (in 7, in 1, issue 2, in 2, out 12)", err, balances)
	}
	// Operators see it: the commands that met holds, and the transactions
	// finished by what met them (the read, the issue, the spend: three).
	m := f.n.metrics
	if got := testutil.ToFloat64(m.blocked.WithLabelValues("command")); got != 2 {
		t.Errorf("cloudwallet_blocked_total{what=command} = %v, want 2 (the issue and the spend)", got)
	}
	if got := testutil.ToFloat64(m.heldFinished); got != 3 {
		t.Errorf("cloudwallet_held_transactions_finished_total = %v, want 3", got)
	}
	f.n.ReadAll(func(m *shard.Machine) {
		if err := m.CheckLocal(); err != nil {
			t.Errorf("invariants: %v", err)
		}
	})
}

// A part whose coordinator died before the begin arrived (here: a prepare
// proposed on its own) is fenced and aborted by the resolver, and its
// hold goes; a begin of that attempt afterwards makes no record.
func TestResolverFencesAPartWithoutARecord(t *testing.T) {
	f := newCrossFixture(t)
	if r := f.transact(t, f.ref(1, "fund"), shard.Op{Type: shard.OpIssue, Destination: f.w1, Amount: 10}); r.Code != shard.OK {
		t.Fatalf("fund: %s", r.Code)
	}
	ctx := context.Background()
	ref := f.ref(0, "orphan")
	ops := []shard.Op{{Type: shard.OpTransfer, Source: f.w1, Destination: f.w0, Amount: 4}}
	run := txRun{project: f.p, ref: ref, ops: ops, attempt: newAttempt()}
	if vote, err := f.n.prepare(ctx, f.n.groups[1], run); err != nil || vote.FailedAt != -1 {
		t.Fatalf("prepare: %v %+v", err, vote)
	}
	var parts []shard.InDoubt
	f.n.ReadShard(f.w1.Shard, func(s *shard.Shard) { parts = s.InDoubt() })
	if len(parts) != 1 || parts[0].Attempt != run.attempt {
		t.Fatalf("in doubt: %+v", parts)
	}
	f.n.resolve(parts[0])
	f.n.ReadShard(f.w1.Shard, func(s *shard.Shard) { parts = s.InDoubt() })
	if len(parts) != 0 {
		t.Fatalf("still in doubt after the resolver: %+v", parts)
	}
	if got := f.balance(t, f.w1, false); got != 10 {
		t.Fatalf("w1: %d, want 10", got)
	}
	r, err := f.n.groups[0].propose(ctx, &shard.Command{Kind: shard.CmdTxBegin, Project: f.p, Shard: f.pp.ReferenceShard(f.p, ref), ReferenceID: ref, Attempt: run.attempt, Ops: ops})
	if refusal, _ := r.Value.(error); err != nil || r.Created || !errors.Is(refusal, shard.ErrAttemptFenced) {
		t.Fatalf("a begin of the fenced attempt: %v %+v, want refused as fenced", err, r)
	}
	if tx, _ := f.n.Recorded(context.Background(), f.p, ref); tx != nil {
		t.Fatal("a fenced attempt made a record")
	}
}
