package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SuiteConfig is the standard benchmark suite. Start from DefaultSuiteConfig.
type SuiteConfig struct {
	// Binary is the cloudwallet executable started for each server.
	Binary string
	// Runs of every workload; results are medians.
	Runs int
	// Duration, Warmup, Concurrency and Wallets of every load run.
	Duration, Warmup     time.Duration
	Concurrency, Wallets int
	Workloads            []string
	// Memory and restart measurements; zero skips them.
	MemoryWallets, MemoryEntries   int
	RestartWallets, RestartEntries int
	// ScaleCPU > 0 also runs `bench scale` with each node capped to that
	// many cores (skipped, with a line in the report, where cgroups
	// cannot cap CPU).
	ScaleCPU float64
	// Progress hears what the suite is doing.
	Progress io.Writer
}

// The suite's batch row: uniform transfers, BatchSize per
// POST /transactions/batch, from BatchClients clients (reported in
// transfers/s, with the p99 of a whole batch).
const (
	BatchWorkload = "batch"
	BatchSize     = 1000
	BatchClients  = 16
)

// DefaultSuiteConfig is what `make bench` runs.
func DefaultSuiteConfig() SuiteConfig {
	return SuiteConfig{
		Runs: 3, Duration: 10 * time.Second, Warmup: 2 * time.Second, Concurrency: 256, Wallets: 10_000,
		Workloads:     []string{"uniform", "hot", "zipf", BatchWorkload},
		MemoryWallets: 1_000_000, MemoryEntries: 10_000_000,
		RestartWallets: 1_000_000, RestartEntries: 10_000_000,
		ScaleCPU: DefaultScaleConfig().CPU,
	}
}

// SuiteResult is everything the suite measured.
type SuiteResult struct {
	Date    string              `json:"date"`
	Machine string              `json:"machine"`
	Version string              `json:"version"`
	Config  SuiteConfig         `json:"config"`
	Runs    map[string][]Result `json:"runs"`   // "baseline" and each workload
	Median  map[string]Result   `json:"median"` // per-field medians of the runs
	Memory  *MemoryResult       `json:"memory,omitempty"`
	Restart *RestartResult      `json:"restart,omitempty"`
	Scale   []ScaleResult       `json:"scale,omitempty"`
	// ScaleConfig is what the scale run used; ScaleSkipped says why it
	// did not run.
	ScaleConfig  *ScaleConfig `json:"scaleConfig,omitempty"`
	ScaleSkipped string       `json:"scaleSkipped,omitempty"`
}

// RunSuite runs, Runs times: the bare baseline server, then a fresh
// cloudwallet server on a new data dir with every workload. Each server is
// a separate process on this machine, like the load generator.
func RunSuite(cfg SuiteConfig, version string) (*SuiteResult, error) {
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "suite: "+format+"\n", args...)
		}
	}
	res := &SuiteResult{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Machine: machine(), Version: version,
		Config: cfg, Runs: map[string][]Result{}, Median: map[string]Result{}}
	load := func(server, token, workload string, baseline bool) (Result, error) {
		c := DefaultConfig()
		c.Server, c.OperatorToken, c.Workload, c.Baseline = server, token, workload, baseline
		c.Duration, c.Warmup, c.Concurrency, c.Wallets = cfg.Duration, cfg.Warmup, cfg.Concurrency, cfg.Wallets
		if workload == BatchWorkload { // uniform transfers, BatchSize per request, BatchClients clients
			c.Workload, c.Batch, c.Concurrency = "uniform", BatchSize, BatchClients
		}
		r, err := Run(c)
		switch {
		case baseline:
			r.Workload = "baseline"
		case workload == BatchWorkload:
			r.Workload = BatchWorkload
		}
		if err == nil {
			say("  %-8s %8.0f req/s  p99 %.2f ms  errors %d", r.Workload, r.RequestsPerSec, r.LatencyMs.P99, r.Errors)
		}
		return r, err
	}
	for run := 1; run <= cfg.Runs; run++ {
		say("run %d/%d: baseline server", run, cfg.Runs)
		addr, stop, err := startProcess(cfg.Binary, "", "bench", "baseline", "--http-addr", "{http}")
		if err != nil {
			return nil, err
		}
		r, err := load("http://"+addr, "", "uniform", true)
		stop()
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		res.Runs["baseline"] = append(res.Runs["baseline"], r)

		dir, err := os.MkdirTemp("", "cloudwallet-bench-")
		if err != nil {
			return nil, err
		}
		say("run %d/%d: cloudwallet server on %s", run, cfg.Runs, dir)
		addr, stop, err = startProcess(cfg.Binary, dir, "serve", "--data-dir", dir, "--http-addr", "{http}",
			"--peer-addr", "{raft}", "--log-level", "warn")
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		tok, err := os.ReadFile(filepath.Join(dir, "operator.token"))
		for _, w := range cfg.Workloads {
			if err != nil {
				break
			}
			var r Result
			if r, err = load("http://"+addr, strings.TrimSpace(string(tok)), w, false); err == nil {
				res.Runs[w] = append(res.Runs[w], r)
			}
		}
		stop()
		os.RemoveAll(dir)
		if err != nil {
			return nil, err
		}
	}
	for name, runs := range res.Runs {
		res.Median[name] = median(runs)
	}
	if cfg.MemoryWallets > 0 {
		say("memory: %d wallets, %d entries (in process)", cfg.MemoryWallets, cfg.MemoryEntries)
		m, err := MeasureMemory(cfg.MemoryWallets, cfg.MemoryEntries, 2, cfg.Progress)
		if err != nil {
			return nil, err
		}
		res.Memory = &m
	}
	if cfg.RestartWallets > 0 {
		dir, err := os.MkdirTemp("", "cloudwallet-restart-")
		if err != nil {
			return nil, err
		}
		say("restart: %d wallets, %d entries on %s", cfg.RestartWallets, cfg.RestartEntries, dir)
		r, err := MeasureRestart(dir, cfg.RestartWallets, cfg.RestartEntries, cfg.Progress)
		os.RemoveAll(dir)
		if err != nil {
			return nil, err
		}
		res.Restart = &r
	}
	if cfg.ScaleCPU > 0 {
		sc := DefaultScaleConfig()
		sc.Binary, sc.CPU, sc.Runs, sc.Progress = cfg.Binary, cfg.ScaleCPU, cfg.Runs, cfg.Progress
		say("scale: %d layouts, %d runs, %.2f cores per node", len(DefaultScaleLayouts()), sc.Runs, sc.CPU)
		r, err := RunScale(sc)
		switch {
		case errors.Is(err, ErrNoCPUCap):
			res.ScaleSkipped = err.Error()
		case err != nil:
			return nil, err
		default:
			sc.Progress = nil
			res.Scale, res.ScaleConfig = r, &sc
		}
	}
	return res, nil
}

