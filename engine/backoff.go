package engine

import (
	"context"
	"time"
)

// Retry schedules. Every loop that retries in the engine waits through a
// backoff, so the waits are named and bounded in one place.
var (
	// joinRetry: asking the cluster to add or promote this node.
	joinRetry = backoffSchedule{first: 200 * time.Millisecond, max: 5 * time.Second}
	// infoRetry: learning the cluster's shape before joining (30 tries).
	infoRetry = backoffSchedule{first: time.Second, max: time.Second, tries: 30}
	// stepRetry: a step of a transaction across groups that was definitely
	// not proposed (no leader for a moment, a full queue).
	stepRetry = backoffSchedule{first: 10 * time.Millisecond, max: 200 * time.Millisecond}
	// fenceRetry: proposing a fence until it applies.
	fenceRetry = backoffSchedule{first: 50 * time.Millisecond, max: time.Second}
	// readIndexRetry: asking for a read index while a leader takes office.
	readIndexRetry = backoffSchedule{first: 10 * time.Millisecond, max: 10 * time.Millisecond}
)

// backoffSchedule is a retry schedule: waits that double from first up to
// max, for at most tries attempts (0: no limit).
type backoffSchedule struct {
	first, max time.Duration
	tries      int
}

// backoff is one retry loop's position in its schedule. It belongs to the
// goroutine running the loop.
type backoff struct {
	s     backoffSchedule
	next  time.Duration
	tried int
}

func (s backoffSchedule) start() *backoff { return &backoff{s: s, next: s.first} }

// wait waits before the next attempt. It returns false, at once, when
// the schedule's tries are used up, ctx ends or closing closes: the loop
// then gives up.
func (b *backoff) wait(ctx context.Context, closing <-chan struct{}) bool {
	b.tried++
	if b.s.tries > 0 && b.tried >= b.s.tries {
		return false
	}
	t := time.NewTimer(b.next)
	defer t.Stop()
	b.next = min(2*b.next, b.s.max)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-closing:
	}
	return false
}
