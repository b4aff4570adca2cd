package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuCap is a cgroup capped to a share of one CPU: processes put in it
// stand in for a machine of that many cores, so N of them on one box
// compare like N equal machines. cgroup v2 (cpu.max) is used where its cpu
// controller is available, else v1 (cpu.cfs_quota_us).
type cpuCap struct {
	dir  string
	pids []int // put in by add; owned by the goroutine that runs the layout
}

// cgroup roots, variables so a test can point them elsewhere.
var (
	cgroupV2Root = "/sys/fs/cgroup"
	cgroupV1CPU  = "/sys/fs/cgroup/cpu"
)

// ErrNoCPUCap: neither cgroup v2's cpu.max nor v1's cpu.cfs_quota_us can be
// written here.
var ErrNoCPUCap = errors.New("bench: cannot cap CPU: neither cgroup v2 cpu.max nor v1 cpu.cfs_quota_us is writable " +
	"(run as root on Linux with the cpu controller mounted)")

const cfsPeriodUs = 100_000

// newCPUCap makes the cgroup name capped to cpus (0.2: a fifth of a core).
func newCPUCap(name string, cpus float64) (*cpuCap, error) {
	if cpus <= 0 || cpus > 1024 {
		return nil, fmt.Errorf("bench: a CPU cap of %v cores is outside (0, 1024]", cpus)
	}
	quota := strconv.Itoa(int(cpus * cfsPeriodUs))
	period := strconv.Itoa(cfsPeriodUs)
	if ctl, err := os.ReadFile(filepath.Join(cgroupV2Root, "cgroup.controllers")); err == nil && hasWord(string(ctl), "cpu") {
		// The parent must hand the cpu controller down (it may already).
		os.WriteFile(filepath.Join(cgroupV2Root, "cgroup.subtree_control"), []byte("+cpu"), 0)
		dir := filepath.Join(cgroupV2Root, name)
		if err := os.Mkdir(dir, 0o755); err == nil || errors.Is(err, os.ErrExist) {
			if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(quota+" "+period), 0); err == nil {
				return &cpuCap{dir: dir}, nil
			}
			os.Remove(dir)
		}
	}
	if _, err := os.Stat(filepath.Join(cgroupV1CPU, "cpu.cfs_quota_us")); err == nil {
		dir := filepath.Join(cgroupV1CPU, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %v", ErrNoCPUCap, err)
		}
		if err := errors.Join(
			os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(period), 0),
			os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(quota), 0),
		); err != nil {
			os.Remove(dir)
			return nil, fmt.Errorf("%w: %v", ErrNoCPUCap, err)
		}
		return &cpuCap{dir: dir}, nil
	}
	return nil, ErrNoCPUCap
}

// add moves a process (with its threads) into the cgroup.
func (c *cpuCap) add(pid int) error {
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return err
	}
	c.pids = append(c.pids, pid)
	return nil
}

// used is the CPU time the processes put in the cap have used so far.
func (c *cpuCap) used() (time.Duration, error) {
	var sum time.Duration
	for _, pid := range c.pids {
		d, err := processCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// remove deletes the cgroup; its processes must have exited.
func (c *cpuCap) remove() error { return os.Remove(c.dir) }

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
