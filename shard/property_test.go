package shard

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// model is the simplest possible ledger: maps of customers and wallets,
// transactions checked step by step on a copy. It derives every outcome
// (codes included) from the rules of API.md on its own; the machine must
// agree with it on every outcome, every balance and every status.
type model struct {
	wallets   map[WalletID]*modelWallet
	holds     map[modelRef]*modelHold
	customers map[modelCustomerKey]CustomerStatus // absent: never created
	refs      map[modelRef]Code
	net       map[AssetID]int64 // issued minus redeemed
}

type modelWallet struct {
	project  ProjectID
	asset    AssetID
	customer string // "" for a system wallet
	status   WalletStatus
	balance  int64
	// What open holds reserve: debits may not spend it, credits may not
	// use the headroom.
	reservedDebit, reservedCredit int64
}

// modelHold is a hold the model made: its operations, what it reserves on
// each wallet, its deadline in log time (0: none) and its status.
type modelHold struct {
	project  ProjectID
	ops      []Op
	attempt  Attempt
	reserved map[WalletID][2]int64 // debit, credit
	deadline int64
	status   TxStatus
}

type modelCustomerKey struct {
	project ProjectID
	id      string
}

type modelRef struct {
	project ProjectID
	ref     string
}

// wallet is the wallet as project p sees it: another project's is missing.
func (md *model) wallet(p ProjectID, id WalletID) *modelWallet {
	if w := md.wallets[id]; w != nil && w.project == p {
		return w
	}
	return nil
}

func (md *model) tx(p ProjectID, ops []Op) (Code, int) {
	code, at, bal := md.check(p, ops)
	if code != OK {
		return code, at
	}
	md.post(bal, ops)
	return OK, 0
}

// hold checks ops as tx does and, when they pass, reserves on each wallet
// the deepest its running balance goes below where it started and the
// highest it goes above.
func (md *model) hold(p ProjectID, ref modelRef, ops []Op, a Attempt, deadline int64) (Code, int) {
	code, at, _ := md.check(p, ops)
	if code != OK {
		return code, at
	}
	h := &modelHold{project: p, ops: ops, attempt: a, reserved: map[WalletID][2]int64{}, deadline: deadline, status: TxHeld}
	run := map[WalletID]int64{}
	note := func(id WalletID, delta int64) {
		run[id] += delta
		r := h.reserved[id]
		r[0], r[1] = max(r[0], -run[id]), max(r[1], run[id])
		h.reserved[id] = r
	}
	for _, op := range ops {
		if op.Type != OpIssue {
			note(op.Source, -op.Amount)
		}
		if op.Type != OpRedeem {
			note(op.Destination, op.Amount)
		}
	}
	md.reserve(h, 1)
	md.holds[ref] = h
	return OK, 0
}

func (md *model) reserve(h *modelHold, sign int64) {
	for id, r := range h.reserved {
		md.wallets[id].reservedDebit += sign * r[0]
		md.wallets[id].reservedCredit += sign * r[1]
	}
}

// finish ends a hold as to asks at log time now, and returns its status:
// past its deadline it expires instead; an expiry before it does nothing;
// a hold that ended stays as it is.
func (md *model) finish(h *modelHold, to TxStatus, now int64) TxStatus {
	if h.status != TxHeld {
		return h.status
	}
	switch {
	case h.deadline != 0 && now >= h.deadline:
		to = TxExpired
	case to == TxExpired:
		return TxHeld
	}
	md.reserve(h, -1)
	h.status = to
	if to == TxCompleted {
		bal := map[WalletID]int64{}
		for _, op := range h.ops {
			if op.Type != OpIssue {
				bal[op.Source] = md.balanceIn(bal, op.Source) - op.Amount
			}
			if op.Type != OpRedeem {
				bal[op.Destination] = md.balanceIn(bal, op.Destination) + op.Amount
			}
		}
		md.post(bal, h.ops)
	}
	return to
}

func (md *model) balanceIn(bal map[WalletID]int64, id WalletID) int64 {
	if b, ok := bal[id]; ok {
		return b
	}
	return md.wallets[id].balance
}

