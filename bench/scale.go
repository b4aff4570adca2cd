package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ScaleConfig is `cloudwallet bench scale`: how throughput grows with nodes.
// Every node is a separate process in its own cgroup capped to CPU cores,
// so N processes on one box stand in for N equal machines, and every
// layout is measured in the same run.
type ScaleConfig struct {
	Binary string
	// CPU is each node's cap in cores (0.2: a fifth of one).
	CPU float64
	// Runs of every layout; results are medians.
	Runs int
	// Duration, Warmup, Concurrency and Wallets of each load generator.
	Duration, Warmup     time.Duration
	Concurrency, Wallets int
	// Layouts to measure; nil: DefaultScaleLayouts.
	Layouts []ScaleLayout
	// Progress hears what the run is doing.
	Progress io.Writer
}

// ScaleLayout is one cluster shape: Nodes nodes with Groups shard groups of
// one shard each, each group on Replicas of the nodes (0: 3, the
// default), and one load generator per node, each with its own project
// spread over ProjectGroups groups.
type ScaleLayout struct {
	Key           string `json:"key"` // what --layouts names it by
	Name          string `json:"name"`
	Nodes         int    `json:"nodes"`
	Groups        int    `json:"groups"`
	Replicas      int    `json:"replicas,omitempty"`
	ProjectGroups int    `json:"projectGroups"`
}

// replicas is the layout's R.
func (l ScaleLayout) replicas() int { return cmp.Or(l.Replicas, 3) }

// DefaultScaleLayouts: one node; three nodes with three groups, each
// generator's project in one group and then spread over all three; three
// nodes with one group (latency through the leader and the followers);
// six nodes with six groups on three replicas each, projects in one group
// and then spread over all six (capacity grows with the nodes).
func DefaultScaleLayouts() []ScaleLayout {
	return []ScaleLayout{
		{Key: "1n1g", Name: "1 node, 1 group", Nodes: 1, Groups: 1, ProjectGroups: 1},
		{Key: "3n3g-k1", Name: "3 nodes, 3 groups, projects in 1 group", Nodes: 3, Groups: 3, ProjectGroups: 1},
		{Key: "3n3g-k3", Name: "3 nodes, 3 groups, projects over 3 groups", Nodes: 3, Groups: 3, ProjectGroups: 3},
		{Key: "3n1g", Name: "3 nodes, 1 group", Nodes: 3, Groups: 1, ProjectGroups: 1},
		{Key: "6n6g-k1", Name: "6 nodes, 6 groups on 3 each, projects in 1 group", Nodes: 6, Groups: 6, Replicas: 3, ProjectGroups: 1},
		{Key: "6n6g-k6", Name: "6 nodes, 6 groups on 3 each, projects over 6 groups", Nodes: 6, Groups: 6, Replicas: 3, ProjectGroups: 6},
	}
}

// ScaleLayoutsByKey picks layouts by their keys, in the order given.
func ScaleLayoutsByKey(keys []string) ([]ScaleLayout, error) {
	var out []ScaleLayout
	for _, k := range keys {
		i := slices.IndexFunc(DefaultScaleLayouts(), func(l ScaleLayout) bool { return l.Key == k })
		if i < 0 {
			var known []string
			for _, l := range DefaultScaleLayouts() {
				known = append(known, l.Key)
			}
			return nil, fmt.Errorf("bench: no scale layout %q (known: %s)", k, strings.Join(known, ", "))
		}
		out = append(out, DefaultScaleLayouts()[i])
	}
	return out, nil
}

// DefaultScaleConfig is what `cloudwallet bench scale` runs.
func DefaultScaleConfig() ScaleConfig {
	return ScaleConfig{CPU: 0.2, Runs: 3, Duration: 10 * time.Second, Warmup: 3 * time.Second,
		Concurrency: scaleConcurrency, Wallets: 2_000}
}

