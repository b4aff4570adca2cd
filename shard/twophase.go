package shard

import "slices"

// Transactions across shard groups: two-phase commit with escrow holds
// (DESIGN.md, Sharding). Each step is one command in one group's log, so
// every replica of that group takes it in the same order. A run of the
// protocol is named by an Attempt its coordinator draws first.
//
//  1. In parallel, one log write each:
//     - TxBegin, in the referenceId's group: a known referenceId answers
//     DuplicateReferenceID with its record (Waiting, Completed or Failed),
//     a fenced attempt is refused, and otherwise a Waiting record takes the
//     referenceId and keeps the attempt. The group's own wallets of the
//     operations are prepared in the same command (its vote).
//     - TxPrepare, in every other group that holds a wallet of the
//     operations: the operations are checked in order against this
//     group's wallets, as Transaction checks them, and on success each
//     wallet holds what the transaction may take from it (debits) and may
//     add to it (credits). Other transactions cannot spend held money or
//     use held headroom, so the later commit cannot fail.
//  2. TxDecide, in the referenceId's group: Waiting becomes Completed or
//     Failed, and the group's own part is committed or aborted in the same
//     command. The first decision wins; it is the commit point.
//  3. TxCommit or TxAbort, in every other prepared group: post the entries
//     and release the holds, or only release them. Both are idempotent.
//
// The prepares run before the record may exist, so a part can outlive a
// begin that never came (its coordinator died, or the begin was refused).
// A resolver that finds such a part fences its attempt in the referenceId's
// group (TxFence): if the record is there, it says what became of the part;
// if not, no begin of that attempt can make one any more, and the part is
// aborted.
//
// A participant's first failing operation is correct for its own wallets
// given that every operation before it passed; the transaction's failure is
// the earliest one over all participants, ties broken by CheckRank, the
// order in which Transaction runs the checks of one operation.

// hold is what prepared transactions reserve on one wallet.
type hold struct{ debit, credit int64 }

// preparedTx is one prepared transaction's part in one shard.
type preparedTx struct {
	attempt Attempt
	project ProjectID
	ref     string
	ops     []Op // the whole transaction's (shared by the shards of one prepare)
	holds   []walletHold
	seq     uint64 // the prepare's place in the log: the resolver finds old ones
	// open: the transaction is known Held in this group (hold.go), so the
	// holds are reservations that block nobody.
	open bool
}

type walletHold struct {
	index uint32
	hold
}

// Prepared is a group's vote: its first failing operation (FailedAt -1 when
// every check passed and the holds are in place), and the asset of each of
// the group's wallets named by the operations, so the coordinator can
// compare the assets of a transfer across groups.
type Prepared struct {
	FailedAt int32
	Code     Code
	Assets   map[WalletID]AssetID
	// Blocked: the prepare met wallets with holds (held.go) and held
	// nothing; the vote does not count until it runs again with the holds
	// settled. Counted as it is, it is a no.
	Blocked []WalletID
}

// CheckRank orders the checks of one operation as Transaction runs them:
// wallet not found, wrong status, asset mismatch, insufficient funds,
// limit exceeded.
func CheckRank(c Code) int {
	switch c {
	case WalletNotFound:
		return 0
	case WrongWalletStatus:
		return 1
	case ValidationError:
		return 2
	case InsufficientFunds:
		return 3
	}
	return 4
}

// IsCheckFailure reports whether c is a code a transaction's checks fail with.
func IsCheckFailure(c Code) bool {
	switch c {
	case WalletNotFound, WrongWalletStatus, ValidationError, InsufficientFunds, LimitExceeded:
		return true
	}
	return false
}

