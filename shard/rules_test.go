package shard

import (
	"testing"
)

func TestIDsRoundTrip(t *testing.T) {
	for _, w := range []WalletID{{0, 0}, {1023, IndexMax}, {7, 123456}} {
		got, ok := ParseWalletID(w.String())
		if !ok || got != w {
			t.Errorf("ParseWalletID(%q) = %v %v, want %v", w.String(), got, ok, w)
		}
		if len(w.String()) > 30 {
			t.Errorf("id %q longer than 30", w)
		}
	}
	for _, bad := range []string{"", "w", "t000000000", "w00000000O", "w0000000000", "W000000000", "wzz00000000"} {
		if _, ok := ParseWalletID(bad); ok {
			t.Errorf("ParseWalletID(%q) accepted", bad)
		}
	}
	if got, ok := ParseProjectID(ProjectID(42).String()); !ok || got != 42 {
		t.Errorf("project id round trip: %v %v", got, ok)
	}
	if len(EntryID(WalletID{1023, IndexMax}, IndexMax)) > 30 {
		t.Error("entry id longer than 30")
	}
}

func TestValidCustomerID(t *testing.T) {
	for _, ok := range []string{"a", "user_1.x:y@z-w", string(make([]byte, 0)) + "Z9"} {
		if !ValidCustomerID(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	long := make([]byte, 65)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a b", "a/b", "é", string(long)} {
		if ValidCustomerID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAssetRules(t *testing.T) {
	h := newHarness(t, 2)
	p := h.project()
	a := h.asset(p, "USD")
	if r := h.apply(Command{Kind: CmdCreateAsset, Project: p, Name: "x", Code: "USD", Fractions: 1}); r.Code != ValidationError {
		t.Fatalf("duplicate code: %s, want VALIDATION_ERROR", r.Code)
	}
	if r := h.apply(Command{Kind: CmdRenameAsset, Project: p, Asset: a, Name: "Dollar"}); r.Code != OK || r.Value.(Asset).Name != "Dollar" {
		t.Fatalf("rename: %+v", r)
	}
	// A second project cannot see the asset.
	p2 := h.project()
	if r := h.apply(Command{Kind: CmdDeleteAsset, Project: p2, Asset: a}); r.Code != AssetNotFound {
		t.Fatalf("cross-project delete: %s", r.Code)
	}
	h.customer(p, "c1")
	h.wallet(p, "c1", a)
	if got, _ := h.m.Meta.Asset(p, a); !got.Used {
		t.Fatal("asset not marked used after its first wallet")
	}
	if r := h.apply(Command{Kind: CmdDeleteAsset, Project: p, Asset: a}); r.Code != AssetIsUsed {
		t.Fatalf("delete used: %s, want ASSET_IS_USED", r.Code)
	}
	b := h.asset(p, "EUR")
	h.must(Command{Kind: CmdDeleteAsset, Project: p, Asset: b})
	if _, ok := h.m.Meta.Asset(p, b); ok {
		t.Fatal("deleted asset still readable")
	}
	if r := h.apply(Command{Kind: CmdCreateWallet, Project: p, Customer: "c1", Asset: b}); r.Code != AssetNotFound {
		t.Fatalf("wallet of deleted asset: %s", r.Code)
	}
	// The code of a deleted asset is free again.
	h.asset(p, "EUR")
	if n := len(h.m.Meta.Assets(p)); n != 2 {
		t.Fatalf("live assets: %d, want 2", n)
	}
}

func TestCustomerRules(t *testing.T) {
	h := newHarness(t, 3)
	p := h.project()
	a := h.asset(p, "PTS")

	r := h.apply(Command{Kind: CmdUpsertCustomer, Project: p, Customer: "alice", Name: "A", HasName: true})
	if r.Code != OK || !r.Created {
		t.Fatalf("create: %+v", r)
	}
	r = h.apply(Command{Kind: CmdUpsertCustomer, Project: p, Customer: "alice", Description: "d", HasDesc: true})
	if r.Code != OK || r.Created {
		t.Fatalf("update: %+v", r)
	}
	if v := r.Value.(CustomerView); v.Name != "A" || v.Description != "d" || v.Status != CustomerActive {
		t.Fatalf("upsert kept/changed the wrong fields: %+v", v)
	}
	w1 := h.wallet(p, "alice", a)
	w2 := h.wallet(p, "alice", a)
	h.must(Command{Kind: CmdSuspendCustomer, Project: p, Customer: "alice"})
	for _, w := range []WalletID{w1, w2} {
		if v, _ := h.m.Shards[w.Shard].Wallet(p, w.Index); v.Status != WalletSuspended {
			t.Fatalf("wallet %s: %s after suspend, want Suspended", w, v.Status)
		}
	}
	if r := h.apply(Command{Kind: CmdCreateWallet, Project: p, Customer: "alice", Asset: a}); r.Code != WrongWalletStatus {
		t.Fatalf("wallet for suspended customer: %s, want WRONG_WALLET_STATUS", r.Code)
	}
	if r := h.apply(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w1, Status: WalletOpen}); r.Code != ChangeWalletStatusError {
		t.Fatalf("open wallet of suspended customer: %s", r.Code)
	}
	// Resume reopens only the listed wallets; a foreign wallet fails the whole call.
	h.customer(p, "bob")
	wb := h.wallet(p, "bob", a)
	if r := h.apply(Command{Kind: CmdResumeCustomer, Project: p, Customer: "alice", Wallets: []WalletID{w1, wb}}); r.Code != WalletNotFound {
		t.Fatalf("resume with foreign wallet: %s, want WALLET_NOT_FOUND", r.Code)
	}
	if v, _ := h.m.Shards[customerShard(p, "alice", 3)].Customer(p, "alice"); v.Status != CustomerSuspended {
		t.Fatalf("failed resume changed the customer: %s", v.Status)
	}
	h.must(Command{Kind: CmdResumeCustomer, Project: p, Customer: "alice", Wallets: []WalletID{w1}})
	v1, _ := h.m.Shards[w1.Shard].Wallet(p, w1.Index)
	v2, _ := h.m.Shards[w2.Shard].Wallet(p, w2.Index)
	if v1.Status != WalletOpen || v2.Status != WalletSuspended {
		t.Fatalf("after resume: %s %s, want Open Suspended", v1.Status, v2.Status)
	}
	// Delete needs every wallet Closed.
	if r := h.apply(Command{Kind: CmdDeleteCustomer, Project: p, Customer: "alice"}); r.Code != CustomerHasActiveWallets {
		t.Fatalf("delete with open wallets: %s", r.Code)
	}
	h.must(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w1, Status: WalletClosed})
	h.must(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w2, Status: WalletClosed})
	r = h.must(Command{Kind: CmdDeleteCustomer, Project: p, Customer: "alice"})
	if v := r.Value.(CustomerView); v.Status != CustomerDeleted || v.Name != "" || v.Description != "" {
		t.Fatalf("deleted customer keeps data: %+v", v)
	}
	if r := h.apply(Command{Kind: CmdUpsertCustomer, Project: p, Customer: "alice"}); r.Code != CustomerAlreadyExist {
		t.Fatalf("upsert deleted: %s, want CUSTOMER_ALREADY_EXIST", r.Code)
	}
	for _, k := range []Kind{CmdSuspendCustomer, CmdResumeCustomer} {
		if r := h.apply(Command{Kind: k, Project: p, Customer: "alice"}); r.Code != CustomerNotFound {
			t.Fatalf("%s on deleted: %s", k, r.Code)
		}
		if r := h.apply(Command{Kind: k, Project: p, Customer: "nobody"}); r.Code != CustomerNotFound {
			t.Fatalf("%s on unknown: %s", k, r.Code)
		}
	}
	if r := h.apply(Command{Kind: CmdCreateWallet, Project: p, Customer: "nobody", Asset: a}); r.Code != CustomerNotFound {
		t.Fatalf("wallet for unknown customer: %s", r.Code)
	}
	// Another project has its own namespace of customer ids.
	p2 := h.project()
	if r := h.apply(Command{Kind: CmdUpsertCustomer, Project: p2, Customer: "alice"}); r.Code != OK || !r.Created {
		t.Fatalf("same id in another project: %+v", r)
	}
}

