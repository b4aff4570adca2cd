package shard

// Transactions across shard groups: two-phase commit with escrow holds
// (DESIGN.md, Sharding). Each step is one command in one group's log, so
// every replica of that group takes it in the same order:
//
//  1. TxBegin, in the referenceId's group: a known referenceId answers
//     DuplicateReferenceID with its record (Waiting, Completed or Failed);
//     otherwise a Waiting record takes the referenceId.
//  2. TxPrepare, in every group that holds a wallet of the operations: the
//     operations are checked in order against this group's wallets, as
//     Transaction checks them, and on success each wallet holds what the
//     transaction may take from it (debits) and may add to it (credits).
//     Other transactions cannot spend held money or use held headroom, so
//     the later commit cannot fail.
//  3. TxDecide, in the referenceId's group: Waiting becomes Completed or
//     Failed. The first decision wins; it is the commit point.
//  4. TxCommit or TxAbort, in every prepared group: post the entries and
//     release the holds, or only release them. Both are idempotent.
//
// A participant's first failing operation is correct for its own wallets
// given that every operation before it passed; the transaction's failure is
// the earliest one over all participants, ties broken by CheckRank, the
// order in which Transaction runs the checks of one operation.

// hold is what prepared transactions reserve on one wallet.
type hold struct{ debit, credit int64 }

// preparedTx is one prepared transaction's part in one shard.
type preparedTx struct {
	tx      TxID
	project ProjectID
	ref     string
	ops     []Op // the whole transaction's (shared by the shards of one prepare)
	holds   []walletHold
	seq     uint64 // the prepare's place in the log: the resolver finds old ones
}

type walletHold struct {
	index uint32
	hold
}

// Prepared is what TxPrepare answers: the group's first failing operation
// (FailedAt -1 when every check passed and the holds are in place), and the
// asset of each of the group's wallets named by the operations, so the
// coordinator can compare the assets of a transfer across groups.
type Prepared struct {
	FailedAt int32
	Code     Code
	Assets   map[WalletID]AssetID
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

// txBegin records a Waiting transaction, or answers the known one.
func (m *Machine) txBegin(ctx Context, c *Command) Result {
	rs, tx, known := m.newRecord(ctx, c, TxWaiting)
	if tx == nil {
		return known
	}
	rs.keep(tx)
	return Result{Created: true, Value: tx}
}

// txDecide turns a Waiting record into its outcome. A record already
// decided keeps its outcome: the answer is the record as it stands, and
// the caller compares.
func (m *Machine) txDecide(c *Command) Result {
	rs := m.shard(c.Shard)
	if rs == nil {
		return notHere
	}
	ti, ok := rs.txIndex(c.Project, c.ReferenceID)
	if !ok || rs.txs[ti].ID != c.Tx {
		return Result{Code: TransactionNotFound}
	}
	old := rs.txs[ti]
	if old.Status != TxWaiting {
		return Result{Value: old}
	}
	// Records are immutable (readers may hold one): the decision is a new
	// record in the old one's place. A frozen copy that saw the old one
	// Waiting kept it in its own waiting list (Freeze).
	tx := *old
	tx.Status = c.TxStatus
	if c.TxStatus == TxFailed {
		tx.ErrCode, tx.ErrOpIndex = c.ErrCode, c.ErrOpIndex
	}
	rs.txs[ti] = &tx
	delete(rs.waiting, ti)
	return Result{Value: &tx}
}

// prepRun is one of this group's wallets during a prepare: the running
// change the transaction makes to it, and the extremes of that change.
type prepRun struct {
	id        WalletID
	s         *Shard
	w         *Wallet
	held      hold // what other transactions hold on it
	delta     int64
	low, high int64
}

// txPrepare checks the operations against this group's wallets and holds
// what they need.
func (m *Machine) txPrepare(ctx Context, c *Command) Result {
	key := projectKey(c.Project, c.ReferenceID)
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
		runs = append(runs, prepRun{id: id, s: s, w: w, held: s.holds[id.Index]})
		return &runs[len(runs)-1], true
	}
	fail := func(i int, code Code) Result {
		res.FailedAt, res.Code = int32(i), code
		return Result{Code: code, Value: res}
	}
	// A prepare that comes after its transaction finished here (a late
	// proposal of a coordinator that lost the race to a resolver) must hold
	// nothing: no commit or abort would ever release it.
	if m.finishedHere(c) {
		return Result{Value: res}
	}
	// A prepare applied twice (a retried proposal) holds nothing more, and
	// must not count its own holds against itself.
	if p := m.preparedFor(c, key); p != nil {
		if p.tx != c.Tx {
			return Result{Code: ValidationError, Value: "referenceId prepared for another transaction"}
		}
		for _, id := range opWallets(c.Ops) {
			find(id)
		}
		return Result{Value: res}
	}
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
	// Check passed: hold the extremes. Every wallet named has a non-zero
	// hold (amounts are positive), so every shard touched gets a record.
	for i := range runs {
		r := &runs[i]
		h := hold{debit: -r.low, credit: r.high}
		p := r.s.prepared[key]
		if p == nil {
			p = &preparedTx{tx: c.Tx, project: c.Project, ref: c.ReferenceID, ops: c.Ops, seq: ctx.Seq}
			r.s.prepared[key] = p
		}
		p.holds = append(p.holds, walletHold{index: r.id.Index, hold: h})
		r.s.addHold(r.id.Index, h, 1)
	}
	return Result{Value: res}
}

