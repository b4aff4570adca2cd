package shard

import "testing"

// Writes carry who made them, and the log position decides: a write made
// with a key pair that is revoked before it in the log is refused, in the
// meta group (DeleteKeyPair) and in any other (RevokeKeyPair), and a
// snapshot keeps the revocation.
func TestRevokedKeyPairWritesAreRefusedWhereTheyApply(t *testing.T) {
	h := newHarness(t, 2)
	p := h.project()
	kp := h.must(Command{Kind: CmdCreateKeyPair, Project: p, Name: "k"}).Value.(KeyPair)
	by := By{KeyPair: kp.ID, Keyed: true}
	upsert := func(id string) Result {
		c := Command{Kind: CmdUpsertCustomer, Project: p, Customer: id}
		by.Stamp(&c)
		return h.apply(c)
	}
	if r := upsert("before"); r.Code != OK {
		t.Fatalf("a write with a live key: %s", r.Code)
	}
	h.must(Command{Kind: CmdDeleteKeyPair, Project: p, KeyPair: kp.ID})
	if r := upsert("after"); r.Code != KeyPairNotFound {
		t.Fatalf("a write after the key pair's delete: %s, want API_KEY_PAIR_NOT_FOUND", r.Code)
	}
	if r := h.apply(Command{Kind: CmdUpsertCustomer, Project: p, Customer: "operator"}); r.Code != OK {
		t.Fatalf("the operator's write: %s", r.Code)
	}

	// Another group learns of it from RevokeKeyPair, and keeps it in its
	// snapshot.
	other := NewGroupMachine(Layout{Base: 2, Count: 2, Groups: 2})
	other.Apply(Context{Seq: 1}, &Command{Kind: CmdRevokeKeyPair, KeyPair: kp.ID})
	restored, err := ReadMachine(snapshotBytes(t, other))
	if err != nil {
		t.Fatal(err)
	}
	c := Command{Kind: CmdUpsertCustomer, Project: p, Customer: "x", Shard: 2}
	by.Stamp(&c)
	if r := restored.Apply(Context{Seq: 2}, &c); r.Code != KeyPairNotFound {
		t.Fatalf("a write in a restored group after RevokeKeyPair: %s, want API_KEY_PAIR_NOT_FOUND", r.Code)
	}
}

// A Customer Key's writes are checked where they apply: its own customer
// and wallets only, nothing while the customer is Suspended, and nothing
// once it is Deleted.
func TestCustomerKeyWritesAreCheckedWhereTheyApply(t *testing.T) {
	h := newHarness(t, 2)
	p := h.project()
	a := h.asset(p, "EUR")
	h.customer(p, "alice")
	h.customer(p, "bob")
	aliceW, bobW := h.wallet(p, "alice", a), h.wallet(p, "bob", a)
	sys := h.systemWallet(p, a)
	alice := By{Keyed: true, Customer: "alice"}
	rename := func(w WalletID) Code {
		c := Command{Kind: CmdSetWalletName, Project: p, Wallet: w, Name: "n"}
		alice.Stamp(&c)
		return h.apply(c).Code
	}
	upsert := func(id string) Code {
		c := Command{Kind: CmdUpsertCustomer, Project: p, Customer: id, Name: "x", HasName: true}
		alice.Stamp(&c)
		return h.apply(c).Code
	}
	for _, c := range []struct {
		what      string
		got, want Code
	}{
		{"her own wallet", rename(aliceW), OK},
		{"bob's wallet", rename(bobW), AccessDenied},
		{"a system wallet", rename(sys), AccessDenied},
		{"herself", upsert("alice"), OK},
		{"bob", upsert("bob"), AccessDenied},
	} {
		if c.got != c.want {
			t.Errorf("alice's Customer Key on %s: %s, want %s", c.what, c.got, c.want)
		}
	}
	// Suspended: refused until resumed.
	h.must(Command{Kind: CmdSuspendCustomer, Project: p, Customer: "alice"})
	if got, got2 := rename(aliceW), upsert("alice"); got != AccessDenied || got2 != AccessDenied {
		t.Errorf("a Suspended customer's key: renaming its wallet %s, on itself %s, want ACCESS_DENIED", got, got2)
	}
	h.must(Command{Kind: CmdResumeCustomer, Project: p, Customer: "alice"})
	if got := rename(aliceW); got != OK {
		t.Errorf("a resumed customer's key renaming its wallet: %s, want OK", got)
	}
	h.must(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: aliceW, Status: WalletClosed})
	h.must(Command{Kind: CmdDeleteCustomer, Project: p, Customer: "alice"})
	if got := rename(aliceW); got != AccessDenied {
		t.Errorf("a Deleted customer's key renaming its wallet: %s, want ACCESS_DENIED", got)
	}
	if got := upsert("alice"); got != AccessDenied {
		t.Errorf("a Deleted customer's key on itself: %s, want ACCESS_DENIED", got)
	}
}