// scaleConcurrency is each generator's clients. A cluster's nodes do less
// work per transaction the more transactions each log entry, fsync and
// replication message carries, and a closed loop only fills those batches
// with enough requests in flight; an answer also waits for a quorum of
// capped peers (Little's law). Measured on 2026-12-07, 0.2 core per node:
// with 64 clients every node used 98% of its cap, and three nodes with
// three groups did 1.06× one node; with 256, 1.67×. One node did the same
// with either (3,384 and 3,473 req/s), so 256 compares every layout at
// its capacity. The report shows each node's CPU use beside its req/s.
const scaleConcurrency = 256

// ScaleResult is one layout's numbers: the generators' summed req/s, the
// p99 over all of them, and per node its generator's result and whether
// that node led the first group when the run began.
type ScaleResult struct {
	Layout         ScaleLayout `json:"layout"`
	RequestsPerSec float64     `json:"requestsPerSec"`
	P99Ms          float64     `json:"p99Ms"`
	// Ratio is the median, over the runs, of this layout's req/s against
	// the first layout's in the same run (noise between runs cancels).
	Ratio float64 `json:"ratio"`
	// RunsPerSec and Ratios are every run's req/s and ratio, in order.
	RunsPerSec []float64   `json:"runsPerSec"`
	Ratios     []float64   `json:"ratios"`
	Nodes      []ScaleNode `json:"nodes"`
}

// ScaleNode is one node's generator in a layout.
type ScaleNode struct {
	Leader bool   `json:"leader"` // led group 0
	Result Result `json:"result"`
	// CPUUse is the share of its cap the node used in the measured
	// seconds (1: all of it; well below: not saturated, see cpuuse.go).
	CPUUse float64 `json:"cpuUse"`
}

// RunScale measures every layout Runs times, alternating layouts within
// each run, and returns the medians.
func RunScale(cfg ScaleConfig) ([]ScaleResult, error) {
	if cfg.Layouts == nil {
		cfg.Layouts = DefaultScaleLayouts()
	}
	if cfg.Runs < 1 || cfg.Concurrency < 1 || cfg.Wallets < 2 {
		return nil, fmt.Errorf("bench: scale needs runs, concurrency and wallets of at least 1, 1 and 2")
	}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "scale: "+format+"\n", args...)
		}
	}
	// Fail before any server starts when CPU cannot be capped.
	probe, err := newCPUCap("cloudwallet-scale-probe", cfg.CPU)
	if err != nil {
		return nil, err
	}
	probe.remove()

	runs := make([][]ScaleResult, len(cfg.Layouts))
	for run := 1; run <= cfg.Runs; run++ {
		for i, l := range cfg.Layouts {
			say("run %d/%d: %s (%.2f cores per node)", run, cfg.Runs, l.Name, cfg.CPU)
			r, err := runLayout(cfg, l, say)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.Name, err)
			}
			say("  %8.0f req/s  p99 %.2f ms", r.RequestsPerSec, r.P99Ms)
			runs[i] = append(runs[i], r)
		}
	}
	out := make([]ScaleResult, len(cfg.Layouts))
	for i := range runs {
		out[i] = medianScale(runs[i])
		for r := range runs[i] {
			out[i].RunsPerSec = append(out[i].RunsPerSec, runs[i][r].RequestsPerSec)
			out[i].Ratios = append(out[i].Ratios, runs[i][r].RequestsPerSec/runs[0][r].RequestsPerSec)
		}
		out[i].Ratio = medianOf(out[i].Ratios)
	}
	return out, nil
}

