package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/shard"
)

// A node joins a one-node cluster of four groups with one replica each:
// the layout moves some to it. The logs were compacted long before, so
// each new replica catches up from a snapshot, is promoted, and only then
// does the group leave the first node, which deletes its replica (but
// keeps the meta group, as a non-voter). Every balance reads the same
// before and after, through either node.
func TestAGroupMovesToAJoiningNodeBySnapshot(t *testing.T) {
	cfgA := testConfig(t.TempDir())
	cfgA.Groups, cfgA.Shards, cfgA.Replicas = 4, 1, 1
	cfgA.SnapshotThreshold, cfgA.TrailingLogs = 8, 2
	a := openReady(t, cfgA)
	defer a.Close()
	l := setupLedger(t, a, 8)
	ctx := context.Background()
	for i, w := range l.wallets {
		r, err := a.Transact(ctx, shard.By{}, l.project, "fund-"+w.String(), []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: int64(100 + i)}})
		if err != nil || r.Code != shard.OK {
			t.Fatalf("fund: %v %v", r.Code, err)
		}
	}
	if err := a.Snapshot(); err != nil {
		t.Fatal(err)
	}
	before := balances(t, a, l)

	secret, err := os.ReadFile(filepath.Join(cfgA.DataDir, "cluster.secret"))
	if err != nil {
		t.Fatal(err)
	}
	cfgB := testConfig(t.TempDir())
	cfgB.JoinAddr, cfgB.ClusterSecret = a.PeerAddr(), strings.TrimSpace(string(secret))
	b := openReady(t, cfgB)
	defer b.Close()

	// Wait until the groups placed on the new node are served there, and
	// those other than the meta group are gone from the first node, its
	// stores deleted.
	settled := func() (onB []int, ok bool) {
		l := a.layoutNow()
		if l.Version == 0 || !slices.ContainsFunc(l.Groups, func(ns []string) bool { return slices.Contains(ns, b.ID()) }) {
			return nil, false
		}
		for g, ns := range l.Groups {
			if !slices.Contains(ns, b.ID()) {
				continue
			}
			onB = append(onB, g)
			if b.groups[g].serving() == nil || (!b.groups[g].isMeta() && (a.groups[g].replica() != nil || a.hasGroupData(g))) {
				return nil, false
			}
		}
		return onB, true
	}
	deadline := time.Now().Add(30 * time.Second)
	var moved []int
	for ok := false; !ok; moved, ok = settled() {
		if time.Now().After(deadline) {
			t.Fatalf("the groups did not settle: layout %+v", a.layoutNow())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.ContainsFunc(moved, func(g int) bool { return !b.groups[g].isMeta() }) {
		t.Fatalf("only the meta group moved (%v): the test proved nothing about dropping a replica", moved)
	}
	for _, g := range moved {
		if b.groups[g].replica().restoredAt.Load() == 0 {
			t.Fatalf("group %d reached the new node without a snapshot", g)
		}
	}
	for _, n := range []*Node{a, b} {
		if got := balances(t, n, l); !slices.Equal(got, before) {
			t.Fatalf("balances after the move: %v, before %v", got, before)
		}
	}
}

func balances(t *testing.T, n *Node, l ledger) []int64 {
	t.Helper()
	var out []int64
	for _, w := range l.wallets {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.Confirm(ctx, n.ShardScope(w.Shard)); err != nil {
			t.Fatal(err)
		}
		v, ok, err := n.Wallet(ctx, true, l.project, w)
		cancel()
		if err != nil || !ok {
			t.Fatalf("wallet %s: %v %v", w, ok, err)
		}
		out = append(out, v.Balance)
	}
	return out
}

// The meta group is planned on its own: its voters do not count as data
// replicas, so six nodes with six data groups of three replicas hold
// exactly three data replicas and lead one data group each, whichever
// three of them hold the meta group. A plan kept from before stays put.
func TestPlanGroupsKeepsTheMetaGroupOutOfTheDataBalance(t *testing.T) {
	nodes := []string{"a", "b", "c", "d", "e", "f"}
	plan, err := planGroups(nil, nodes, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 7 || len(plan[6]) != 3 {
		t.Fatalf("want six data groups and the meta group on three nodes: %v", plan)
	}
	held, leads := map[string]int{}, map[string]int{}
	for _, group := range plan[:6] {
		if len(group) != 3 {
			t.Fatalf("a data group on %d nodes: %v", len(group), plan)
		}
		for _, id := range group {
			held[id]++
		}
		leads[group[0]]++
	}
	for _, id := range nodes {
		if held[id] != 3 || leads[id] != 1 {
			t.Fatalf("node %s holds %d data replicas and leads %d data groups, want 3 and 1: %v", id, held[id], leads[id], plan)
		}
	}
	again, err := planGroups(plan, nodes, 6, 3)
	if err != nil || !slices.EqualFunc(again, plan, slices.Equal) {
		t.Fatalf("planning again moved replicas: %v, then %v (%v)", plan, again, err)
	}
}
