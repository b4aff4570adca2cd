package shard

// transaction runs a Transaction command. It touches the shard of the
// referenceId and the shards of every wallet named by an operation; the
// engine has handed all of them to this call.
//
// The order of checks is the contract: a known referenceId answers
// DuplicateReferenceId with the stored record whatever the body; otherwise
// each operation is checked in order against the balances left by the ones
// before it, and the first failure records a Failed transaction that changed
// no balance. Only when every operation passes are the balances changed and
// the entries written.
func (m *Machine) transaction(ctx Context, c *Command) Result {
	var ws walletSet
	rs, tx, failedAt, code, over, done := m.checkNew(ctx, c, TxCompleted, &ws)
	switch {
	case done:
		return over
	case code != OK:
		return rs.keepFailed(tx, failedAt, code)
	}
	m.postEntries(ctx, tx, &ws)
	rs.keep(tx)
	return Result{Created: true, Value: tx}
}

// checkNew makes the record a transaction command makes (status is what it
// will be if the checks pass) and runs the checks on running balances in
// ws: the first failing operation and its code, or OK. done: the command
// ends with over instead (its referenceId's record, a full shard, or
// Blocked on holds in flight).
func (m *Machine) checkNew(ctx Context, c *Command, status TxStatus, ws *walletSet) (rs *Shard, tx *Tx, failedAt int, code Code, over Result, done bool) {
	if rs, tx, over = m.newRecord(ctx, c, status); tx == nil {
		return rs, nil, 0, OK, over, true
	}
	ws.init(len(c.Ops))
	failedAt, code = m.checkOps(c, ws)
	if b := ws.blocked(m, c); b != nil {
		return rs, tx, failedAt, code, Result{Code: code, Value: b}, true
	}
	return rs, tx, failedAt, code, Result{}, false
}

// keepFailed keeps a record Failed at the failing operation: nothing else
// changed, and its referenceId is used up.
func (s *Shard) keepFailed(tx *Tx, failedAt int, code Code) Result {
	tx.Status, tx.ErrCode, tx.ErrOpIndex = TxFailed, code, int16(failedAt)
	s.keep(tx)
	return Result{Code: code, Value: tx}
}

// newRecord is the record a transaction command makes in its referenceId's
// shard. When it makes none (tx nil), known is the answer: the record the
// referenceId already has (DuplicateReferenceID), a full shard, or a shard
// this group does not hold.
func (m *Machine) newRecord(ctx Context, c *Command, status TxStatus) (rs *Shard, tx *Tx, known Result) {
	if rs = m.shard(c.Shard); rs == nil {
		return nil, nil, notHere
	}
	if ti, ok := rs.txIndex(c.Project, c.ReferenceID); ok {
		return rs, nil, Result{Code: DuplicateReferenceID, Value: rs.txs[ti]}
	}
	if len(rs.txs) > IndexMax {
		return rs, nil, Result{Code: LimitExceeded}
	}
	return rs, &Tx{
		ID:          TxID{Shard: rs.id, Index: uint32(len(rs.txs))},
		Seq:         ctx.Seq,
		Project:     c.Project,
		ReferenceID: c.ReferenceID,
		Ops:         c.Ops,
		CreatedAt:   ctx.TimeMs,
		Status:      status,
	}, Result{}
}

// keep stores a new record under its referenceId.
func (s *Shard) keep(tx *Tx) {
	s.refIndex.put(tx.Project, tx.ReferenceID, tx.ID.Index)
	s.txs = append(s.txs, tx)
	s.projectTxs[tx.Project] = append(s.projectTxs[tx.Project], tx.ID.Index)
	switch tx.Status {
	case TxWaiting:
		s.waiting[tx.ID.Index] = tx
	case TxHeld:
		s.addOpenHold(tx.ID.Index, tx)
	}
}

// keepAttempt records the attempt that made the record at index.
func (s *Shard) keepAttempt(index uint32, a Attempt) {
	s.attempts[index] = a
	s.attemptList = append(s.attemptList, recordAttempt{index, a})
}

// txIndex finds the record of a referenceId in this shard.
func (s *Shard) txIndex(p ProjectID, ref string) (uint32, bool) {
	return s.refIndex.get(p, ref, func(i uint32) bool {
		return s.txs[i].Project == p && s.txs[i].ReferenceID == ref
	})
}

// checkOps simulates the operations on running balances and returns the
// index and code of the first failing one, or OK.
func (m *Machine) checkOps(c *Command, ws *walletSet) (int, Code) {
	for i := range c.Ops {
		op := &c.Ops[i]
		var src, dst *touched
		if op.Type != OpIssue {
			if src = ws.get(m, c.Project, op.Source); src == nil {
				return i, WalletNotFound
			}
		}
		if op.Type != OpRedeem {
			if dst = ws.get(m, c.Project, op.Destination); dst == nil {
				return i, WalletNotFound
			}
		}
		if (src != nil && src.w.Status != WalletOpen) || (dst != nil && dst.w.Status != WalletOpen) {
			return i, WrongWalletStatus
		}
		if src != nil && dst != nil && src.w.Asset != dst.w.Asset {
			return i, ValidationError
		}
		// Debit before checking the credit: when source and destination
		// are one wallet, the credit lands on the debited balance.
		if src != nil {
			if src.balance-src.debitHeld < op.Amount {
				return i, InsufficientFunds
			}
			src.balance -= op.Amount
			src.low = min(src.low, src.balance)
		}
		if dst != nil {
			if dst.balance+dst.creditHeld > AmountMax-op.Amount {
				return i, LimitExceeded
			}
			dst.balance += op.Amount
			dst.high = max(dst.high, dst.balance)
		}
	}
	return 0, OK
}