// median takes each field's median over the runs.
func median(runs []Result) Result {
	pick := func(f func(Result) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m := runs[0]
	m.RequestsPerSec = pick(func(r Result) float64 { return r.RequestsPerSec })
	m.LatencyMs = Latency{
		P50:  pick(func(r Result) float64 { return r.LatencyMs.P50 }),
		P90:  pick(func(r Result) float64 { return r.LatencyMs.P90 }),
		P99:  pick(func(r Result) float64 { return r.LatencyMs.P99 }),
		P999: pick(func(r Result) float64 { return r.LatencyMs.P999 }),
		Max:  pick(func(r Result) float64 { return r.LatencyMs.Max }),
	}
	var errs uint64
	for _, r := range runs {
		errs += r.Errors
	}
	m.Errors = errs
	return m
}

// startProcess starts binary with args, {http} and {raft} replaced by free
// loopback addresses, and waits until the HTTP address answers (/readyz
// 200 for a server). stop sends SIGTERM and waits.
func startProcess(binary, logDir string, args ...string) (httpAddr string, stop func(), err error) {
	httpAddr, raftAddr := freeAddr(), freeAddr()
	for i, a := range args {
		args[i] = strings.NewReplacer("{http}", httpAddr, "{raft}", raftAddr).Replace(a)
	}
	stop, err = launch(binary, logDir, httpAddr, nil, args)
	return httpAddr, stop, err
}

// launch starts binary with args, in the CPU cap if one is given, and
// waits until httpAddr answers (/readyz 200 for a server). The log goes to
// logDir/server.log. stop sends SIGTERM and waits.
func launch(binary, logDir, httpAddr string, cap *cpuCap, args []string) (stop func(), err error) {
	cmd := exec.Command(binary, args...)
	var logf *os.File
	if logDir != "" {
		if logf, err = os.Create(filepath.Join(logDir, "server.log")); err != nil {
			return nil, err
		}
		cmd.Stderr = logf
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if logf != nil {
			logf.Close()
		}
	}
	if cap != nil {
		if err := cap.add(cmd.Process.Pid); err != nil {
			stop()
			return nil, fmt.Errorf("bench: putting the server in its CPU cap: %w", err)
		}
	}
	isServer := args[0] == "serve"
	deadline := time.Now().Add(2 * time.Minute)
	var notReady string // the server's last word on why it is not ready
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%s %s exited: %v", binary, args[0], err)
		default:
		}
		if isServer {
			if resp, err := http.Get("http://" + httpAddr + "/readyz?verbose"); err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return stop, nil
				}
				notReady = string(b)
			}
		} else if c, err := net.DialTimeout("tcp", httpAddr, time.Second); err == nil {
			c.Close()
			return stop, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if notReady != "" {
		return nil, fmt.Errorf("%s %s did not come up in 2 minutes; its /readyz said:\n%s", binary, args[0], notReady)
	}
	return nil, fmt.Errorf("%s %s did not come up", binary, args[0])
}

// freeAddr is a free port, never one this process handed out before (the
// kernel may offer a port again once the probe closed it, and a node given
// one port for HTTP and the internal port cannot start).
func freeAddr() string {
	usedAddrs.Lock()
	defer usedAddrs.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !usedAddrs.m[addr] {
			usedAddrs.m[addr] = true
			return addr
		}
	}
}

// usedAddrs is every address freeAddr handed out.
var usedAddrs = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// machine describes the CPU, cores, memory, kernel and Go of this machine.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores%s%s, %s", cpu, runtime.NumCPU(), mem, kernel, runtime.Version())
}
