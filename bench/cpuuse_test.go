package bench

import (
	"os"
	"testing"
	"time"
)

// utime and stime are counted from the last ')', so a command name with
// spaces and parentheses does not shift them.
func TestParseProcStatCPU(t *testing.T) {
	line := []byte("4242 (cloud (wallet) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 12 0 1000 0 0\n")
	got, err := parseProcStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want { // (250+75) ticks of 10 ms
		t.Fatalf("CPU = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "4242 no name S 1", "4242 (x) S 1 2 3"} {
		if _, err := parseProcStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// This process's own CPU time grows while it works.
func TestProcessCPUGrows(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time went from %v to %v over 300 ms of spinning (%d)", before, after, x)
	}
}

// The report's CPU column: one figure when the nodes round alike, else
// the least and the most.
func TestCPUUseRange(t *testing.T) {
	for _, c := range []struct {
		use  []float64
		want string
	}{
		{nil, ""},
		{[]float64{0.98}, "98%"},
		{[]float64{0.975, 0.985}, "98%"}, // both print as 98 (half to even), never "98–98%"
		{[]float64{0.68, 1.0, 0.82}, "68–100%"},
	} {
		var nodes []ScaleNode
		for _, u := range c.use {
			nodes = append(nodes, ScaleNode{CPUUse: u})
		}
		if got := cpuUseRange(nodes); got != c.want {
			t.Errorf("%v: %q, want %q", c.use, got, c.want)
		}
	}
}
