package engine

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

func newProposal(q *pending, origin uint64) *proposal {
	p := &proposal{tag: raftfsm.Tag{Origin: origin}, done: make(chan struct{})}
	q.add(p)
	return p
}

func ended(p *proposal) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// A proposal learns its result from the log by its tag, whoever proposed
// the entry; another node's tags and a second completion change nothing.
func TestPendingDeliversByTag(t *testing.T) {
	q := newPending()
	mine, other := newProposal(q, 7), newProposal(q, 7)
	tags := []raftfsm.Tag{{Origin: 8, Seq: other.tag.Seq}, {Origin: 7, Seq: mine.tag.Seq}}
	res := []shard.Result{{Code: shard.InsufficientFunds}, {Code: shard.OK, Created: true}}
	q.settle(7, 10, tags, res, 0)
	if !ended(mine) || mine.err != nil || !mine.res.Created {
		t.Fatalf("mine: ended %v, %+v %v", ended(mine), mine.res, mine.err)
	}
	if ended(other) {
		t.Fatal("another node's tag with the same seq ended our proposal")
	}
	if q.complete(mine.tag.Seq, shard.Result{}, ErrUnavailable) || mine.err != nil {
		t.Fatal("a second completion overrode the first")
	}
}

// An entry whose leader lost office may still commit: the proposal ends
// when the log passes it, with its result if the entry held it, as
// "definitely not applied" if not, and as "unknown" if the log passed it
// inside a snapshot.
func TestPendingResolvesLostEntries(t *testing.T) {
	q := newPending()
	committed, dropped, inSnapshot := newProposal(q, 1), newProposal(q, 1), newProposal(q, 1)
	q.lostAt(committed.tag.Seq, 20, 0, 10, 0)
	q.lostAt(dropped.tag.Seq, 21, 0, 10, 0)
	q.lostAt(inSnapshot.tag.Seq, 40, 0, 10, 0)
	q.settle(1, 19, nil, nil, 0)
	if ended(committed) || ended(dropped) {
		t.Fatal("ended before the log reached their entries")
	}
	q.settle(1, 21, []raftfsm.Tag{{Origin: 1, Seq: committed.tag.Seq}}, []shard.Result{{Code: shard.OK}}, 0)
	if !ended(committed) || committed.err != nil {
		t.Fatalf("committed after all: %v", committed.err)
	}
	if !ended(dropped) || !errors.Is(dropped.err, ErrUnavailable) {
		t.Fatalf("dropped: %v", dropped.err)
	}
	q.settle(1, 50, nil, nil, 45) // a snapshot up to 45 was restored
	if !errors.Is(inSnapshot.err, ErrOutcomeUnknown) {
		t.Fatalf("inside a snapshot: %v", inSnapshot.err)
	}
	// marked after the log already passed it: ends at once
	late := newProposal(q, 1)
	q.lostAt(late.tag.Seq, 44, 0, 50, 45)
	q.lostAt(newProposal(q, 1).tag.Seq, 49, 0, 50, 0)
	if !errors.Is(late.err, ErrOutcomeUnknown) {
		t.Fatalf("late, inside the snapshot: %v", late.err)
	}
	if len(q.byID) != 0 || len(q.lost) != 0 {
		t.Fatalf("left behind: %d pending, %d lost", len(q.byID), len(q.lost))
	}
}

func TestAppliedIndexWait(t *testing.T) {
	var a appliedIndex
	done := make(chan error, 1)
	go func() { done <- a.wait(context.Background(), 5) }()
	a.set(4)
	select {
	case <-done:
		t.Fatal("returned before index 5")
	case <-time.After(20 * time.Millisecond):
	}
	a.set(6)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.wait(ctx, 100); err == nil {
		t.Fatal("a cancelled wait returned nil")
	}
}