func TestWalletStatusRules(t *testing.T) {
	h := newHarness(t, 2)
	p := h.project()
	a := h.asset(p, "X")
	h.customer(p, "c")
	w := h.wallet(p, "c", a)
	set := func(s WalletStatus) Code {
		return h.apply(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w, Status: s}).Code
	}
	steps := []struct {
		to   WalletStatus
		want Code
	}{
		{WalletSuspended, OK}, {WalletSuspended, OK}, {WalletOpen, OK}, {WalletOpen, OK},
	}
	for _, s := range steps {
		if got := set(s.to); got != s.want {
			t.Fatalf("set %s: %s, want %s", s.to, got, s.want)
		}
	}
	h.must(Command{Kind: CmdTransaction, Project: p, ReferenceID: "r1", Ops: []Op{issue(w, 5)}})
	if got := set(WalletClosed); got != ChangeWalletStatusError {
		t.Fatalf("close with balance: %s", got)
	}
	sw := h.systemWallet(p, a)
	h.must(Command{Kind: CmdTransaction, Project: p, ReferenceID: "r2", Ops: []Op{transfer(w, sw, 5)}})
	if got := set(WalletClosed); got != OK {
		t.Fatalf("close at zero: %s", got)
	}
	for _, s := range []WalletStatus{WalletOpen, WalletSuspended} {
		if got := set(s); got != ChangeWalletStatusError {
			t.Fatalf("leave Closed to %s: %s", s, got)
		}
	}
	if got := set(WalletClosed); got != OK {
		t.Fatalf("Closed→Closed: %s, want a no-op", got)
	}
	if r := h.apply(Command{Kind: CmdSetWalletName, Project: p, Wallet: WalletID{0, 999}, Name: "x"}); r.Code != WalletNotFound {
		t.Fatalf("unknown wallet: %s", r.Code)
	}
	p2 := h.project()
	if r := h.apply(Command{Kind: CmdSetWalletName, Project: p2, Wallet: w, Name: "x"}); r.Code != WalletNotFound {
		t.Fatalf("other project's wallet: %s", r.Code)
	}
}

