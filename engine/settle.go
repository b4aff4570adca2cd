package engine

import (
	"context"
	"sync"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

// pending holds this node's own proposals until their fate is known.
//
// Every command is tagged in the log with this node's origin and a
// sequence number, so a proposal learns its result from this node's own
// state machine, whichever node led when it was committed (settle). A
// proposal whose entry was appended at index i but whose leader lost office
// before confirming it is marked lost at i: if this node applies index i
// without meeting the command, the command can never commit (it was in
// that one entry only), and the client is told so definitely.
type pending struct {
	mu   sync.Mutex // guards following
	next uint64
	byID map[uint64]*proposal
	lost map[uint64]lostEntry // seq → the entry that may or may not commit
}

// lostEntry is where a proposal's entry sits: its index, and its term when
// this node appended it as leader (0: another node's leader did).
type lostEntry struct {
	index, term uint64
}

func newPending() *pending {
	return &pending{byID: map[uint64]*proposal{}, lost: map[uint64]lostEntry{}}
}

// add registers p and gives it its sequence number.
func (q *pending) add(p *proposal) {
	q.mu.Lock()
	q.next++
	p.tag.Seq = q.next
	q.byID[q.next] = p
	q.mu.Unlock()
}

// complete ends a proposal once; later calls for the same seq do nothing.
func (q *pending) complete(seq uint64, r shard.Result, err error) bool {
	q.mu.Lock()
	p := q.byID[seq]
	delete(q.byID, seq)
	delete(q.lost, seq)
	q.mu.Unlock()
	if p == nil {
		return false
	}
	p.res, p.err = r, err
	close(p.done)
	return true
}

// lostAt marks a proposal whose entry sits at index (appended in term, if
// this node led) but was not confirmed. applied is the index applied so
// far: if the log has already passed the entry (and settled everything in
// it), the proposal ends now. It reports whether the proposal now waits
// with a term the lost-entry probe can ask about.
func (q *pending) lostAt(seq, index, term, applied, restoredAt uint64) bool {
	if index <= applied {
		q.complete(seq, shard.Result{}, lostOutcome(index, restoredAt))
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.byID[seq]; ok {
		q.lost[seq] = lostEntry{index, term}
		return term != 0
	}
	return false
}

// lostEntries lists the distinct entries with a term that lost proposals
// wait on.
func (q *pending) lostEntries() []lostEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	seen := map[lostEntry]bool{}
	var out []lostEntry
	for _, e := range q.lost {
		if e.term != 0 && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// overwritten ends, definitely not applied, every lost proposal of an
// entry the cluster committed another entry in place of.
func (q *pending) overwritten(e lostEntry) {
	var seqs []uint64
	q.mu.Lock()
	for seq, l := range q.lost {
		if l == e {
			seqs = append(seqs, seq)
		}
	}
	q.mu.Unlock()
	for _, seq := range seqs {
		q.complete(seq, shard.Result{}, ErrUnavailable)
	}
}

// settle delivers this batch's results to their proposals, then ends the
// lost ones the log has passed without them: definitely not applied, unless
// their entry lies inside a restored snapshot (at or below restoredAt),
// where nobody can tell.
func (q *pending) settle(origin, index uint64, tags []raftfsm.Tag, res []shard.Result, restoredAt uint64) {
	type ending struct {
		p   *proposal
		res shard.Result
		err error
	}
	var ends []ending
	q.mu.Lock() // once per batch, not per command: this runs on the FSM goroutine
	for i, t := range tags {
		if p := q.byID[t.Seq]; p != nil && t.Origin == origin {
			delete(q.byID, t.Seq)
			delete(q.lost, t.Seq)
			if raftfsm.IsFenced(res[i]) {
				ends = append(ends, ending{p, shard.Result{}, ErrUnavailable}) // never applies
			} else {
				ends = append(ends, ending{p, res[i], nil})
			}
		}
	}
	for seq, at := range q.lost {
		if at.index <= index {
			ends = append(ends, ending{q.byID[seq], shard.Result{}, lostOutcome(at.index, restoredAt)})
			delete(q.byID, seq)
			delete(q.lost, seq)
		}
	}
	q.mu.Unlock()
	for _, e := range ends {
		e.p.res, e.p.err = e.res, e.err
		close(e.p.done)
	}
}

// fenced ends every proposal up to seq still waiting: a fence with that
// mark has applied, so each either applied before it (and was settled) or
// never will.
func (q *pending) fenced(upTo uint64) int {
	var ends []*proposal
	q.mu.Lock()
	for seq, p := range q.byID {
		if seq <= upTo {
			ends = append(ends, p)
			delete(q.byID, seq)
			delete(q.lost, seq)
		}
	}
	q.mu.Unlock()
	for _, p := range ends {
		p.res, p.err = shard.Result{}, ErrUnavailable
		close(p.done)
	}
	return len(ends)
}

func lostOutcome(at, restoredAt uint64) error {
	if at <= restoredAt {
		return ErrOutcomeUnknown
	}
	return ErrUnavailable
}

// appliedIndex is the last log index this node's state machine applied,
// with a way to wait for it to pass a point.
type appliedIndex struct {
	mu    sync.Mutex // guards following; the FSM goroutine moves index
	index uint64
	moved chan struct{} // closed when index moves; nil while nobody waits
}

func (a *appliedIndex) set(i uint64) {
	a.mu.Lock()
	a.index = max(a.index, i)
	if a.moved != nil {
		close(a.moved)
		a.moved = nil
	}
	a.mu.Unlock()
}

func (a *appliedIndex) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.index
}

// wait returns once index ≥ i.
func (a *appliedIndex) wait(ctx context.Context, i uint64) error {
	for {
		a.mu.Lock()
		if a.index >= i {
			a.mu.Unlock()
			return nil
		}
		if a.moved == nil {
			a.moved = make(chan struct{})
		}
		moved := a.moved
		a.mu.Unlock()
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
