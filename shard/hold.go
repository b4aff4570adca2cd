package shard

import "container/heap"

// Holds: a transaction that is authorized now and posted later (API.md,
// holds). Its operations are checked in order against the available
// balances, as a transaction's are; on success it is recorded Held and each
// of its wallets keeps a reservation: what the operations may take from it
// (the deepest point its running balance reaches) and may add to it (the
// highest). No entry is written. Other transactions check against the
// balance less every reservation (the available balance), and within the
// headroom left above them, so the capture cannot fail.
//
// A hold ends once, in its referenceId's group:
//   - capture: the entries are written with the balance after each, at the
//     capture's log time, and the record becomes Completed;
//   - void: the reservation goes, and the record becomes Voided;
//   - expiry: at or after CreatedAt + TimeoutMs in log time (the leader's
//     stamp carried in the entry, never a replica's clock) the reservation
//     goes and the record becomes Expired. The leader proposes it when due;
//     a capture or void that applies later than that expires it instead.
//
// The reservation is a part (preparedTx) under an attempt the proposer drew,
// marked open: known Held in this group, so, unlike a part of a transaction
// across groups whose outcome may be decided elsewhere, it blocks nobody
// (held.go). A hold whose wallets span groups is begun and prepared like any
// transaction across groups (CmdHoldBegin, twophase.go); its decision is
// Held, which opens the referenceId group's own part, and its end is the
// decision the other groups' parts then commit or abort.

// HoldTerms are what a hold was made with and when it ended. Like a
// record, they never change once made: the end of a hold makes new ones.
type HoldTerms struct {
	TimeoutMs  int64 // 0: never expires
	FinishedAt int64 // log time of the capture, void or expiry; 0 while Held
}

// ExpiresAt is the log time at which a hold expires, 0 for never (and for
// a record that is no hold).
func (t *Tx) ExpiresAt() int64 {
	if t.Hold == nil || t.Hold.TimeoutMs == 0 {
		return 0
	}
	return t.CreatedAt + t.Hold.TimeoutMs
}

// expired reports whether a hold is past its deadline at log time now.
func (t *Tx) expired(now int64) bool {
	exp := t.ExpiresAt()
	return exp != 0 && now >= exp
}

// IsHoldEnd reports whether s is a status a hold can end in.
func IsHoldEnd(s TxStatus) bool { return s == TxCompleted || s == TxVoided || s == TxExpired }

// txHold records a hold whose wallets all live in this group: checked as a
// transaction is, then Held with its reservations, or Failed.
func (m *Machine) txHold(ctx Context, c *Command) Result {
	var ws walletSet
	rs, tx, failedAt, code, over, done := m.checkNew(ctx, c, TxHeld, &ws)
	if done {
		return over
	}
	tx.Hold = &HoldTerms{TimeoutMs: c.HoldTimeoutMs}
	if code != OK {
		return rs.keepFailed(tx, failedAt, code)
	}
	rs.keep(tx)
	rs.keepAttempt(tx.ID.Index, c.Attempt)
	for i := range ws.items {
		t := &ws.items[i]
		h := hold{debit: t.start - t.low, credit: t.high - t.start}
		s := m.shard(t.id.Shard)
		p := s.prepared[c.Attempt]
		if p == nil {
			p = &preparedTx{attempt: c.Attempt, project: c.Project, ref: c.ReferenceID, ops: c.Ops, seq: ctx.Seq, open: true}
			s.prepared[c.Attempt] = p
		}
		p.holds = append(p.holds, walletHold{index: t.id.Index, hold: h})
		s.addHold(t.id.Index, h, 1, true, c.Attempt)
	}
	return Result{Created: true, Value: tx}
}

// openParts marks the attempt's parts in this group's shards known Held:
// their reservations stop blocking other commands. Parts are immutable
// (a frozen copy may be encoding them), so each is replaced.
func (m *Machine) openParts(a Attempt, ops []Op) {
	for _, s := range m.localShards(ops) {
		p := s.prepared[a]
		if p == nil || p.open {
			continue
		}
		for _, wh := range p.holds {
			s.addHold(wh.index, wh.hold, -1, false, a)
			s.addHold(wh.index, wh.hold, 1, true, a)
		}
		opened := *p
		opened.open = true
		s.prepared[a] = &opened
	}
}

