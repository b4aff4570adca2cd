package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/cloudwallet/cloudwallet/wal"
)

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.PeerAddr = "127.0.0.1:0"
	cfg.Shards = 3
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	cfg.ElectionTimeout = 100 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.RaftLogLevel = "error"
	return cfg
}

func openReady(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		n.Close()
		t.Fatalf("WaitReady: %v", err)
	}
	return n
}

func propose(t testing.TB, n *Node, c shard.Command) shard.Result {
	t.Helper()
	r, err := n.Propose(context.Background(), &c)
	if err != nil {
		t.Fatalf("%s: %v", c.Kind, err)
	}
	return r
}

// ledger is a small fixture: one project, one asset, customers with a
// wallet each.
type ledger struct {
	project shard.ProjectID
	asset   shard.AssetID
	wallets []shard.WalletID
}

func setupLedger(t testing.TB, n *Node, wallets int) ledger {
	var l ledger
	l.project = propose(t, n, shard.Command{Kind: shard.CmdCreateProject, Name: "p"}).Value.(shard.ProjectView).ID
	l.asset = propose(t, n, shard.Command{Kind: shard.CmdCreateAsset, Project: l.project, Name: "a", Code: "A", Fractions: 100}).Value.(shard.Asset).ID
	for i := 0; i < wallets; i++ {
		c := fmt.Sprintf("c%d", i)
		propose(t, n, shard.Command{Kind: shard.CmdUpsertCustomer, Project: l.project, Customer: c})
		w := propose(t, n, shard.Command{Kind: shard.CmdCreateWallet, Project: l.project, Customer: c, Asset: l.asset})
		l.wallets = append(l.wallets, w.Value.(shard.WalletView).ID)
	}
	return l
}

func stateBytes(t testing.TB, n *Node) []byte {
	var b []byte
	n.ReadAll(func(m *shard.Machine) {
		if err := m.CheckInvariants(); err != nil {
			t.Errorf("invariants: %v", err)
		}
		b = encode(t.(*testing.T), m)
	})
	return b
}

func TestNodeKeepsStateAcrossRestartAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.TrailingLogs = 2 // a snapshot compacts the log down to two entries behind it
	n := openReady(t, cfg)
	l := setupLedger(t, n, 4)
	for i := 0; i < 50; i++ {
		r := propose(t, n, shard.Command{Kind: shard.CmdTransaction, Project: l.project, ReferenceID: fmt.Sprintf("a%d", i),
			Ops: []shard.Op{{Type: shard.OpIssue, Destination: l.wallets[i%4], Amount: 10}, {Type: shard.OpTransfer, Source: l.wallets[i%4], Destination: l.wallets[(i+1)%4], Amount: 3}}})
		if r.Code != shard.OK {
			t.Fatalf("tx %d: %s", i, r.Code)
		}
	}
	if err := n.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	for i := 0; i < 20; i++ { // a tail after the snapshot
		propose(t, n, shard.Command{Kind: shard.CmdTransaction, Project: l.project, ReferenceID: fmt.Sprintf("b%d", i),
			Ops: []shard.Op{{Type: shard.OpIssue, Destination: l.wallets[0], Amount: 1}}})
	}
	kp := propose(t, n, *NewKeyPairCommand(l.project, "k")).Value.(shard.KeyPair)
	before := stateBytes(t, n)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	logs, err := wal.OpenShared(filepath.Join(dir, "wal"), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := logs.Group(0).FirstIndex()
	logs.Close()
	if first <= 50 {
		t.Fatalf("log starts at %d after a snapshot of 60+ entries: not compacted", first)
	}

	n = openReady(t, cfg)
	defer n.Close()
	if after := stateBytes(t, n); string(after) != string(before) {
		t.Fatal("state after restart (snapshot + log tail) differs")
	}
	if got, ok := n.KeyPair(kp.ID); !ok || got.Secret != kp.Secret {
		t.Fatal("key pair cache not rebuilt after restart")
	}
	// A retry after the restart finds the stored outcome and applies nothing.
	r := propose(t, n, shard.Command{Kind: shard.CmdTransaction, Project: l.project, ReferenceID: "a7",
		Ops: []shard.Op{{Type: shard.OpIssue, Destination: l.wallets[0], Amount: 1000}}})
	if r.Code != shard.DuplicateReferenceID {
		t.Fatalf("retry after restart: %s", r.Code)
	}
	if string(stateBytes(t, n)) != string(before) {
		t.Fatal("a retry changed the state")
	}
}

func TestDeletedKeyPairStopsAtOnce(t *testing.T) {
	n := openReady(t, testConfig(t.TempDir()))
	defer n.Close()
	p := propose(t, n, shard.Command{Kind: shard.CmdCreateProject, Name: "p"}).Value.(shard.ProjectView).ID
	kp := propose(t, n, *NewKeyPairCommand(p, "k")).Value.(shard.KeyPair)
	if _, ok := n.KeyPair(kp.ID); !ok || !n.ProjectExists(p) || n.ProjectExists(p+1) {
		t.Fatal("new key pair or project not visible")
	}
	propose(t, n, shard.Command{Kind: shard.CmdDeleteKeyPair, Project: p, KeyPair: kp.ID})
	if _, ok := n.KeyPair(kp.ID); ok {
		t.Fatal("deleted key pair still visible after its delete was acknowledged")
	}
}

