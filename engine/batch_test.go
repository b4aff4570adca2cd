package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cloudwallet/cloudwallet/shard"
)

// chainBatch is a batch that only succeeds in request order: an issue to
// the first wallet, then the coin moved along every wallet, item by item;
// and last a repeat of the first item's referenceId.
func chainBatch(l ledger) []BatchItem {
	items := []BatchItem{{ReferenceID: "chain-0", Ops: []shard.Op{{Type: shard.OpIssue, Destination: l.wallets[0], Amount: 1}}}}
	for i := 1; i < len(l.wallets); i++ {
		items = append(items, BatchItem{ReferenceID: fmt.Sprintf("chain-%d", i),
			Ops: []shard.Op{{Type: shard.OpTransfer, Source: l.wallets[i-1], Destination: l.wallets[i], Amount: 1}}})
	}
	return append(items, BatchItem{ReferenceID: "chain-0", Ops: []shard.Op{{Type: shard.OpIssue, Destination: l.wallets[0], Amount: 1}}})
}

// checkChain checks the chain's outcomes: every move made, in order, the
// repeat a duplicate, and the coin at the last wallet.
func checkChain(t *testing.T, n *Node, l ledger, out []BatchOutcome) {
	t.Helper()
	for i, o := range out[:len(out)-1] {
		if o.Err != nil || o.Result.Code != shard.OK {
			t.Fatalf("item %d: %v %v (out of order?)", i, o.Result.Code, o.Err)
		}
	}
	if last := out[len(out)-1]; last.Err != nil || last.Result.Code != shard.DuplicateReferenceID {
		t.Fatalf("the repeated referenceId: %v %v, want DuplicateReferenceId", last.Result.Code, last.Err)
	}
	for i, w := range l.wallets {
		want := int64(0)
		if i == len(l.wallets)-1 {
			want = 1
		}
		if got := balanceOf(t, n, l.project, w); got != want {
			t.Fatalf("wallet %d holds %d, want %d", i, got, want)
		}
	}
}

// balanceOf reads a wallet as GET /wallets/{id} does: holds of decided
// transactions across groups finished first.
func balanceOf(t *testing.T, n *Node, p shard.ProjectID, w shard.WalletID) int64 {
	t.Helper()
	v, ok, err := n.Wallet(context.Background(), true, p, w)
	if err != nil || !ok {
		t.Fatalf("wallet %s: %v %v", w, ok, err)
	}
	return v.Balance
}

// A project in one group: the batch goes into the log in request order
// and in as few entries as the entry size allows: 501 items at 100
// commands an entry take 6. Mutations: queueing the items one by one (as
// before the batch became one unit) took 7 under load, and a proposer that
// does not drain its queue takes 501.
func TestBatchInOneGroupIsPackedInOrder(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Groups, cfg.Shards = 1, 3
	cfg.CommandsPerEntryMax = 100
	n := openReady(t, cfg)
	defer n.Close()
	l := setupLedger(t, n, 500)
	items := chainBatch(l)
	before := n.GroupRaft(0).LastIndex()
	out := n.TransactBatch(context.Background(), shard.By{}, l.project, items)
	checkChain(t, n, l, out)
	want := uint64(len(items)+cfg.CommandsPerEntryMax-1) / uint64(cfg.CommandsPerEntryMax)
	if entries := n.GroupRaft(0).LastIndex() - before; entries > want {
		t.Fatalf("%d items took %d log entries, want %d: the batch was not packed", len(out), entries, want)
	}
}

// A project over two groups runs item by item, where items spanning groups
// take the two-phase path, in request order where wallets overlap.
func TestBatchAcrossGroupsKeepsOrder(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Groups, cfg.Shards = 2, 2
	n := openReady(t, cfg)
	defer n.Close()
	l := setupLedger(t, n, 40)
	groups := map[*shardGroup]bool{}
	for _, w := range l.wallets {
		groups[n.groupOf(w.Shard)] = true
	}
	if len(groups) != 2 {
		t.Fatal("the wallets are all in one group: the test proves nothing across groups")
	}
	out := n.TransactBatch(context.Background(), shard.By{}, l.project, chainBatch(l))
	checkChain(t, n, l, out)
	n.ReadAll(func(m *shard.Machine) {
		if err := m.CheckLocal(); err != nil {
			t.Errorf("invariants: %v", err)
		}
	})
}

// The items of the batches in flight stay within the proposal queue's
// bound: a batch beyond it is refused whole, before anything of it is
// done, and admitted again once the batches before it are answered.
func TestBatchBeyondTheQueueIsRefusedWhole(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Groups, cfg.ProposalQueueMax = 1, 16
	n := openReady(t, cfg)
	defer n.Close()
	first, err := n.AdmitBatch(10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AdmitBatch(7); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("10 items in flight and 7 more with a queue of 16: %v, want ErrOverloaded", err)
	}
	second, err := n.AdmitBatch(6)
	if err != nil {
		t.Fatalf("10 and 6 within 16: %v", err)
	}
	first()
	first() // a release runs once
	if _, err := n.AdmitBatch(11); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("6 in flight and 11 more: %v, want ErrOverloaded", err)
	}
	second()
	if _, err := n.AdmitBatch(16); err != nil {
		t.Fatalf("16 once the others were answered: %v", err)
	}
}