// txBegin records a Waiting transaction and prepares the group's own
// wallets of it, or answers the known record.
func (m *Machine) txBegin(ctx Context, c *Command) Result {
	rs, tx, known := m.newRecord(ctx, c, TxWaiting)
	if tx == nil {
		if known.Code == DuplicateReferenceID {
			old := known.Value.(*Tx)
			known.Value = &Began{Tx: old, Attempt: rs.attempts[old.ID.Index]}
		}
		return known
	}
	if rs.fenced.contains(c.Attempt) {
		return Result{Code: ValidationError, Value: ErrAttemptFenced}
	}
	if c.Kind == CmdHoldBegin {
		tx.Hold = &HoldTerms{TimeoutMs: c.HoldTimeoutMs}
	}
	rs.keep(tx)
	rs.keepAttempt(tx.ID.Index, c.Attempt)
	return Result{Created: true, Value: &Began{Tx: tx, Attempt: c.Attempt, Vote: m.prepare(ctx, c)}}
}

// txFence answers the record of a referenceId with its attempt, or, when
// there is none, fences the command's attempt off: no TxBegin of it makes a
// record from now on.
func (m *Machine) txFence(c *Command) Result {
	rs := m.shard(c.Shard)
	if rs == nil {
		return notHere
	}
	if ti, ok := rs.txIndex(c.Project, c.ReferenceID); ok {
		return Result{Code: DuplicateReferenceID, Value: &Began{Tx: rs.txs[ti], Attempt: rs.attempts[ti]}}
	}
	rs.fenced.add(c.Attempt)
	return Result{}
}

// txDecide turns the attempt's Waiting record into its outcome, and
// commits or aborts the group's own part with it. A record already decided
// keeps its outcome: the answer is the record as it stands, and the caller
// compares.
func (m *Machine) txDecide(c *Command) Result {
	rs, ti, old, over := m.attemptRecord(c, TxWaiting)
	if over != nil {
		return *over
	}
	if (c.TxStatus == TxHeld) != (old.Hold != nil && c.TxStatus != TxFailed) {
		return Result{Code: ValidationError, Value: "only a hold is decided Held, and a hold's success is Held"}
	}
	// Records are immutable (readers may hold one): the decision is a new
	// record in the old one's place. A frozen copy that saw the old one
	// Waiting kept it in its own waiting list (Freeze).
	tx := *old
	tx.Status = c.TxStatus
	if c.TxStatus == TxFailed {
		tx.ErrCode, tx.ErrOpIndex = c.ErrCode, int16(c.ErrOpIndex)
	}
	rs.txs[ti] = &tx
	delete(rs.waiting, ti)
	if tx.Status == TxHeld {
		rs.addOpenHold(ti, &tx)
		m.openParts(c.Attempt, tx.Ops)
		return Result{Value: &tx}
	}
	m.finishPart(c.Attempt, tx.ID, tx.CreatedAt, tx.Ops, tx.Status == TxCompleted)
	return Result{Value: &tx}
}

// attemptRecord finds the record that a step of the command's attempt acts
// on (a decision, the end of a hold) at index ti of shard rs. When over is
// set the step ends with it: no record of that attempt, a record no longer
// in status want (over is then the record as it stands, for the caller to
// compare), or operations other than the record's, which name the
// partitions the command holds (others would finish the parts without
// them).
func (m *Machine) attemptRecord(c *Command, want TxStatus) (rs *Shard, ti uint32, old *Tx, over *Result) {
	if rs = m.shard(c.Shard); rs == nil {
		return nil, 0, nil, &notHere
	}
	ti, ok := rs.txIndex(c.Project, c.ReferenceID)
	if !ok || rs.attempts[ti] != c.Attempt {
		return nil, 0, nil, &Result{Code: TransactionNotFound}
	}
	if old = rs.txs[ti]; old.Status != want {
		return nil, 0, nil, &Result{Value: old}
	}
	if !slices.Equal(old.Ops, c.Ops) {
		return nil, 0, nil, &Result{Code: ValidationError, Value: "the step's operations are not the record's"}
	}
	return rs, ti, old, nil
}

// prepRun is one of this group's wallets during a prepare: the running
// change the transaction makes to it, and the extremes of that change.
type prepRun struct {
	id        WalletID
	s         *Shard
	w         *Wallet
	held      hold // what other transactions and holds keep on it
	pending   bool // some of it by transactions across groups in flight
	delta     int64
	low, high int64
}

