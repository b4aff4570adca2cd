package bench

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The cap is written where the machine's cgroups can take it: v2's
// cpu.max when its cpu controller is there, else v1's CFS quota; and a
// machine with neither gets ErrNoCPUCap, not a run without caps.
func TestCPUCapWritesTheQuotaOrRefuses(t *testing.T) {
	oldV2, oldV1 := cgroupV2Root, cgroupV1CPU
	t.Cleanup(func() { cgroupV2Root, cgroupV1CPU = oldV2, oldV1 })

	cgroupV2Root, cgroupV1CPU = t.TempDir(), filepath.Join(t.TempDir(), "missing")
	if _, err := newCPUCap("x", 0.2); !errors.Is(err, ErrNoCPUCap) {
		t.Fatalf("no cgroups: %v, want ErrNoCPUCap", err)
	}

	v2 := t.TempDir()
	os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpuset cpu io memory"), 0o644)
	cgroupV2Root = v2
	c, err := newCPUCap("node", 0.25)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(c.dir, "cpu.max")); string(b) != "25000 100000" {
		t.Fatalf("v2 cpu.max = %q, want a quarter of the period", b)
	}

	cgroupV2Root, cgroupV1CPU = t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(cgroupV1CPU, "cpu.cfs_quota_us"), []byte("-1"), 0o644)
	c, err = newCPUCap("node", 0.2)
	if err != nil {
		t.Fatal(err)
	}
	quota, _ := os.ReadFile(filepath.Join(c.dir, "cpu.cfs_quota_us"))
	period, _ := os.ReadFile(filepath.Join(c.dir, "cpu.cfs_period_us"))
	if string(quota) != "20000" || string(period) != "100000" {
		t.Fatalf("v1 quota %q per period %q, want 20000 per 100000", quota, period)
	}
	if _, err := newCPUCap("bad", 0); err == nil {
		t.Fatal("a cap of 0 cores was accepted")
	}
}

// A layout is measured only once every group has all its nodes as voters
// and, with as many groups as nodes, each node leads one.
func TestScaleWaitsForABalancedCluster(t *testing.T) {
	l := ScaleLayout{Nodes: 3, Groups: 3}
	// the data groups led by leaders, then the meta group, led by a
	st := func(leaders ...string) clusterStatus {
		var s clusterStatus
		for i, lead := range append(leaders, "a") {
			g := groupStatus{Leader: lead, Meta: i == len(leaders)}
			for _, id := range []string{"a", "b", "c"} {
				g.Nodes = append(g.Nodes, memberStatus{id, "Voter"})
			}
			s.Groups = append(s.Groups, g)
		}
		return s
	}
	if ok, why := balanced(st("a", "b", "c"), l); !ok {
		t.Fatalf("spread leaders (a leads the meta group too): not balanced: %s", why)
	}
	if ok, _ := balanced(st("a", "b"), l); ok {
		t.Fatal("a group missing counted as balanced")
	}
	if ok, why := balanced(st("a", "a", "c"), l); ok {
		t.Fatal("two groups led by one node counted as balanced")
	} else if why == "" {
		t.Fatal("no reason given")
	}
	s := st("a", "b", "c")
	s.Groups[1].Nodes[2].Suffrage = "Nonvoter"
	if ok, _ := balanced(s, l); ok {
		t.Fatal("a non-voter counted")
	}
}

// Each layout is compared with the first one of the same run, and the
// median of those ratios is reported: a slow run of every layout does not
// move it.
func TestScaleRatiosAreTakenWithinARun(t *testing.T) {
	if got := medianOf([]float64{1.12, 1.71, 1.11}); got != 1.12 {
		t.Fatalf("median of three: %v, want 1.12", got)
	}
	if got := medianOf([]float64{1, 3}); got != 2 {
		t.Fatalf("median of two: %v, want 2", got)
	}
}