func TestBoltLogStoreWorksToo(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.LogStore = "bolt"
	n := openReady(t, cfg)
	l := setupLedger(t, n, 2)
	propose(t, n, shard.Command{Kind: shard.CmdTransaction, Project: l.project, ReferenceID: "x",
		Ops: []shard.Op{{Type: shard.OpIssue, Destination: l.wallets[1], Amount: 9}}})
	before := stateBytes(t, n)
	n.Close()
	n = openReady(t, cfg)
	defer n.Close()
	if string(stateBytes(t, n)) != string(before) {
		t.Fatal("bolt-backed node lost state across restart")
	}
}

// A data dir an older version wrote (node.json without a format: data
// format 1) is refused at start with a message that says what to do, and
// nothing in it is touched.
func TestOlderDataFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	old := []byte(`{"nodeId":"node-old","shards":4,"groups":1}`)
	if err := os.WriteFile(filepath.Join(dir, "node.json"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(testConfig(dir))
	if !errors.Is(err, ErrDataFormat) {
		t.Fatalf("Open on a format-1 data dir: %v, want ErrDataFormat", err)
	}
	if !strings.Contains(err.Error(), "empty data dir") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "node.json")); !bytes.Equal(b, old) {
		t.Fatal("the refused data dir was changed")
	}
}

// With several groups, a deleted key pair's writes are refused in every
// group, by the log: DeleteKeyPair answers once each group has the
// revocation, whatever this node's key cache says. And a project in one
// group keeps all its customers there.
func TestDeletedKeyPairIsRevokedInEveryGroup(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Groups, cfg.Shards = 3, 1
	n := openReady(t, cfg)
	defer n.Close()
	ctx := context.Background()
	spread := propose(t, n, shard.Command{Kind: shard.CmdCreateProject, Name: "spread"}).Value.(shard.ProjectView)
	one := propose(t, n, shard.Command{Kind: shard.CmdCreateProject, Name: "one", GroupCount: 1}).Value.(shard.ProjectView)
	if len(spread.Groups) != 3 || len(one.Groups) != 1 {
		t.Fatalf("groups: %v and %v, want all 3 and 1", spread.Groups, one.Groups)
	}
	kp := propose(t, n, *NewKeyPairCommand(spread.ID, "k")).Value.(shard.KeyPair)
	by := shard.By{KeyPair: kp.ID, Keyed: true}
	// customers in every group of the spread project, and all in the one
	// group of the other
	inGroup := map[Scope]string{}
	for i := 0; len(inGroup) < 3; i++ {
		if i > 200 {
			t.Fatalf("customers never reached every group: %v", inGroup)
		}
		id := fmt.Sprintf("c%d", i)
		inGroup[n.CustomerScope(spread.ID, id)] = id
		if s := n.CustomerScope(one.ID, id); s != 1<<one.Groups[0] {
			t.Fatalf("a customer of the one-group project lands in scope %b, outside its group %d", s, one.Groups[0])
		}
	}
	for _, id := range inGroup {
		if r, err := n.UpsertCustomer(ctx, by, spread.ID, id, CustomerFields{}); err != nil || r.Code != shard.OK {
			t.Fatalf("upsert %s with a live key: %v %v", id, r.Code, err)
		}
	}
	if r, err := n.DeleteKeyPair(ctx, spread.ID, kp.ID); err != nil || r.Code != shard.OK {
		t.Fatalf("delete key pair: %v %v", r.Code, err)
	}
	// Put the key back in this node's cache, as a node whose meta replica
	// lags would still have it: the groups refuse the writes anyway.
	n.keys.put(kp)
	for scope, id := range inGroup {
		r, err := n.UpsertCustomer(ctx, by, spread.ID, id, CustomerFields{})
		if err != nil || r.Code != shard.KeyPairNotFound {
			t.Errorf("a write with the deleted key in group scope %b: %v %v, want API_KEY_PAIR_NOT_FOUND", scope, r.Code, err)
		}
	}
}

// A write outside the meta group does not go to it: only the first wallet
// of an asset made in another group marks the asset used there; the next
// ones leave the meta group's log as it was.
func TestWalletsOfAUsedAssetNeedNoTripToTheMetaGroup(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Groups, cfg.Shards = 2, 1
	n := openReady(t, cfg)
	defer n.Close()
	ctx := context.Background()
	p := propose(t, n, shard.Command{Kind: shard.CmdCreateProject, Name: "p"}).Value.(shard.ProjectView).ID
	a := propose(t, n, shard.Command{Kind: shard.CmdCreateAsset, Project: p, Name: "A", Code: "A", Fractions: 1}).Value.(shard.Asset).ID
	var inGroup1 []string
	for i := 0; len(inGroup1) < 2; i++ {
		if i > 100 {
			t.Fatal("no customers in group 1")
		}
		if id := fmt.Sprintf("c%d", i); n.CustomerScope(p, id) == 1<<1 {
			inGroup1 = append(inGroup1, id)
		}
	}
	wallet := func(id string) {
		t.Helper()
		if r, err := n.UpsertCustomer(ctx, shard.By{}, p, id, CustomerFields{}); err != nil || r.Code != shard.OK {
			t.Fatalf("customer %s: %v %v", id, r.Code, err)
		}
		if r, err := n.CreateWallet(ctx, shard.By{}, p, NewWallet{Customer: id, Asset: a}); err != nil || r.Code != shard.OK {
			t.Fatalf("wallet of %s: %v %v", id, r.Code, err)
		}
	}
	meta := n.meta()
	before := meta.applied.get()
	wallet(inGroup1[0])
	first := meta.applied.get()
	if first == before {
		t.Fatal("the first wallet of the asset did not mark it used in the meta group")
	}
	wallet(inGroup1[1])
	if after := meta.applied.get(); after != first {
		t.Fatalf("a second wallet of a used asset wrote to the meta group's log (applied %d → %d)", first, after)
	}
}
