package engine

import (
	"context"
	"testing"
	"time"
)

// Waits double up to the schedule's max; a schedule with tries gives up
// after that many attempts; a closed channel or an ended context stops the
// loop at once.
func TestBackoff(t *testing.T) {
	b := backoffSchedule{first: time.Millisecond, max: 4 * time.Millisecond}.start()
	var seen []time.Duration
	for range 4 {
		seen = append(seen, b.next)
		if !b.wait(context.Background(), nil) {
			t.Fatal("an unbounded schedule gave up")
		}
	}
	if want := []time.Duration{1, 2, 4, 4}; len(seen) != 4 || seen[0] != want[0]*time.Millisecond ||
		seen[1] != want[1]*time.Millisecond || seen[2] != want[2]*time.Millisecond || seen[3] != want[3]*time.Millisecond {
		t.Fatalf("waits %v, want 1ms 2ms 4ms 4ms", seen)
	}

	three := backoffSchedule{first: time.Microsecond, max: time.Microsecond, tries: 3}.start()
	attempts := 1
	for three.wait(context.Background(), nil) {
		attempts++
	}
	if attempts != 3 {
		t.Fatalf("%d attempts, want 3", attempts)
	}

	closed := make(chan struct{})
	close(closed)
	if (backoffSchedule{first: time.Hour, max: time.Hour}).start().wait(context.Background(), closed) {
		t.Fatal("a closed channel did not stop the wait")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if (backoffSchedule{first: time.Hour, max: time.Hour}).start().wait(ctx, nil) {
		t.Fatal("an ended context did not stop the wait")
	}
}