func TestTransactionRules(t *testing.T) {
	h := newHarness(t, 4)
	p := h.project()
	usd, eur := h.asset(p, "USD"), h.asset(p, "EUR")
	h.customer(p, "a")
	h.customer(p, "b")
	A, B := h.wallet(p, "a", usd), h.wallet(p, "b", usd)
	E := h.wallet(p, "b", eur)
	S := h.wallet(p, "a", usd)
	h.must(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: S, Status: WalletSuspended})
	p2 := h.project()
	u2 := h.asset(p2, "USD")
	h.customer(p2, "z")
	Z := h.wallet(p2, "z", u2)

	// Steps are checked in order on running balances.
	r := h.tx(p, "ok1", issue(A, 10), transfer(A, B, 10))
	if r.Code != OK || r.Value.(*Tx).Status != TxCompleted {
		t.Fatalf("issue then transfer on empty wallet: %+v", r)
	}
	if h.balance(p, A) != 0 || h.balance(p, B) != 10 {
		t.Fatalf("balances %d %d, want 0 10", h.balance(p, A), h.balance(p, B))
	}

	cases := []struct {
		name  string
		ops   []Op
		code  Code
		opIdx int32
	}{
		{"insufficient", []Op{transfer(A, B, 1)}, InsufficientFunds, 0},
		{"insufficient later step", []Op{transfer(B, A, 10), redeem(A, 11)}, InsufficientFunds, 1},
		{"unknown wallet", []Op{issue(A, 1), issue(WalletID{0, 9999}, 1)}, WalletNotFound, 1},
		{"wallet on no shard", []Op{issue(WalletID{1000, 0}, 1)}, WalletNotFound, 0},
		{"other project's wallet", []Op{issue(Z, 1)}, WalletNotFound, 0},
		{"suspended wallet", []Op{transfer(B, S, 1)}, WrongWalletStatus, 0},
		{"suspended destination of issue", []Op{issue(S, 1)}, WrongWalletStatus, 0},
		{"asset mismatch", []Op{transfer(B, E, 1)}, ValidationError, 0},
		{"overflow", []Op{issue(B, AmountMax)}, LimitExceeded, 0},
	}
	for i, c := range cases {
		before := []int64{h.balance(p, A), h.balance(p, B), h.balance(p, E)}
		r := h.tx(p, "f"+string(rune('a'+i)), c.ops...)
		tx, _ := r.Value.(*Tx)
		if r.Code != c.code || tx == nil || tx.Status != TxFailed || tx.ErrCode != c.code || int32(tx.ErrOpIndex) != c.opIdx {
			t.Errorf("%s: got %s %+v, want %s at op %d", c.name, r.Code, tx, c.code, c.opIdx)
			continue
		}
		after := []int64{h.balance(p, A), h.balance(p, B), h.balance(p, E)}
		for j := range before {
			if before[j] != after[j] {
				t.Errorf("%s: a failed transaction changed balance %d: %d → %d", c.name, j, before[j], after[j])
			}
		}
		if tx.ErrMessage() == "" {
			t.Errorf("%s: no message", c.name)
		}
	}

	// A self-transfer at the top of the range is no overflow: the credit
	// lands on the debited balance. (The API refuses self-transfers; the
	// state machine must still be right for whatever the log carries.)
	h.customer(p, "full")
	F := h.wallet(p, "full", usd)
	if r := h.tx(p, "fill", issue(F, AmountMax)); r.Code != OK {
		t.Fatalf("fill: %s", r.Code)
	}
	if r := h.tx(p, "self", transfer(F, F, 5)); r.Code != OK || h.balance(p, F) != AmountMax {
		t.Fatalf("self-transfer on a full wallet: %s, balance %d", r.Code, h.balance(p, F))
	}

	// A used referenceId answers the stored record, whatever the body, and never applies twice.
	first := h.tx(p, "dup", issue(A, 7))
	again := h.tx(p, "dup", issue(A, 1000))
	if again.Code != DuplicateReferenceID || again.Value.(*Tx) != first.Value.(*Tx) {
		t.Fatalf("retry: %+v", again)
	}
	if h.balance(p, A) != 7 {
		t.Fatalf("retry applied twice: balance %d", h.balance(p, A))
	}
	// A Failed transaction uses up its referenceId too.
	if r := h.tx(p, "fa", issue(A, 1)); r.Code != DuplicateReferenceID || r.Value.(*Tx).Status != TxFailed {
		t.Fatalf("retry of failed: %+v", r)
	}
	// The same referenceId is free in another project.
	if r := h.tx(p2, "dup", issue(Z, 1)); r.Code != OK {
		t.Fatalf("same ref in another project: %s", r.Code)
	}
}