// runLayout starts a fresh cluster of the layout, runs one generator per
// node at once, and stops the cluster.
func runLayout(cfg ScaleConfig, l ScaleLayout, say func(string, ...any)) (_ ScaleResult, err error) {
	base, err := os.MkdirTemp("", "cloudwallet-scale-")
	if err != nil {
		return ScaleResult{}, err
	}
	defer func() { // after the servers stop (deferred below, so run first)
		if err != nil {
			say("  the nodes' data dirs and logs (n*/server.log) are kept in %s", base)
			return
		}
		os.RemoveAll(base)
	}()
	var stops []func()
	var caps []*cpuCap
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		for _, c := range caps {
			c.remove()
		}
	}()
	urls := make([]string, l.Nodes)
	var peer0 string
	for i := range l.Nodes {
		dir := filepath.Join(base, "n"+strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return ScaleResult{}, err
		}
		cap, err := newCPUCap(fmt.Sprintf("cloudwallet-scale-%d-%d", os.Getpid(), i), cfg.CPU)
		if err != nil {
			return ScaleResult{}, err
		}
		caps = append(caps, cap)
		httpAddr, peerAddr := freeAddr(), freeAddr()
		args := []string{"serve", "--data-dir", dir, "--http-addr", httpAddr, "--peer-addr", peerAddr,
			"--groups", strconv.Itoa(l.Groups), "--shards", "1", "--replicas", strconv.Itoa(l.replicas()), "--log-level", "warn"}
		if i == 0 {
			peer0 = peerAddr
		} else {
			args = append(args, "--join", peer0, "--cluster-secret-file", filepath.Join(base, "n0", "cluster.secret"))
		}
		stop, err := launch(cfg.Binary, dir, httpAddr, cap, args)
		if err != nil {
			return ScaleResult{}, err
		}
		stops = append(stops, stop)
		urls[i] = "http://" + httpAddr
	}
	tokenBytes, err := os.ReadFile(filepath.Join(base, "n0", "operator.token"))
	if err != nil {
		return ScaleResult{}, err
	}
	token := strings.TrimSpace(string(tokenBytes))
	leaders, err := waitBalanced(urls, token, l)
	if err != nil {
		return ScaleResult{}, err
	}

	results := make([]Result, l.Nodes)
	errs := make([]error, l.Nodes)
	var ready, done sync.WaitGroup
	ready.Add(l.Nodes)
	// Every generator starts its warm-up when the last is set up, so the
	// measured seconds are the same for all: read the nodes' CPU time at
	// their start and end.
	cpuUse := make([]float64, l.Nodes)
	var cpuErr error
	var sampled sync.WaitGroup
	failed := make(chan struct{}) // closed when a generator failed: no sample is wanted
	defer sampled.Wait()
	sampled.Go(func() {
		ready.Wait()
		if !sleepUnless(cfg.Warmup, failed) {
			return
		}
		before, err := cpuUsed(caps)
		if err != nil {
			cpuErr = err
			return
		}
		if !sleepUnless(cfg.Duration, failed) {
			return
		}
		after, err := cpuUsed(caps)
		if err != nil {
			cpuErr = err
			return
		}
		for i := range cpuUse {
			cpuUse[i] = float64(after[i]-before[i]) / (cfg.CPU * float64(cfg.Duration))
		}
	})
	for i := range l.Nodes {
		done.Add(1)
		go func() {
			defer done.Done()
			c := DefaultConfig()
			c.Server, c.OperatorToken, c.ProjectGroups = urls[i], token, l.ProjectGroups
			c.Duration, c.Warmup, c.Concurrency, c.Wallets = cfg.Duration, cfg.Warmup, cfg.Concurrency, cfg.Wallets
			c.Seed = uint64(i + 1)
			var once sync.Once
			arrive := func() { once.Do(ready.Done) }
			c.AfterSetup = func() { arrive(); ready.Wait() }
			results[i], errs[i] = Run(c)
			arrive() // a generator that failed in setup must not hold the others
		}()
	}
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		close(failed)
		return ScaleResult{}, err
	}
	sampled.Wait()
	if cpuErr != nil {
		say("  cannot read the nodes' CPU time: %v", cpuErr)
	}
	r := ScaleResult{Layout: l, P99Ms: maxP99(results)}
	for i, res := range results {
		r.RequestsPerSec += res.RequestsPerSec
		r.Nodes = append(r.Nodes, ScaleNode{Leader: leaders[i], Result: res, CPUUse: cpuUse[i]})
		role := "follower"
		if leaders[i] {
			role = "leader of group 0"
		}
		say("  node %d (%s): %8.0f req/s  p99 %.2f ms  CPU %3.0f%% of its cap", i, role, res.RequestsPerSec, res.LatencyMs.P99, 100*cpuUse[i])
	}
	return r, nil
}

