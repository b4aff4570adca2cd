package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/cloudwallet/cloudwallet/bench"
)

// benchCmd: cloudwallet bench [run flags] | bench baseline | bench suite.
func benchCmd(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "baseline":
			return benchBaseline(args[1:])
		case "suite":
			return benchSuite(args[1:])
		case "scale":
			return benchScale(args[1:])
		}
	}
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: cloudwallet bench [flags]          load a running server with transfers
       cloudwallet bench baseline --http-addr ADDR   the bare fasthttp server (the ceiling)
       cloudwallet bench suite [--runs 3] [--out FILE]   the standard suite: fresh servers, medians
       cloudwallet bench scale [--cpu 0.2] [--runs 3] [--layouts 1n1g,3n3g-k1,...]   1, 3 and 6 nodes, each node in a CPU-capped cgroup (root)

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Server, "server", envOr("CLOUDWALLET_SERVER", cfg.Server), "server URL (env CLOUDWALLET_SERVER)")
	token := fs.String("token", envOr("CLOUDWALLET_OPERATOR_TOKEN", ""), "operator token (env CLOUDWALLET_OPERATOR_TOKEN); default: DATA_DIR/operator.token")
	dataDir := fs.String("data-dir", envOr("CLOUDWALLET_DATA_DIR", "./data"), "data dir to read operator.token from")
	fs.StringVar(&cfg.Workload, "workload", cfg.Workload, "uniform, hot (every transaction also pays a fee to one system wallet) or zipf")
	fs.IntVar(&cfg.Wallets, "wallets", cfg.Wallets, "funded wallets")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "clients (closed loop) or most requests in flight (open loop)")
	fs.IntVar(&cfg.RatePerSec, "rate", 0, "requests per second: an open loop, latency from the intended send time (0: closed loop)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured warm-up before it")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the wallet choices")
	fs.IntVar(&cfg.ProjectGroups, "project-groups", 0, "shard groups the run's project spans (0: the server's default, 1)")
	fs.IntVar(&cfg.Batch, "batch", 0, "transactions per request, sent as POST /transactions/batch (0: one per POST /transactions); results in transfers/s, latency per batch")
	fs.DurationVar(&cfg.AutoBatch, "auto-batch", 0, "each client sends one transaction at a time through package client's auto-batching with this window (e.g. 300us): concurrent calls travel as one POST /transactions/batch (0: off)")
	fs.BoolVar(&cfg.Baseline, "baseline", false, "the server is `cloudwallet bench baseline`: no setup, no check")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file (- for stdout)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file (for go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: --cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: --cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	cfg.OperatorToken = *token
	if cfg.OperatorToken == "" && !cfg.Baseline {
		b, err := os.ReadFile(filepath.Join(*dataDir, "operator.token"))
		if err != nil {
			return fmt.Errorf("bench: no --token and no readable operator.token: %w", err)
		}
		cfg.OperatorToken = strings.TrimSpace(string(b))
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	res, err := bench.Run(cfg)
	if res.Requests > 0 {
		bench.WriteTable(os.Stdout, res)
	}
	if *jsonOut != "" && res.Requests > 0 {
		b, _ := json.MarshalIndent(res, "", "  ")
		b = append(b, '\n')
		if *jsonOut == "-" {
			os.Stdout.Write(b)
		} else if werr := os.WriteFile(*jsonOut, b, 0o644); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func benchBaseline(args []string) error {
	fs := flag.NewFlagSet("bench baseline", flag.ContinueOnError)
	addr := fs.String("http-addr", "127.0.0.1:8090", "address to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "baseline server on %s\n", ln.Addr())
	return bench.ServeBaseline(ln)
}
func benchSuite(args []string) error {
	cfg := bench.DefaultSuiteConfig()
	fs := flag.NewFlagSet("bench suite", flag.ContinueOnError)
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "runs of every workload (results are medians)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time of each load run")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "warm-up before each load run")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "clients")
	fs.IntVar(&cfg.Wallets, "wallets", cfg.Wallets, "funded wallets of each load run")
	fs.IntVar(&cfg.MemoryWallets, "memory-wallets", cfg.MemoryWallets, "wallets of the memory measurement (0: skip)")
	fs.IntVar(&cfg.MemoryEntries, "memory-entries", cfg.MemoryEntries, "entries of the memory measurement")
	fs.IntVar(&cfg.RestartWallets, "restart-wallets", cfg.RestartWallets, "wallets of the restart measurement (0: skip)")
	fs.IntVar(&cfg.RestartEntries, "restart-entries", cfg.RestartEntries, "entries of the restart measurement")
	fs.Float64Var(&cfg.ScaleCPU, "scale-cpu", cfg.ScaleCPU, "cores per node of the scale measurement (0: skip)")
	out := fs.String("out", "", "write the Markdown report to this file (default: stdout)")
	jsonOut := fs.String("json", "", "also write every number as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Binary, cfg.Progress = exe, os.Stderr
	res, err := bench.RunSuite(cfg, fmt.Sprintf("cloudwallet %s (commit %s)", version, commit))
	if err != nil {
		return err
	}
	w := os.Stdout
	if *out != "" {
		if w, err = os.Create(*out); err != nil {
			return err
		}
		defer w.Close()
	}
	bench.WriteMarkdown(w, res, "cloudwallet bench suite "+strings.Join(args, " "))
	return writeJSONFile(*jsonOut, res)
}

func benchScale(args []string) error {
	cfg := bench.DefaultScaleConfig()
	fs := flag.NewFlagSet("bench scale", flag.ContinueOnError)
	fs.Float64Var(&cfg.CPU, "cpu", cfg.CPU, "cores each node may use (its cgroup's cap)")
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "runs of every layout (results are medians)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time of each run")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "warm-up before each run")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "clients of each node's load generator")
	fs.IntVar(&cfg.Wallets, "wallets", cfg.Wallets, "funded wallets of each load generator")
	layouts := fs.String("layouts", "", "comma-separated layouts to measure, the first the baseline (default: all of "+scaleKeys()+")")
	jsonOut := fs.String("json", "", "also write every number as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *layouts != "" {
		var err error
		if cfg.Layouts, err = bench.ScaleLayoutsByKey(strings.Split(*layouts, ",")); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Binary, cfg.Progress = exe, os.Stderr
	res, err := bench.RunScale(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("# cloudwallet bench scale %s\n\n", strings.Join(args, " "))
	bench.WriteScaleMarkdown(os.Stdout, cfg, res)
	return writeJSONFile(*jsonOut, res)
}

// scaleKeys lists the scale layouts' keys.
func scaleKeys() string {
	var keys []string
	for _, l := range bench.DefaultScaleLayouts() {
		keys = append(keys, l.Key)
	}
	return strings.Join(keys, ", ")
}

// writeJSONFile writes v as indented JSON to path; an empty path writes
// nothing.
func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
