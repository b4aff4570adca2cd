package shard

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// model is the simplest possible ledger: balances in a map, transactions
// checked step by step on a copy. The machine must agree with it on every
// outcome and every balance.
type model struct {
	balance map[WalletID]int64
	asset   map[WalletID]AssetID
	open    map[WalletID]bool
	refs    map[string]Code
	net     map[AssetID]int64 // issued minus redeemed
}

func (md *model) tx(ops []Op) (Code, int) {
	bal := map[WalletID]int64{}
	get := func(w WalletID) (int64, bool) {
		if b, ok := bal[w]; ok {
			return b, true
		}
		b, ok := md.balance[w]
		return b, ok
	}
	for i, op := range ops {
		sb, sok := get(op.Source)
		db, dok := get(op.Destination)
		if (op.Type != OpIssue && !sok) || (op.Type != OpRedeem && !dok) {
			return WalletNotFound, i
		}
		if (op.Type != OpIssue && !md.open[op.Source]) || (op.Type != OpRedeem && !md.open[op.Destination]) {
			return WrongWalletStatus, i
		}
		if op.Type == OpTransfer && md.asset[op.Source] != md.asset[op.Destination] {
			return ValidationError, i
		}
		if op.Type != OpIssue {
			if sb < op.Amount {
				return InsufficientFunds, i
			}
			bal[op.Source] = sb - op.Amount
		}
		if op.Type != OpRedeem {
			db, _ = get(op.Destination) // a self-transfer sees its own debit
			if db > AmountMax-op.Amount {
				return LimitExceeded, i
			}
			bal[op.Destination] = db + op.Amount
		}
	}
	for w, b := range bal {
		md.balance[w] = b
	}
	for _, op := range ops {
		switch op.Type {
		case OpIssue:
			md.net[md.asset[op.Destination]] += op.Amount
		case OpRedeem:
			md.net[md.asset[op.Source]] -= op.Amount
		}
	}
	return OK, 0
}

func TestPropertyLedgerMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		shards := rapid.IntRange(1, 5).Draw(t, "shards")
		h := newHarness(t, shards)
		p := h.project()
		assets := []AssetID{h.asset(p, "A"), h.asset(p, "B")}
		md := &model{balance: map[WalletID]int64{}, asset: map[WalletID]AssetID{}, open: map[WalletID]bool{},
			refs: map[string]Code{}, net: map[AssetID]int64{}}
		var wallets []WalletID
		newWallet := func(i int) {
			a := assets[i%2]
			var w WalletID
			if i%3 == 0 {
				w = h.systemWallet(p, a)
			} else {
				c := fmt.Sprintf("c%d", i%4)
				h.customer(p, c)
				w = h.wallet(p, c, a)
			}
			wallets = append(wallets, w)
			md.balance[w], md.asset[w], md.open[w] = 0, a, true
		}
		for i := 0; i < 4; i++ {
			newWallet(i)
		}
		walletGen := rapid.Custom(func(t *rapid.T) WalletID {
			if rapid.IntRange(0, 20).Draw(t, "missing") == 0 {
				return WalletID{uint16(rapid.IntRange(0, shards-1).Draw(t, "sh")), 5000}
			}
			return rapid.SampledFrom(wallets).Draw(t, "w")
		})
		amount := rapid.OneOf(rapid.Int64Range(1, 100), rapid.Int64Range(1, AmountMax), rapid.Just(AmountMax))
		opGen := rapid.Custom(func(t *rapid.T) Op {
			op := Op{Type: OpType(rapid.IntRange(1, 3).Draw(t, "type")), Amount: amount.Draw(t, "amount")}
			if op.Type != OpIssue {
				op.Source = walletGen.Draw(t, "src")
			}
			if op.Type != OpRedeem {
				op.Destination = walletGen.Draw(t, "dst")
			}
			return op
		})
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0:
				newWallet(len(wallets))
			case 1:
				w := rapid.SampledFrom(wallets).Draw(t, "toggle")
				to := WalletSuspended
				if !md.open[w] {
					to = WalletOpen
				}
				if h.apply(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w, Status: to}).Code == OK {
					md.open[w] = to == WalletOpen
				}
			default:
				ref := fmt.Sprintf("r%d", rapid.IntRange(0, 40).Draw(t, "ref"))
				ops := rapid.SliceOfN(opGen, 1, 5).Draw(t, "ops")
				r := h.tx(p, ref, ops...)
				if prev, used := md.refs[ref]; used {
					if r.Code != DuplicateReferenceID || r.Value.(*Tx).ErrCode != prev {
						t.Fatalf("reused ref %s: %s, stored %s", ref, r.Code, prev)
					}
					continue
				}
				code, at := md.tx(ops)
				md.refs[ref] = code
				tx := r.Value.(*Tx)
				if r.Code != code || (code != OK && int(tx.ErrOpIndex) != at) {
					t.Fatalf("ops %+v: machine %s at %d, model %s at %d", ops, r.Code, tx.ErrOpIndex, code, at)
				}
			}
		}
		for _, w := range wallets {
			if got := h.balance(p, w); got != md.balance[w] || got < 0 {
				t.Fatalf("wallet %s: balance %d, model %d", w, got, md.balance[w])
			}
		}
		balances, issued := h.m.Totals()
		for _, a := range assets {
			if balances[a] != issued[a] || balances[a] != md.net[a] {
				t.Fatalf("asset %s: balances %d, issued-redeemed %d, model %d", a, balances[a], issued[a], md.net[a])
			}
		}
	})
}