// txPrepare checks the operations against this group's wallets and holds
// what they need.
func (m *Machine) txPrepare(ctx Context, c *Command) Result {
	vote := m.prepare(ctx, c)
	return Result{Code: vote.Code, Value: vote}
}

// prepare is a group's vote on the command's attempt: the checks of the
// operations against its wallets, and on success the holds, kept as the
// attempt's part in each shard of them. A group that holds none of the
// wallets votes yes and holds nothing.
func (m *Machine) prepare(ctx Context, c *Command) *Prepared {
	res := &Prepared{FailedAt: -1, Assets: map[WalletID]AssetID{}}
	// find hands out pointers into runs: it must never grow past this.
	runs := make([]prepRun, 0, 2*len(c.Ops))
	find := func(id WalletID) (r *prepRun, local bool) {
		s := m.shard(id.Shard)
		if s == nil {
			return nil, false
		}
		for i := range runs {
			if runs[i].id == id {
				return &runs[i], true
			}
		}
		w := s.wallet(c.Project, id.Index)
		if w == nil {
			return nil, true
		}
		res.Assets[id] = w.Asset
		held, pending := s.heldOn(id.Index)
		runs = append(runs, prepRun{id: id, s: s, w: w, held: held, pending: pending})
		return &runs[len(runs)-1], true
	}
	fail := func(i int, code Code) *Prepared {
		res.FailedAt, res.Code = int32(i), code
		return res
	}

	prepared, finished := m.attemptHere(c)
	// A prepare that comes after its attempt finished here (a late
	// proposal of a coordinator that lost the race to a resolver) must
	// hold nothing: no commit or abort would ever release it.
	if finished {
		return res
	}
	// A prepare applied twice (a retried proposal, a resolver) holds
	// nothing more, and must not count its own holds against itself.
	if prepared {
		for _, id := range opWallets(c.Ops) {
			find(id)
		}
		return res
	}
	check := func() *Prepared {
		for i := range c.Ops {
			op := &c.Ops[i]
			var src, dst *prepRun
			var srcLocal, dstLocal bool
			if op.Type != OpIssue {
				if src, srcLocal = find(op.Source); srcLocal && src == nil {
					return fail(i, WalletNotFound)
				}
			}
			if op.Type != OpRedeem {
				if dst, dstLocal = find(op.Destination); dstLocal && dst == nil {
					return fail(i, WalletNotFound)
				}
			}
			if (src != nil && src.w.Status != WalletOpen) || (dst != nil && dst.w.Status != WalletOpen) {
				return fail(i, WrongWalletStatus)
			}
			if src != nil && dst != nil && src.w.Asset != dst.w.Asset {
				return fail(i, ValidationError)
			}
			if src != nil {
				if src.w.Balance-src.held.debit+src.delta < op.Amount {
					return fail(i, InsufficientFunds)
				}
				src.delta -= op.Amount
				src.low = min(src.low, src.delta)
			}
			if dst != nil {
				if dst.w.Balance+dst.held.credit+dst.delta > AmountMax-op.Amount {
					return fail(i, LimitExceeded)
				}
				dst.delta += op.Amount
				dst.high = max(dst.high, dst.delta)
			}
		}
		return nil
	}
	failed := check()
	if !c.HoldsSettled {
		// Wallets other transactions hold: nothing is held until those
		// are settled (held.go).
		for i := range runs {
			if runs[i].pending {
				res.Blocked = append(res.Blocked, runs[i].id)
			}
		}
		if res.Blocked != nil {
			return res
		}
	}
	if failed != nil {
		return failed
	}
	// Check passed: hold the extremes. Every wallet named has a non-zero
	// hold (amounts are positive), so every shard touched gets a part.
	for i := range runs {
		r := &runs[i]
		h := hold{debit: -r.low, credit: r.high}
		p := r.s.prepared[c.Attempt]
		if p == nil {
			p = &preparedTx{attempt: c.Attempt, project: c.Project, ref: c.ReferenceID, ops: c.Ops, seq: ctx.Seq}
			r.s.prepared[c.Attempt] = p
		}
		p.holds = append(p.holds, walletHold{index: r.id.Index, hold: h})
		r.s.addHold(r.id.Index, h, 1, false, c.Attempt)
	}
	return res
}