// check runs ops on running balances against what is available, and
// returns the first failure, or OK and the balances they leave.
func (md *model) check(p ProjectID, ops []Op) (Code, int, map[WalletID]int64) {
	bal := map[WalletID]int64{}
	get := func(id WalletID) int64 {
		if b, ok := bal[id]; ok {
			return b
		}
		return md.wallets[id].balance
	}
	for i, op := range ops {
		var src, dst *modelWallet // an issue has no source, a redeem no destination
		if op.Type != OpIssue {
			src = md.wallet(p, op.Source)
		}
		if op.Type != OpRedeem {
			dst = md.wallet(p, op.Destination)
		}
		if (op.Type != OpIssue && src == nil) || (op.Type != OpRedeem && dst == nil) {
			return WalletNotFound, i, nil
		}
		if (src != nil && src.status != WalletOpen) || (dst != nil && dst.status != WalletOpen) {
			return WrongWalletStatus, i, nil
		}
		if op.Type == OpTransfer && src.asset != dst.asset {
			return ValidationError, i, nil
		}
		if op.Type != OpIssue {
			sb := get(op.Source)
			if sb-src.reservedDebit < op.Amount {
				return InsufficientFunds, i, nil
			}
			bal[op.Source] = sb - op.Amount
		}
		if op.Type != OpRedeem {
			db := get(op.Destination) // a self-transfer sees its own debit
			if db+dst.reservedCredit > AmountMax-op.Amount {
				return LimitExceeded, i, nil
			}
			bal[op.Destination] = db + op.Amount
		}
	}
	return OK, 0, bal
}

// post sets the balances ops left and counts what they issued and redeemed.
func (md *model) post(bal map[WalletID]int64, ops []Op) {
	for id, b := range bal {
		md.wallets[id].balance = b
	}
	for _, op := range ops {
		switch op.Type {
		case OpIssue:
			md.net[md.wallets[op.Destination].asset] += op.Amount
		case OpRedeem:
			md.net[md.wallets[op.Source].asset] -= op.Amount
		}
	}
}

func (md *model) upsertCustomer(k modelCustomerKey) Code {
	switch st, ok := md.customers[k]; {
	case !ok:
		md.customers[k] = CustomerActive
	case st == CustomerDeleted:
		return CustomerAlreadyExist
	}
	return OK
}

func (md *model) createWallet(k modelCustomerKey) Code {
	switch st, ok := md.customers[k]; {
	case !ok:
		return CustomerNotFound
	case st != CustomerActive:
		return WrongWalletStatus
	}
	return OK
}

func (md *model) setWalletStatus(p ProjectID, id WalletID, to WalletStatus) Code {
	w := md.wallet(p, id)
	switch {
	case w == nil:
		return WalletNotFound
	case w.status == to:
		return OK
	case w.status == WalletClosed: // nothing leaves Closed
		return ChangeWalletStatusError
	case to == WalletClosed && (w.balance != 0 || w.reservedDebit != 0 || w.reservedCredit != 0):
		return ChangeWalletStatusError // money left, or held
	case to == WalletOpen && w.customer != "" && md.customers[modelCustomerKey{p, w.customer}] != CustomerActive:
		return ChangeWalletStatusError // resume the customer instead
	}
	w.status = to
	return OK
}

// walletsOf lists a customer's wallets.
func (md *model) walletsOf(k modelCustomerKey) []*modelWallet {
	var ws []*modelWallet
	for _, w := range md.wallets {
		if w.project == k.project && w.customer == k.id {
			ws = append(ws, w)
		}
	}
	return ws
}

func (md *model) suspendCustomer(k modelCustomerKey) Code {
	if st, ok := md.customers[k]; !ok || st == CustomerDeleted {
		return CustomerNotFound
	}
	md.customers[k] = CustomerSuspended
	for _, w := range md.walletsOf(k) {
		if w.status == WalletOpen {
			w.status = WalletSuspended
		}
	}
	return OK
}

func (md *model) resumeCustomer(k modelCustomerKey, reopen []WalletID) Code {
	if st, ok := md.customers[k]; !ok || st == CustomerDeleted {
		return CustomerNotFound
	}
	for _, id := range reopen { // all or nothing: every wallet is checked first
		w := md.wallet(k.project, id)
		if w == nil || w.customer != k.id {
			return WalletNotFound
		}
		if w.status == WalletClosed {
			return ChangeWalletStatusError
		}
	}
	md.customers[k] = CustomerActive
	for _, id := range reopen {
		md.wallets[id].status = WalletOpen
	}
	return OK
}

