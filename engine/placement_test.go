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