// localShards lists, once each, the shards of this group that hold a
// wallet the operations name.
func (m *Machine) localShards(ops []Op) []*Shard {
	var out []*Shard
	for _, id := range opWallets(ops) {
		if s := m.shard(id.Shard); s != nil && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// attemptHere reports whether the command's attempt has a part in this
// group, and whether it was committed or aborted here.
func (m *Machine) attemptHere(c *Command) (prepared, finished bool) {
	for _, s := range m.localShards(c.Ops) {
		_, p := s.prepared[c.Attempt]
		prepared = prepared || p
		finished = finished || s.finished.contains(c.Attempt)
	}
	return prepared, finished
}

// opWallets lists the wallets the operations name: an Issue's source and a
// Redeem's destination are not wallets (their zero ids would name wallet 0
// of shard 0, a partition the command does not hold).
func opWallets(ops []Op) []WalletID {
	ids := make([]WalletID, 0, 2*len(ops))
	for i := range ops {
		if ops[i].Type != OpIssue {
			ids = append(ids, ops[i].Source)
		}
		if ops[i].Type != OpRedeem {
			ids = append(ids, ops[i].Destination)
		}
	}
	return ids
}

// addHold adds (sign 1) or releases (sign -1) attempt a's hold on a
// wallet: a reservation of an open hold, or a hold of a part in flight.
func (s *Shard) addHold(index uint32, h hold, sign int64, open bool, a Attempt) {
	holds := s.holds
	if open {
		holds = s.reserved
		s.reservedDebit += sign * h.debit
	} else if sign > 0 {
		s.holders[index] = append(s.holders[index], a)
	} else {
		s.dropHolder(index, a)
	}
	cur := holds[index]
	cur.debit += sign * h.debit
	cur.credit += sign * h.credit
	if cur.debit < 0 || cur.credit < 0 {
		panic("shard: a wallet's hold went below zero")
	}
	if cur == (hold{}) {
		delete(holds, index)
		return
	}
	holds[index] = cur
}

// dropHolder takes one of attempt a's places off the wallet's holders.
func (s *Shard) dropHolder(index uint32, a Attempt) {
	as := s.holders[index]
	i := slices.Index(as, a)
	if i < 0 {
		panic("shard: a hold released that was never held")
	}
	if len(as) == 1 {
		delete(s.holders, index)
		return
	}
	s.holders[index] = slices.Delete(as, i, i+1)
}

// heldOn is everything held on a wallet, and whether any of it belongs to
// parts in flight.
func (s *Shard) heldOn(index uint32) (held hold, pending bool) {
	h, pending := s.holds[index]
	r := s.reserved[index]
	return hold{debit: h.debit + r.debit, credit: h.credit + r.credit}, pending
}

// txFinish commits or aborts this group's part of a prepared attempt.
func (m *Machine) txFinish(c *Command) Result {
	m.finishPart(c.Attempt, c.Tx, c.At, c.Ops, c.Kind == CmdTxCommit)
	return Result{}
}

// finishPart commits (posting the entries of this group's wallets, as the
// record tx made at time at) or aborts the attempt's part: the holds go.
// An attempt not prepared here (finished already, or never prepared)
// changes nothing. Either way each shard of the wallets remembers the
// attempt as finished, so a prepare arriving later holds nothing.
func (m *Machine) finishPart(a Attempt, tx TxID, at int64, ops []Op, commit bool) {
	found := false
	for _, s := range m.localShards(ops) {
		s.finished.add(a)
		p := s.prepared[a]
		if p == nil {
			continue
		}
		for _, wh := range p.holds {
			s.addHold(wh.index, wh.hold, -1, p.open, a)
		}
		delete(s.prepared, a)
		found = true
	}
	if !found || !commit {
		return
	}
	touched := map[WalletID]bool{}
	for i := range ops {
		op := &ops[i]
		e := Entry{CreatedAt: at, Amount: op.Amount, TxShard: tx.Shard, TxIndex: tx.Index, OpIndex: uint16(i)}
		var to, from WalletID // counterparties, for transfers only
		if op.Type == OpTransfer {
			to, from = op.Destination, op.Source
		}
		if op.Type != OpIssue {
			if s := m.shard(op.Source.Shard); s != nil {
				s.wallets[op.Source.Index].post(e, debitType(op.Type), -op.Amount, to)
				touched[op.Source] = true
			}
		}
		if op.Type != OpRedeem {
			if s := m.shard(op.Destination.Shard); s != nil {
				s.wallets[op.Destination.Index].post(e, creditType(op.Type), op.Amount, from)
				touched[op.Destination] = true
			}
		}
	}
	for id := range touched {
		m.shard(id.Shard).wallets[id.Index].UpdatedAt = at
	}
}

func debitType(t OpType) EntryType {
	if t == OpRedeem {
		return EntryRedeem
	}
	return EntryTransferOut
}

func creditType(t OpType) EntryType {
	if t == OpIssue {
		return EntryIssue
	}
	return EntryTransferIn
}

// Outcome decides a transaction across groups from every participant's
// prepare: the earliest failing operation over all of them (ties broken by
// CheckRank), counting as not found a wallet on a shard no group holds
// (total is the cluster's shard count) and as a mismatch a transfer between
// wallets of different assets. It returns Completed when nothing failed.
func Outcome(ops []Op, total int, prepared []*Prepared) (status TxStatus, code Code, opIndex int32) {
	best, bestCode := int32(len(ops)), OK
	consider := func(i int32, c Code) {
		if i < best || (i == best && CheckRank(c) < CheckRank(bestCode)) {
			best, bestCode = i, c
		}
	}
	assets := map[WalletID]AssetID{}
	for _, p := range prepared {
		if p.Blocked != nil {
			panic("shard: a Blocked vote was counted") // the coordinator prepares again first
		}
		if p.FailedAt >= 0 {
			consider(p.FailedAt, p.Code)
		}
		for id, a := range p.Assets {
			assets[id] = a
		}
	}
	for i := range ops {
		op := &ops[i]
		if (op.Type != OpIssue && int(op.Source.Shard) >= total) || (op.Type != OpRedeem && int(op.Destination.Shard) >= total) {
			consider(int32(i), WalletNotFound)
		}
		if op.Type == OpTransfer {
			a, ok1 := assets[op.Source]
			b, ok2 := assets[op.Destination]
			if ok1 && ok2 && a != b {
				consider(int32(i), ValidationError)
			}
		}
	}
	if bestCode == OK {
		return TxCompleted, OK, 0
	}
	return TxFailed, bestCode, best
}

// InDoubt is a run across groups that this shard has not seen finished: a
// record still Waiting, or a prepared part. A resolver takes it on from
// these fields: a record from its prepares, a part from a fence
// (twophase.go's top).
type InDoubt struct {
	Project ProjectID
	Ref     string
	Ops     []Op
	Attempt Attempt
	Record  *Tx // the Waiting record; nil for a part
}

// InDoubt lists this shard's runs across groups in flight.
func (s *Shard) InDoubt() []InDoubt {
	var out []InDoubt
	for i, t := range s.waiting {
		out = append(out, InDoubt{Project: t.Project, Ref: t.ReferenceID, Ops: t.Ops, Attempt: s.attempts[i], Record: t})
	}
	for _, p := range s.prepared {
		if !p.open { // an open part's hold is known Held here: no doubt
			out = append(out, InDoubt{Project: p.project, Ref: p.ref, Ops: p.ops, Attempt: p.attempt})
		}
	}
	return out
}

// AttemptOf is the attempt that made the record at index (zero for a
// transaction in one group).
func (s *Shard) AttemptOf(index uint32) Attempt { return s.attempts[index] }