func (md *model) deleteCustomer(k modelCustomerKey) Code {
	switch st, ok := md.customers[k]; {
	case !ok:
		return CustomerNotFound
	case st == CustomerDeleted:
		return OK
	}
	for _, w := range md.walletsOf(k) {
		if w.status != WalletClosed {
			return CustomerHasActiveWallets
		}
	}
	md.customers[k] = CustomerDeleted
	return OK
}

// Two projects, customers that are suspended, resumed and deleted, wallets
// that are suspended and closed, transactions with wallets of the other
// project: every command's outcome is the model's, derived from its rules.
func TestPropertyLedgerMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		shards := rapid.IntRange(1, 5).Draw(t, "shards")
		h := newHarness(t, shards)
		projects := []ProjectID{h.project(), h.project()}
		assets := map[ProjectID][]AssetID{}
		for _, p := range projects {
			assets[p] = []AssetID{h.asset(p, "A"), h.asset(p, "B")}
		}
		md := &model{wallets: map[WalletID]*modelWallet{}, holds: map[modelRef]*modelHold{}, customers: map[modelCustomerKey]CustomerStatus{},
			refs: map[modelRef]Code{}, net: map[AssetID]int64{}}
		var wallets []WalletID
		expect := func(what string, got Result, want Code) {
			t.Helper()
			if got.Code != want {
				t.Fatalf("%s: machine %s, model %s", what, got.Code, want)
			}
		}
		projectGen := rapid.SampledFrom(projects)
		customerGen := rapid.Custom(func(t *rapid.T) modelCustomerKey {
			return modelCustomerKey{projectGen.Draw(t, "project"), fmt.Sprintf("c%d", rapid.IntRange(0, 3).Draw(t, "customer"))}
		})
		newWallet := func(t *rapid.T) {
			p := projectGen.Draw(t, "wallet project")
			a := rapid.SampledFrom(assets[p]).Draw(t, "asset")
			var r Result
			w := &modelWallet{project: p, asset: a, status: WalletOpen}
			if rapid.IntRange(0, 3).Draw(t, "system") == 0 {
				r = h.apply(Command{Kind: CmdCreateSystemWallet, Project: p, Asset: a, Shard: uint16(rapid.IntRange(0, shards-1).Draw(t, "shard"))})
				expect("create system wallet", r, OK)
			} else {
				k := customerGen.Draw(t, "owner")
				k.project, w.customer = p, k.id
				r = h.apply(Command{Kind: CmdCreateWallet, Project: p, Customer: k.id, Asset: a})
				expect("create wallet of "+k.id, r, md.createWallet(k))
			}
			if r.Code == OK {
				id := r.Value.(WalletView).ID
				md.wallets[id] = w
				wallets = append(wallets, id)
			}
		}
		for i := 0; i < 8; i++ {
			k := modelCustomerKey{projects[i%2], fmt.Sprintf("c%d", i/2)}
			expect("create customer", h.apply(Command{Kind: CmdUpsertCustomer, Project: k.project, Customer: k.id}), md.upsertCustomer(k))
		}
		for i := 0; i < 4; i++ {
			newWallet(t)
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
		statusGen := rapid.SampledFrom([]WalletStatus{WalletOpen, WalletSuspended, WalletClosed})
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 18).Draw(t, "action") {
			case 0:
				newWallet(t)
			case 1, 2:
				p, w, to := projectGen.Draw(t, "project"), walletGen.Draw(t, "wallet"), statusGen.Draw(t, "to")
				expect(fmt.Sprintf("set wallet %s %s", w, to), h.apply(Command{Kind: CmdSetWalletStatus, Project: p, Wallet: w, Status: to}),
					md.setWalletStatus(p, w, to))
			case 3:
				k := customerGen.Draw(t, "customer")
				expect("suspend "+k.id, h.apply(Command{Kind: CmdSuspendCustomer, Project: k.project, Customer: k.id}), md.suspendCustomer(k))
			case 4:
				k := customerGen.Draw(t, "customer")
				reopen := rapid.SliceOfN(walletGen, 0, 3).Draw(t, "reopen")
				expect("resume "+k.id, h.apply(Command{Kind: CmdResumeCustomer, Project: k.project, Customer: k.id, Wallets: reopen}),
					md.resumeCustomer(k, reopen))
			case 5:
				k := customerGen.Draw(t, "customer")
				expect("delete "+k.id, h.apply(Command{Kind: CmdDeleteCustomer, Project: k.project, Customer: k.id}), md.deleteCustomer(k))
			case 6:
				k := customerGen.Draw(t, "customer")
				expect("upsert "+k.id, h.apply(Command{Kind: CmdUpsertCustomer, Project: k.project, Customer: k.id}), md.upsertCustomer(k))
			case 7, 8:
				// A hold: a timeout of none, or a few log steps.
				p := projectGen.Draw(t, "hold project")
				ref := modelRef{p, fmt.Sprintf("r%d", rapid.IntRange(0, 40).Draw(t, "ref"))}
				ops := rapid.SliceOfN(opGen, 1, 5).Draw(t, "ops")
				timeout := rapid.SampledFrom([]int64{0, 1, 3, 10, 30}).Draw(t, "timeout")
				a := testAttempt()
				r := h.apply(Command{Kind: CmdHold, Project: p, ReferenceID: ref.ref, Attempt: a, Ops: ops, HoldTimeoutMs: timeout})
				if prev, used := md.refs[ref]; used {
					if r.Code != DuplicateReferenceID || r.Value.(*Tx).ErrCode != prev {
						t.Fatalf("reused ref %s for a hold: %s, stored %s", ref.ref, r.Code, prev)
					}
					continue
				}
				deadline := int64(0)
				if timeout != 0 {
					deadline = h.time + timeout // h.time is the hold's log time now
				}
				code, at := md.hold(p, ref, ops, a, deadline)
				md.refs[ref] = code
				tx := r.Value.(*Tx)
				if r.Code != code || (code != OK && int(tx.ErrOpIndex) != at) || (code == OK && (tx.Status != TxHeld || tx.ExpiresAt() != deadline)) {
					t.Fatalf("hold %+v: machine %s at %d (%s, expires %d), model %s at %d (expires %d)", ops, r.Code, tx.ErrOpIndex, tx.Status, tx.ExpiresAt(), code, at, deadline)
				}
			case 9, 10:
				// Capture, void or expire a hold the model made, whatever
				// its status.
				if len(md.holds) == 0 {
					continue
				}
				refs := make([]modelRef, 0, len(md.holds))
				for r := range md.holds {
					refs = append(refs, r)
				}
				slices.SortFunc(refs, func(a, b modelRef) int { return cmp.Or(cmp.Compare(a.project, b.project), cmp.Compare(a.ref, b.ref)) })
				ref := rapid.SampledFrom(refs).Draw(t, "held ref")
				mh := md.holds[ref]
				to := rapid.SampledFrom([]TxStatus{TxCompleted, TxVoided, TxExpired}).Draw(t, "end")
				r := h.apply(Command{Kind: CmdHoldFinish, Project: ref.project, ReferenceID: ref.ref, Attempt: mh.attempt, TxStatus: to, Ops: mh.ops})
				want := md.finish(mh, to, h.time) // h.time is the finish's log time now
				if tx, ok := r.Value.(*Tx); r.Code != OK || !ok || tx.Status != want {
					t.Fatalf("%s %s: machine %s %+v, model %s", to, ref.ref, r.Code, r.Value, want)
				}
			default:
				p := projectGen.Draw(t, "tx project")
				ref := modelRef{p, fmt.Sprintf("r%d", rapid.IntRange(0, 40).Draw(t, "ref"))}
				ops := rapid.SliceOfN(opGen, 1, 5).Draw(t, "ops")
				r := h.tx(p, ref.ref, ops...)
				if prev, used := md.refs[ref]; used {
					if r.Code != DuplicateReferenceID || r.Value.(*Tx).ErrCode != prev {
						t.Fatalf("reused ref %s: %s, stored %s", ref.ref, r.Code, prev)
					}
					continue
				}
				code, at := md.tx(p, ops)
				md.refs[ref] = code
				tx := r.Value.(*Tx)
				if r.Code != code || (code != OK && int(tx.ErrOpIndex) != at) {
					t.Fatalf("ops %+v: machine %s at %d, model %s at %d", ops, r.Code, tx.ErrOpIndex, code, at)
				}
			}
		}
		for id, w := range md.wallets {
			v, ok := h.m.Shards[id.Shard].Wallet(w.project, id.Index)
			if !ok || v.Balance != w.balance || v.Balance < 0 || v.Status != w.status ||
				v.Available != w.balance-w.reservedDebit || v.Available < 0 || v.Available > v.Balance {
				t.Fatalf("wallet %s: machine %v %+v, model %+v", id, ok, v, *w)
			}
		}
		for k, st := range md.customers {
			v, ok := h.m.Shards[customerShard(k.project, k.id, shards)].Customer(k.project, k.id)
			if !ok || v.Status != st {
				t.Fatalf("customer %v: machine %v %s, model %s", k, ok, v.Status, st)
			}
		}
		balances, issued := h.m.Totals()
		for _, p := range projects {
			for _, a := range assets[p] {
				if balances[a] != issued[a] || balances[a] != md.net[a] {
					t.Fatalf("asset %s: balances %d, issued-redeemed %d, model %d", a, balances[a], issued[a], md.net[a])
				}
			}
		}
		if err := h.m.CheckInvariants(); err != nil {
			t.Fatal(err)
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
	var holds []Command // made so far, for captures, voids and expiries
	for i := 0; i < n; i++ {
		cust := fmt.Sprintf("c%d", rapid.IntRange(0, 6).Draw(t, "c"))
		w := WalletID{uint16(rapid.IntRange(0, shards-1).Draw(t, "ws")), uint32(rapid.IntRange(0, 6).Draw(t, "wi"))}
		w2 := WalletID{uint16(rapid.IntRange(0, shards-1).Draw(t, "ws2")), uint32(rapid.IntRange(0, 6).Draw(t, "wi2"))}
		var c Command
		switch rapid.IntRange(0, 11).Draw(t, "kind") {
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
		case 6:
			// Timeouts of a few log steps (TimeMs advances every third
			// command): some expire in log time, some are captured first.
			c = Command{Kind: CmdHold, ReferenceID: fmt.Sprintf("r%d", rapid.IntRange(0, 30).Draw(t, "r")), Attempt: Attempt{Hi: 7, Lo: uint64(i + 1)},
				Ops: []Op{transfer(w, w2, rapid.Int64Range(1, 60).Draw(t, "amt"))}, HoldTimeoutMs: rapid.Int64Range(0, 5).Draw(t, "timeout")}
			holds = append(holds, c)
		case 7:
			if len(holds) == 0 {
				continue
			}
			h := rapid.SampledFrom(holds).Draw(t, "hold")
			c = Command{Kind: CmdHoldFinish, ReferenceID: h.ReferenceID, Attempt: h.Attempt, Ops: h.Ops,
				TxStatus: rapid.SampledFrom([]TxStatus{TxCompleted, TxVoided, TxExpired}).Draw(t, "end")}
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
		out[i] = m.Apply(Context{Seq: uint64(i+1) << 16, TimeMs: 1000 + int64(i/3)}, placed(&c, m.ClusterShards()))
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
			restored.Apply(Context{Seq: uint64(i+1) << 16, TimeMs: 1000 + int64(i/3)}, placed(&c, restored.ClusterShards()))
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
	// Holds: one open, one captured.
	open := Command{Kind: CmdHold, Project: p, ReferenceID: "h1", Attempt: testAttempt(), Ops: []Op{redeem(w, 2)}, HoldTimeoutMs: 10}
	h.apply(open)
	done := Command{Kind: CmdHold, Project: p, ReferenceID: "h2", Attempt: testAttempt(), Ops: []Op{redeem(w, 1)}}
	h.apply(done)
	h.apply(Command{Kind: CmdHoldFinish, Project: p, ReferenceID: "h2", Attempt: done.Attempt, Ops: done.Ops, TxStatus: TxCompleted})
	f.Add(snapshotBytes(f, h.m))
	// A group with a transaction across groups prepared, one finished,
	// one record still Waiting, and a part whose attempt was fenced off.
	c, w0, w1 := twoGroups(f)
	c.coordinator(0, "done", 2, []Op{issue(w0, 9), transfer(w0, w1, 4)}).run()
	half := c.coordinator(0, "half", 3, []Op{transfer(w0, w1, 2)})
	for half.tx == nil {
		half.next()
	}
	orphan := c.coordinator(0, "orphan", 4, []Op{transfer(w1, w0, 1)})
	orphan.next() // the prepare in the other group only
	c.partResolver(0, "orphan", 5, orphan.attempt, orphan.ops).next()
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