// Callers share rounds, and the round that answers a caller starts after
// the caller arrived (what makes the read index safe).
func TestRoundsStartAfterTheirCallers(t *testing.T) {
	var started atomic.Uint64
	firstRunning, release := make(chan struct{}), make(chan struct{})
	r := &rounds{fn: func() (uint64, error) {
		n := started.Add(1)
		if n == 1 {
			close(firstRunning)
			<-release // hold the first round while others arrive
		}
		return n, nil
	}}
	first := make(chan uint64)
	go func() { i, _ := r.do(context.Background()); first <- i }()
	<-firstRunning
	var wg sync.WaitGroup
	results := make([]uint64, 20)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], _ = r.do(context.Background()) }()
	}
	// Release the first round once all 20 wait behind it.
	for queued := 0; queued < len(results); {
		r.mu.Lock()
		queued = len(r.waiting)
		r.mu.Unlock()
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if <-first != 1 {
		t.Fatal("the first caller was not answered by the first round")
	}
	for i, got := range results {
		if got < 2 {
			t.Fatalf("caller %d, arriving during round 1, was answered by round %d", i, got)
		}
	}
	if n := started.Load(); n > 3 {
		t.Fatalf("%d rounds for 21 callers: they did not share", n)
	}
}

// A fence ends every proposal up to its mark still waiting as definitely
// not applied, and a command the FSM skipped for a fence ends the same
// way; proposals above the mark, and ones already settled, are untouched.
func TestPendingFence(t *testing.T) {
	q := newPending()
	applied, skipped, waiting, above := newProposal(q, 3), newProposal(q, 3), newProposal(q, 3), newProposal(q, 3)
	q.settle(3, 5, []raftfsm.Tag{{Origin: 3, Seq: applied.tag.Seq}, {Origin: 3, Seq: skipped.tag.Seq}},
		[]shard.Result{{Created: true}, raftfsm.Fenced}, 0)
	if !applied.res.Created || applied.err != nil {
		t.Fatalf("applied before the fence: %+v %v", applied.res, applied.err)
	}
	if !ended(skipped) || !errors.Is(skipped.err, ErrUnavailable) {
		t.Fatalf("skipped by a fence: ended %v, %v", ended(skipped), skipped.err)
	}
	if n := q.fenced(waiting.tag.Seq); n != 1 || !errors.Is(waiting.err, ErrUnavailable) {
		t.Fatalf("fence ended %d proposals; waiting: %v", n, waiting.err)
	}
	if ended(above) {
		t.Fatal("a proposal above the mark ended")
	}
}

// The lost-entry probe's verdict: only an index committed with another
// term's entry ends a proposal, as definitely not applied; our own term
// there (committed after all), an index beyond the commit index or a term
// not known leave it waiting for the log.
func TestLostEntryProbeEndsOnlyOverwrittenEntries(t *testing.T) {
	q := newPending()
	over, ours, beyond, unknown := newProposal(q, 1), newProposal(q, 1), newProposal(q, 1), newProposal(q, 1)
	for _, c := range []struct {
		p           *proposal
		index, term uint64
	}{{over, 20, 3}, {ours, 21, 3}, {beyond, 30, 3}, {unknown, 22, 3}} {
		if !q.lostAt(c.p.tag.Seq, c.index, c.term, 10, 0) {
			t.Fatalf("a lost proposal with its term should be probed")
		}
	}
	if q.lostAt(newProposal(q, 1).tag.Seq, 23, 0, 10, 0) {
		t.Fatal("a lost proposal without a term (another node led) must not be probed")
	}
	lost := q.lostEntries()
	if len(lost) != 4 {
		t.Fatalf("%d entries to probe, want 4", len(lost))
	}
	committedTerm := map[uint64]uint64{20: 4, 21: 3, 22: 0, 30: 4}
	terms := make([]uint64, len(lost))
	for i, e := range lost {
		terms[i] = committedTerm[e.index]
	}
	for _, e := range overwrittenEntries(lost, 25, terms) {
		q.overwritten(e)
	}
	if !ended(over) || !errors.Is(over.err, ErrUnavailable) {
		t.Fatalf("an index committed with another term's entry: ended %v, %v; want definitely not applied", ended(over), over.err)
	}
	for name, p := range map[string]*proposal{"our own entry committed": ours, "beyond the commit index": beyond, "term not known": unknown} {
		if ended(p) {
			t.Errorf("%s: ended (%v), want still waiting for the log", name, p.err)
		}
	}
}