func TestEntriesRecordEveryStep(t *testing.T) {
	h := newHarness(t, 2)
	p := h.project()
	a := h.asset(p, "X")
	h.customer(p, "a")
	h.customer(p, "b")
	A, B := h.wallet(p, "a", a), h.wallet(p, "b", a)
	r := h.must(Command{Kind: CmdTransaction, Project: p, ReferenceID: "r", Ops: []Op{issue(A, 10), transfer(A, B, 4), redeem(B, 1)}})
	tx := r.Value.(*Tx)
	pa, _ := h.m.Shards[A.Shard].Entries(p, A.Index, 0, 1<<62, 0, 100)
	pb, _ := h.m.Shards[B.Shard].Entries(p, B.Index, 0, 1<<62, 0, 100)
	if pa.Total != 2 || pb.Total != 2 {
		t.Fatalf("entries: %d %d, want 2 2", pa.Total, pb.Total)
	}
	want := []struct {
		e    EntryView
		typ  EntryType
		amt  int64
		bal  int64
		op   uint16
		peer WalletID
	}{
		{pa.Items[0], EntryIssue, 10, 10, 0, WalletID{}},
		{pa.Items[1], EntryTransferOut, 4, 6, 1, B},
		{pb.Items[0], EntryTransferIn, 4, 4, 1, A},
		{pb.Items[1], EntryRedeem, 1, 3, 2, WalletID{}},
	}
	for i, w := range want {
		e := w.e
		if e.Type != w.typ || e.Amount != w.amt || e.Balance != w.bal || e.OpIndex != w.op || e.Tx() != tx.ID || e.CreatedAt != tx.CreatedAt {
			t.Errorf("entry %d: %+v", i, e)
		}
		// A transfer's entries name the other wallet; an issue's or a
		// redeem's name none.
		wantPeer := w.typ == EntryTransferIn || w.typ == EntryTransferOut
		if e.HasCounterparty() != wantPeer || (wantPeer && e.Counterparty() != w.peer) {
			t.Errorf("entry %d: has counterparty %v (%s), want %v (%s)", i, e.HasCounterparty(), e.Counterparty(), wantPeer, w.peer)
		}
	}
	// Time range is from ≤ createdAt < to.
	if pg, _ := h.m.Shards[A.Shard].Entries(p, A.Index, tx.CreatedAt, tx.CreatedAt, 0, 10); pg.Total != 0 {
		t.Errorf("empty range returned %d", pg.Total)
	}
	if pg, _ := h.m.Shards[A.Shard].Entries(p, A.Index, tx.CreatedAt, tx.CreatedAt+1, 1, 1); pg.Total != 2 || len(pg.Items) != 1 || pg.Items[0].N != 1 {
		t.Errorf("second page of one: %+v", pg)
	}
}