// sleepUnless sleeps for d, or less if stop closes first; it reports
// whether it slept the whole d.
func sleepUnless(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// cpuUsed is each cap's CPU time so far, in the order of caps.
func cpuUsed(caps []*cpuCap) ([]time.Duration, error) {
	out := make([]time.Duration, len(caps))
	for i, c := range caps {
		var err error
		if out[i], err = c.used(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxP99 is the worst generator's p99: what the slowest node's clients see.
func maxP99(rs []Result) float64 {
	var m float64
	for _, r := range rs {
		m = max(m, r.LatencyMs.P99)
	}
	return m
}

// clusterStatus is what the scale run reads of GET /cluster.
type clusterStatus struct {
	Node   string        `json:"node"`   // the node that answered
	Groups []groupStatus `json:"groups"` // the data groups, then the meta group
}

type groupStatus struct {
	Meta   bool           `json:"meta"`
	Leader string         `json:"leader"`
	Nodes  []memberStatus `json:"nodes"`
}

type memberStatus struct {
	ID       string `json:"id"`
	Suffrage string `json:"suffrage"`
}

// waitBalanced waits until every group has min(nodes, R) voters and, when
// there are as many groups as nodes, every node leads one. It returns, per
// node in start order, whether it leads group 0.
func waitBalanced(urls []string, token string, l ScaleLayout) ([]bool, error) {
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		st, err := getStatus(urls[0], token)
		if err == nil {
			var ok bool
			if ok, last = balanced(st, l); ok {
				return leadersOf(urls, token, st.Groups[0].Leader)
			}
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil, fmt.Errorf("bench: the cluster did not settle in 90 s: %s", last)
}

func balanced(st clusterStatus, l ScaleLayout) (bool, string) {
	if len(st.Groups) != l.Groups+1 { // and the meta group, last
		return false, fmt.Sprintf("%d groups", len(st.Groups))
	}
	leads := map[string]int{}
	for g, grp := range st.Groups {
		voters := 0
		for _, n := range grp.Nodes {
			if n.Suffrage == "Voter" {
				voters++
			}
		}
		if voters != min(l.Nodes, l.replicas()) || grp.Leader == "" {
			return false, fmt.Sprintf("group %d: %d voters, leader %q", g, voters, grp.Leader)
		}
		if !grp.Meta {
			leads[grp.Leader]++
		}
	}
	if l.Groups == l.Nodes && len(leads) != l.Nodes {
		return false, fmt.Sprintf("leaders on %d nodes of %d", len(leads), l.Nodes)
	}
	return true, ""
}

// leadersOf tells, per node in start order, whether it is the leader
// named: node i's id is the one its own /cluster answer names.
func leadersOf(urls []string, token, leader string) ([]bool, error) {
	out := make([]bool, len(urls))
	for i, u := range urls {
		st, err := getStatus(u, token)
		if err != nil {
			return nil, err
		}
		out[i] = st.Node == leader
	}
	return out, nil
}

func getStatus(url, token string) (clusterStatus, error) {
	var st clusterStatus
	req, _ := http.NewRequest("GET", url+"/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /cluster: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// medianScale takes the run whose summed req/s is the median (the lower
// middle of an even count).
func medianScale(runs []ScaleResult) ScaleResult {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b ScaleResult) int { return cmp.Compare(a.RequestsPerSec, b.RequestsPerSec) })
	return sorted[(len(sorted)-1)/2]
}

// medianOf is the median of vs (the mean of the middle two for an even
// count).
func medianOf(vs []float64) float64 {
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