// randomCommands makes a reproducible workload touching every command kind.
func randomCommands(t *rapid.T, shards int) []Command {
	var cmds []Command
	cmds = append(cmds,
		Command{Kind: CmdCreateProject, Name: "p"},
		Command{Kind: CmdCreateAsset, Name: "a", Code: "A", Fractions: 100},
		Command{Kind: CmdCreateKeyPair, Name: "k", Secret: "s", SignatureKey: "sig"},
	)
	n := rapid.IntRange(1, 80).Draw(t, "n")
	for i := 0; i < n; i++ {
		cust := fmt.Sprintf("c%d", rapid.IntRange(0, 6).Draw(t, "c"))
		w := WalletID{uint16(rapid.IntRange(0, shards-1).Draw(t, "ws")), uint32(rapid.IntRange(0, 6).Draw(t, "wi"))}
		w2 := WalletID{uint16(rapid.IntRange(0, shards-1).Draw(t, "ws2")), uint32(rapid.IntRange(0, 6).Draw(t, "wi2"))}
		var c Command
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0:
			c = Command{Kind: CmdUpsertCustomer, Customer: cust, Name: "n", HasName: true}
		case 1:
			c = Command{Kind: CmdCreateWallet, Customer: cust}
		case 2:
			c = Command{Kind: CmdCreateSystemWallet, Shard: w.Shard}
		case 3:
			c = Command{Kind: CmdSuspendCustomer, Customer: cust}
		case 4:
			c = Command{Kind: CmdResumeCustomer, Customer: cust, Wallets: []WalletID{w}}
		case 5:
			c = Command{Kind: CmdSetWalletStatus, Wallet: w, Status: WalletStatus(rapid.IntRange(1, 3).Draw(t, "st"))}
		default:
			c = Command{Kind: CmdTransaction, ReferenceID: fmt.Sprintf("r%d", rapid.IntRange(0, 30).Draw(t, "r")),
				Ops: []Op{issue(w, 50), transfer(w, w2, rapid.Int64Range(1, 60).Draw(t, "amt"))}}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

func applyAll(m *Machine, cmds []Command) []Result {
	out := make([]Result, len(cmds))
	for i := range cmds {
		c := cmds[i] // each machine gets its own copy of the command
		c.Ops = append([]Op(nil), c.Ops...)
		out[i] = m.Apply(Context{Seq: uint64(i+1) << 16, TimeMs: 1000 + int64(i/3)}, &c)
	}
	return out
}

func snapshotBytes(t tb, m *Machine) []byte {
	var buf bytes.Buffer
	if _, err := m.Freeze().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Two fresh machines fed the same log end byte-identical, and a snapshot
// restores to a machine that encodes to the same bytes and behaves the same.
func TestDeterminismAndSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		shards := rapid.IntRange(1, 4).Draw(t, "shards")
		cmds := randomCommands(t, shards)
		split := rapid.IntRange(0, len(cmds)).Draw(t, "split")
		m1, m2 := NewMachine(shards), NewMachine(shards)
		applyAll(m1, cmds)
		applyAll(m2, cmds)
		b1, b2 := snapshotBytes(t, m1), snapshotBytes(t, m2)
		if !bytes.Equal(b1, b2) {
			t.Fatal("same log, different state")
		}
		// Snapshot at split, restore, apply the rest: same end state.
		m3 := NewMachine(shards)
		applyAll(m3, cmds[:split])
		restored, err := ReadMachine(snapshotBytes(t, m3))
		if err != nil {
			t.Fatal(err)
		}
		for i := split; i < len(cmds); i++ {
			c := cmds[i]
			c.Ops = append([]Op(nil), c.Ops...)
			restored.Apply(Context{Seq: uint64(i+1) << 16, TimeMs: 1000 + int64(i/3)}, &c)
		}
		if !bytes.Equal(snapshotBytes(t, restored), b1) {
			t.Fatal("snapshot + tail differs from the full log")
		}
	})
}