func TestListsArePagedInCreationOrder(t *testing.T) {
	h := newHarness(t, 4)
	p := h.project()
	a := h.asset(p, "X")
	var ids []string
	for i := 0; i < 25; i++ {
		id := string(rune('a'+i%26)) + "-" + string(rune('0'+i/10)) + string(rune('0'+i%10))
		h.customer(p, id)
		ids = append(ids, id)
	}
	pg := h.m.Customers(p, 1, 10)
	if pg.Total != 25 || len(pg.Items) != 10 {
		t.Fatalf("customers page: total %d items %d", pg.Total, len(pg.Items))
	}
	for i, c := range pg.Items {
		if c.ID != ids[10+i] {
			t.Fatalf("customer %d: %s, want %s", 10+i, c.ID, ids[10+i])
		}
	}
	if pg := h.m.Customers(p, 3, 10); len(pg.Items) != 0 || pg.Total != 25 {
		t.Fatalf("page past the end: %+v", pg)
	}
	w := h.wallet(p, ids[0], a)
	var txs []TxID
	for i := 0; i < 30; i++ {
		r := h.must(Command{Kind: CmdTransaction, Project: p, ReferenceID: "ref" + string(rune('A'+i)), Ops: []Op{issue(w, 1)}})
		txs = append(txs, r.Value.(*Tx).ID)
	}
	all := h.m.Transactions(p, 0, 1<<62, 0, 1000)
	if all.Total != 30 {
		t.Fatalf("transactions total %d", all.Total)
	}
	for i, tx := range all.Items {
		if tx.ID != txs[i] {
			t.Fatalf("transaction %d out of order", i)
		}
	}
	mid := all.Items[10].CreatedAt
	if pg := h.m.Transactions(p, mid, mid+5, 0, 2); pg.Total != 5 || pg.Items[0].ID != txs[10] || len(pg.Items) != 2 {
		t.Fatalf("range page: %+v", pg)
	}
	h.systemWallet(p, a)
	h.systemWallet(p, a)
	if n := len(h.m.SystemWallets(p)); n != 2 {
		t.Fatalf("system wallets %d", n)
	}
}

func TestCheckInvariantsCatchesDamage(t *testing.T) {
	h := newHarness(t, 2)
	p := h.project()
	a := h.asset(p, "X")
	h.customer(p, "c")
	w := h.wallet(p, "c", a)
	h.must(Command{Kind: CmdTransaction, Project: p, ReferenceID: "r", Ops: []Op{issue(w, 5)}})
	if err := h.m.CheckInvariants(); err != nil {
		t.Fatalf("sound ledger: %v", err)
	}
	h.m.Shards[w.Shard].wallets[w.Index].Balance++ // money from nowhere
	if err := h.m.CheckInvariants(); err == nil {
		t.Fatal("a balance that entries do not explain passed")
	}
}