// holdFinish ends a Held record as the command asks (Completed: capture,
// Voided, Expired), at the command's log time, and finishes the group's
// own part with it. A record that is not Held answers as it stands, and
// the caller compares; so does an expiry asked for before it is due. A
// capture or void that applies at or after the deadline expires the hold.
func (m *Machine) holdFinish(ctx Context, c *Command) Result {
	rs, ti, old, over := m.attemptRecord(c, TxHeld)
	if over != nil {
		return *over
	}
	to := c.TxStatus
	switch {
	case old.expired(ctx.TimeMs):
		to = TxExpired
	case to == TxExpired:
		return Result{Value: old} // not due in log time yet
	}
	if to == TxCompleted && !c.HoldsSettled {
		var ws walletSet
		ws.init(len(c.Ops))
		for _, id := range opWallets(c.Ops) {
			ws.get(m, c.Project, id)
		}
		if b := ws.blocked(m, c); b != nil {
			// Its entries would come before those of a decided
			// transaction across groups not posted yet.
			return Result{Value: b}
		}
	}
	tx := *old
	tx.Status = to
	tx.Hold = &HoldTerms{TimeoutMs: old.Hold.TimeoutMs, FinishedAt: ctx.TimeMs}
	rs.txs[ti] = &tx
	delete(rs.openHolds, ti)
	m.finishPart(c.Attempt, tx.ID, ctx.TimeMs, tx.Ops, to == TxCompleted)
	return Result{Value: &tx}
}

// OpenHold is a Held record as the expiry sweep sees it.
type OpenHold struct {
	Tx        *Tx
	Attempt   Attempt
	ExpiresAt int64
}

// DueHolds lists up to limit Held records of this shard due at or before
// now, earliest first, and counts every open hold and what they reserve in
// debits. It costs the due holds, not every open one: the deadlines are
// kept in order. A hold listed stays listed at the next call until its
// expiry applies (the proposal may fail and be tried again).
func (s *Shard) DueHolds(now int64, limit int) (due []OpenHold, open int, reserved int64) {
	for len(due) < limit && len(s.expiries) > 0 && s.expiries[0].at <= now {
		e := heap.Pop(&s.expiries).(expiry)
		t := s.openHolds[e.index]
		if t == nil {
			continue // ended: its place in the order goes with it
		}
		due = append(due, OpenHold{Tx: t, Attempt: s.attempts[e.index], ExpiresAt: e.at})
	}
	for _, h := range due {
		heap.Push(&s.expiries, expiry{at: h.ExpiresAt, index: h.Tx.ID.Index})
	}
	return due, len(s.openHolds), s.reservedDebit
}

// addOpenHold keeps a Held record among the open holds, and its deadline,
// if it has one, in the expiry order.
func (s *Shard) addOpenHold(index uint32, t *Tx) {
	s.openHolds[index] = t
	if at := t.ExpiresAt(); at != 0 {
		heap.Push(&s.expiries, expiry{at: at, index: index})
	}
	if len(s.expiries) > 2*len(s.openHolds)+expiriesSlack {
		s.compactExpiries()
	}
}

// expiriesSlack: the expiry order may hold this many deadlines of ended
// holds beyond twice the open ones before it is rebuilt. Holds that end
// early (captured, voided) leave their deadline behind until it comes
// due; rebuilding, amortized over the pushes, keeps the order's memory
// within a constant of the open holds.
const expiriesSlack = 1024

// compactExpiries rebuilds the expiry order from the open holds.
func (s *Shard) compactExpiries() {
	s.expiries = s.expiries[:0]
	for i, t := range s.openHolds {
		if at := t.ExpiresAt(); at != 0 {
			s.expiries = append(s.expiries, expiry{at: at, index: i})
		}
	}
	heap.Init(&s.expiries)
}

// expiry is an open hold's deadline; expiryHeap orders them, earliest
// first (container/heap).
type expiry struct {
	at    int64
	index uint32
}

type expiryHeap []expiry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].index < h[j].index
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Available is a wallet's balance less what holds reserve on it.
func (s *Shard) available(index uint32) int64 {
	return s.wallets[index].Balance - s.holds[index].debit - s.reserved[index].debit
}