// preparedFor finds this group's record of a prepared transaction in any
// shard of its wallets.
func (m *Machine) preparedFor(c *Command, key string) *preparedTx {
	for _, id := range opWallets(c.Ops) {
		if s := m.shard(id.Shard); s != nil {
			if p := s.prepared[key]; p != nil {
				return p
			}
		}
	}
	return nil
}

// finishedHere reports whether a commit or abort of the transaction has
// run in this group.
func (m *Machine) finishedHere(c *Command) bool {
	for _, id := range opWallets(c.Ops) {
		if s := m.shard(id.Shard); s != nil {
			if _, ok := s.finished[c.Tx]; ok {
				return true
			}
		}
	}
	return false
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

// addHold adds (sign 1) or releases (sign -1) a hold on a wallet.
func (s *Shard) addHold(index uint32, h hold, sign int64) {
	cur := s.holds[index]
	cur.debit += sign * h.debit
	cur.credit += sign * h.credit
	if cur.debit < 0 || cur.credit < 0 {
		panic("shard: a wallet's hold went below zero")
	}
	if cur == (hold{}) {
		delete(s.holds, index)
		return
	}
	s.holds[index] = cur
}

// txFinish commits or aborts this group's part of a prepared transaction:
// the holds go, and a commit posts the entries of this group's wallets. A
// transaction not prepared here (finished already, or never prepared)
// changes nothing. Either way each shard remembers the transaction as
// finished, so a prepare arriving later holds nothing.
func (m *Machine) txFinish(c *Command) Result {
	key := projectKey(c.Project, c.ReferenceID)
	found := false
	var parts []int
	for _, part := range c.Partitions(parts, m.Layout) {
		if part == MetaPartition {
			continue
		}
		s := m.Shards[part-1]
		if _, ok := s.finished[c.Tx]; !ok {
			s.finished[c.Tx] = struct{}{}
			s.finishedList = append(s.finishedList, c.Tx)
		}
		p := s.prepared[key]
		if p == nil || p.tx != c.Tx {
			continue
		}
		for _, wh := range p.holds {
			s.addHold(wh.index, wh.hold, -1)
		}
		delete(s.prepared, key)
		found = true
	}
	if !found || c.Kind == CmdTxAbort {
		return Result{}
	}
	touched := map[WalletID]bool{}
	for i := range c.Ops {
		op := &c.Ops[i]
		e := Entry{CreatedAt: c.At, Amount: op.Amount, TxShard: c.Tx.Shard, TxIndex: c.Tx.Index, OpIndex: uint16(i)}
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
		m.shard(id.Shard).wallets[id.Index].UpdatedAt = c.At
	}
	return Result{}
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

// InDoubt is a transaction across groups that this shard has not seen
// finished: a record still Waiting, or a prepared part. A resolver runs
// the protocol again for it from these fields.
type InDoubt struct {
	Project ProjectID
	Ref     string
	Ops     []Op
}

// InDoubt lists this shard's transactions across groups in flight.
func (s *Shard) InDoubt() []InDoubt {
	var out []InDoubt
	for _, t := range s.waiting {
		out = append(out, InDoubt{Project: t.Project, Ref: t.ReferenceID, Ops: t.Ops})
	}
	for _, p := range s.prepared {
		out = append(out, InDoubt{Project: p.project, Ref: p.ref, Ops: p.ops})
	}
	return out
}