// A frozen copy does not change when the machine goes on applying.
func TestFreezeIsIsolatedFromLaterApplies(t *testing.T) {
	h := newHarness(t, 2)
	p := h.project()
	a := h.asset(p, "X")
	h.customer(p, "c")
	w := h.wallet(p, "c", a)
	h.tx(p, "r1", issue(w, 5))
	f := h.m.Freeze()
	var before bytes.Buffer
	f.WriteTo(&before)
	h.tx(p, "r2", issue(w, 5))
	h.must(Command{Kind: CmdSetWalletName, Project: p, Wallet: w, Name: "changed"})
	h.customer(p, "d")
	var after bytes.Buffer
	f.WriteTo(&after)
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Fatal("frozen state changed after later applies")
	}
}

func FuzzReadMachine(f *testing.F) {
	h := newHarness(f, 2)
	p := h.project()
	a := h.asset(p, "X")
	h.customer(p, "c")
	w := h.wallet(p, "c", a)
	h.tx(p, "r1", issue(w, 5))
	f.Add(snapshotBytes(f, h.m))
	// A group with a transaction across groups prepared, one finished,
	// and one record still Waiting.
	c := newGroups(f, 2, 1)
	for i := range c.ms {
		c.apply(i, 1, Command{Kind: CmdCreateProject, Name: "p"})
		c.apply(i, 1, Command{Kind: CmdCreateAsset, Code: "A", Fractions: 1})
		c.apply(i, 1, Command{Kind: CmdCreateSystemWallet, Shard: uint16(i)})
	}
	w0, w1 := WalletID{Shard: 0}, WalletID{Shard: 1}
	c.coordinator(0, "done", 2, []Op{issue(w0, 9), transfer(w0, w1, 4)}).run()
	half := c.coordinator(0, "half", 3, []Op{transfer(w0, w1, 2)})
	for half.step <= len(half.parts) {
		half.next()
	}
	f.Add(snapshotBytes(f, c.ms[0]))
	f.Add(snapshotBytes(f, c.ms[1]))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMachine(data)
		if err != nil {
			return
		}
		// Whatever decodes is a sound part of a ledger: a snapshot is
		// restored on every replica, and a broken one must be refused, not
		// served. (Conservation needs every group: a snapshot is one.)
		if err := m.CheckLocal(); err != nil {
			t.Fatalf("a decoded snapshot breaks the invariants: %v", err)
		}
		// Whatever decodes must encode and decode again to the same state.
		b := snapshotBytes(t, m)
		m2, err := ReadMachine(b)
		if err != nil || !bytes.Equal(snapshotBytes(t, m2), b) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
