package bench

import (
	"testing"
	"time"
)

// --layouts picks layouts by key, in the order given (the first is the
// baseline); an unknown key is an error.
func TestScaleLayoutsByKey(t *testing.T) {
	ls, err := ScaleLayoutsByKey([]string{"6n6g-k1", "1n1g"})
	if err != nil || len(ls) != 2 || ls[0].Nodes != 6 || ls[0].Groups != 6 || ls[0].replicas() != 3 || ls[1].Nodes != 1 {
		t.Fatalf("6n6g-k1,1n1g: %v %+v", err, ls)
	}
	if _, err := ScaleLayoutsByKey([]string{"7n"}); err == nil {
		t.Fatal("an unknown layout was accepted")
	}
}

// The CPU sampler of a scale run stops sleeping when a generator failed,
// so a failed run leaves no goroutine behind; otherwise it sleeps its time.
func TestSleepUnlessStopsWhenTold(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	if sleepUnless(time.Hour, stop) {
		t.Fatal("sleepUnless slept its hour though stop was closed")
	}
	if !sleepUnless(time.Millisecond, make(chan struct{})) {
		t.Fatal("sleepUnless did not sleep its whole time with stop open")
	}
}