// postEntries applies checked operations: balances change and every touched
// wallet gets one entry per operation, with the balance right after it.
func (m *Machine) postEntries(ctx Context, tx *Tx, ws *walletSet) {
	for i := range tx.Ops {
		op := &tx.Ops[i]
		e := Entry{CreatedAt: ctx.TimeMs, Amount: op.Amount, TxShard: tx.ID.Shard, TxIndex: tx.ID.Index, OpIndex: uint16(i)}
		switch op.Type {
		case OpTransfer:
			src, dst := m.walletAt(op.Source), m.walletAt(op.Destination)
			src.post(e, EntryTransferOut, -op.Amount, op.Destination)
			dst.post(e, EntryTransferIn, op.Amount, op.Source)
		case OpIssue:
			m.walletAt(op.Destination).post(e, EntryIssue, op.Amount, WalletID{})
		case OpRedeem:
			m.walletAt(op.Source).post(e, EntryRedeem, -op.Amount, WalletID{})
		}
	}
	for i := range ws.items {
		t := &ws.items[i]
		if t.w.Balance != t.balance {
			panic("shard: posted balance differs from the checked one for wallet " + t.id.String())
		}
		t.w.UpdatedAt = ctx.TimeMs
	}
}

func (w *Wallet) post(e Entry, t EntryType, delta int64, counterparty WalletID) {
	w.Balance += delta
	if w.Balance < 0 {
		panic("shard: a balance went below zero after the check passed")
	}
	e.Type, e.Balance, e.CounterpartyShard, e.CounterpartyIndex = t, w.Balance, counterparty.Shard, counterparty.Index
	if len(w.Entries) == cap(w.Entries) {
		w.Entries = growEntries(w.Entries)
	}
	w.Entries = append(w.Entries, e)
}

// growEntries makes room with about 25% headroom. append would double a
// short slice, and most wallets hold few entries: at ten entries a wallet,
// doubling leaves a third of the entry memory unused. The old array stays
// valid for frozen snapshot copies, which only read below their length.
func growEntries(old []Entry) []Entry {
	grown := make([]Entry, len(old), len(old)+len(old)/4+1)
	copy(grown, old)
	return grown
}

func (m *Machine) walletAt(id WalletID) *Wallet { return &m.shard(id.Shard).wallets[id.Index] }

// touched is a wallet named by a transaction with its running balance (and
// where it started, and the lowest and highest it reached: what a hold
// reserves), and what holds keep on it: debits may not spend held money,
// credits may not use held headroom. pending: some of those holds belong
// to transactions across groups in flight, which block (held.go).
type touched struct {
	id                    WalletID
	w                     *Wallet
	balance               int64
	start, low, high      int64
	debitHeld, creditHeld int64
	pending               bool
}

// blocked is the Blocked answer of a command that touched wallets with
// holds (held.go), or nil.
func (ws *walletSet) blocked(m *Machine, c *Command) *Blocked {
	if c.HoldsSettled {
		return nil
	}
	var b *Blocked
	for i := range ws.items {
		if t := &ws.items[i]; t.pending {
			if b == nil {
				b = &Blocked{}
			}
			b.Wallets = append(b.Wallets, t.id)
		}
	}
	return b
}

// walletSet finds touched wallets: a linear scan for the usual handful, a
// map once a transaction names many.
type walletSet struct {
	items []touched
	index map[WalletID]int
}

const walletSetLinearMax = 16

func (ws *walletSet) init(ops int) {
	if ops*2 > walletSetLinearMax {
		ws.index = make(map[WalletID]int, ops*2)
	}
	ws.items = make([]touched, 0, min(ops*2, walletSetLinearMax))
}

func (ws *walletSet) get(m *Machine, p ProjectID, id WalletID) *touched {
	if ws.index != nil {
		if i, ok := ws.index[id]; ok {
			return &ws.items[i]
		}
	} else {
		for i := range ws.items {
			if ws.items[i].id == id {
				return &ws.items[i]
			}
		}
	}
	s := m.shard(id.Shard)
	if s == nil {
		return nil
	}
	w := s.wallet(p, id.Index)
	if w == nil {
		return nil
	}
	h, pending := s.heldOn(id.Index) // what holds and transactions across groups have reserved
	b := w.Balance
	ws.items = append(ws.items, touched{id: id, w: w, balance: b, start: b, low: b, high: b, debitHeld: h.debit, creditHeld: h.credit, pending: pending})
	if ws.index != nil {
		ws.index[id] = len(ws.items) - 1
	}
	return &ws.items[len(ws.items)-1]
}
