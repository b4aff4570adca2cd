package bench

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the suite's results as bench/RESULTS.md holds them.
func WriteMarkdown(w io.Writer, r *SuiteResult, command string) {
	c := r.Config
	fmt.Fprintf(w, "# Benchmark results\n\n")
	fmt.Fprintf(w, "- Date: %s\n- Machine: %s\n- Build: %s\n- Command: `%s`\n\n", r.Date, r.Machine, r.Version, command)
	fmt.Fprintf(w, "Each run starts the bare fasthttp baseline server (`cloudwallet bench baseline`: every request answered\n")
	fmt.Fprintf(w, "with a fixed 200-byte JSON body), loads it, stops it; then starts a fresh single-node cloudwallet on a new\n")
	fmt.Fprintf(w, "data dir (durable: every answer waits for its log entry's fsync) and loads it with each workload. Servers\n")
	fmt.Fprintf(w, "and the load generator are separate processes sharing this machine. Load: `POST /transactions`, closed\n")
	fmt.Fprintf(w, "loop, %d clients, %d funded wallets, %v measured after %v of warm-up; one Transfer per transaction\n",
		c.Concurrency, c.Wallets, c.Duration, c.Warmup)
	fmt.Fprintf(w, "(hot: plus a fee Transfer to one system wallet; zipf: wallets drawn with a Zipf law, s = 1.1). After each\n")
	fmt.Fprintf(w, "run the load generator reads every wallet back and checks that money is conserved.\n\n")

	fmt.Fprintf(w, "## Medians of %d runs\n\n", c.Runs)
	fmt.Fprintf(w, "| workload | requests/s | vs baseline | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	base := r.Median["baseline"]
	for _, name := range append([]string{"baseline"}, c.Workloads...) {
		m, ok := r.Median[name]
		if !ok {
			continue
		}
		l := m.LatencyMs
		if name == BatchWorkload {
			name = fmt.Sprintf("batch %d (transfers/s; latency per batch, %d clients)", BatchSize, BatchClients)
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f%% | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", name, m.RequestsPerSec,
			100*m.RequestsPerSec/base.RequestsPerSec, l.P50, l.P90, l.P99, l.P999, l.Max, m.Errors)
	}
	if u, ok := r.Median["uniform"]; ok && base.RequestsPerSec > 0 {
		fmt.Fprintf(w, "\nTargets (issue 6):\n\n")
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "**missed**"
		}
		tput := u.RequestsPerSec / base.RequestsPerSec
		p99 := u.LatencyMs.P99 / base.LatencyMs.P99
		fmt.Fprintf(w, "- uniform throughput ≥ 50%% of the baseline: %.0f%% — %s\n", 100*tput, verdict(tput >= 0.5))
		fmt.Fprintf(w, "- uniform p99 ≤ 2× the baseline p99: %.2f× — %s\n", p99, verdict(p99 <= 2))
		if h, ok := r.Median["hot"]; ok {
			hot := h.RequestsPerSec / u.RequestsPerSec
			fmt.Fprintf(w, "- hot throughput ≥ 80%% of uniform: %.0f%% — %s\n", 100*hot, verdict(hot >= 0.8))
		}
	}

	fmt.Fprintf(w, "\n## Every run\n\n| workload | run | requests/s | p50 ms | p99 ms | p99.9 ms | completed | failed | errors | check |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, name := range append([]string{"baseline"}, c.Workloads...) {
		for i, x := range r.Runs[name] {
			check := x.Check
			if check == "" {
				check = "–"
			}
			fmt.Fprintf(w, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %d | %d | %d | %s |\n", name, i+1, x.RequestsPerSec,
				x.LatencyMs.P50, x.LatencyMs.P99, x.LatencyMs.P999, x.Completed, x.Failed, x.Errors, check)
		}
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "\n## Memory\n\nLive heap of the state machine (in process, after a full GC), %d customers with one wallet each,\n", m.Wallets)
		fmt.Fprintf(w, "then transfers until it holds %d entries:\n\n", m.Entries)
		fmt.Fprintf(w, "| record | bytes of heap | target |\n|---|---:|---:|\n")
		fmt.Fprintf(w, "| a customer with its wallet | %.0f | 256 per wallet |\n", m.BytesPerWallet)
		fmt.Fprintf(w, "| a system wallet alone | %.0f | |\n", m.BytesPerSystemWallet)
		fmt.Fprintf(w, "| an entry (a Transfer makes 2, plus its transaction record) | %.0f | 128 |\n", m.BytesPerEntry)
	}
	if x := r.Restart; x != nil {
		fmt.Fprintf(w, "\n## Restart\n\nA durable node with %d wallets and %d entries (built through Raft and the log store in %.0f s),\n",
			x.Wallets, x.Entries, x.BuildSeconds)
		fmt.Fprintf(w, "a snapshot of %.1f MiB and %d log entries after it, restarted until ready (snapshot restored,\n", float64(x.SnapshotBytes)/(1<<20), x.LogTailEntries)
		fmt.Fprintf(w, "tail replayed, leader elected — the election alone waits %.1f s): **%.1f s**.\n", x.ElectionFloor, x.RestartSeconds)
	}
	switch {
	case r.Scale != nil:
		fmt.Fprintf(w, "\n## Scale: adding nodes (`cloudwallet bench scale`)\n\n")
		WriteScaleMarkdown(w, *r.ScaleConfig, r.Scale)
	case r.ScaleSkipped != "":
		fmt.Fprintf(w, "\n## Scale\n\nNot run: %s\n", r.ScaleSkipped)
	}
}

// WriteScaleMarkdown writes the scale run's table: how throughput grows
// with nodes at the same CPU per node.
func WriteScaleMarkdown(w io.Writer, cfg ScaleConfig, rs []ScaleResult) {
	fmt.Fprintf(w, "Every node is a separate process in its own cgroup capped to %.2f cores, so the nodes compare like\n", cfg.CPU)
	fmt.Fprintf(w, "equal machines; each node has its own load generator (%d clients, %d wallets of its own project,\n",
		cfg.Concurrency, cfg.Wallets)
	fmt.Fprintf(w, "uniform transfers, %v measured after %v of warm-up, all generators over the same seconds), and\n", cfg.Duration, cfg.Warmup)
	fmt.Fprintf(w, "their requests/s are summed. Groups have one shard each. %d runs, layouts alternating; each run's\n", cfg.Runs)
	fmt.Fprintf(w, "layouts are compared with its first layout, and the ratio shown is the median of those; the other\n")
	fmt.Fprintf(w, "columns are from the run with the median requests/s. CPU used is each node's CPU time in the\n")
	fmt.Fprintf(w, "measured seconds against its cap: near 100%%, the nodes were saturated and req/s is their capacity.\n\n")
	fmt.Fprintf(w, "| layout | requests/s | vs the first (median of runs) | each run's ratio | worst node's p99 ms | nodes' CPU used | per node: req/s, p99 ms |\n|---|---:|---:|---|---:|---:|---|\n")
	for _, r := range rs {
		var per []string
		for _, n := range r.Nodes {
			role := ""
			if n.Leader && r.Layout.Groups == 1 && r.Layout.Nodes > 1 {
				role = " (leader)"
			}
			per = append(per, fmt.Sprintf("%.0f, %.2f%s", n.Result.RequestsPerSec, n.Result.LatencyMs.P99, role))
		}
		var ratios []string
		for _, x := range r.Ratios {
			ratios = append(ratios, fmt.Sprintf("%.2f", x))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f× | %s | %.2f | %s | %s |\n", r.Layout.Name, r.RequestsPerSec, r.Ratio,
			strings.Join(ratios, ", "), r.P99Ms, cpuUseRange(r.Nodes), strings.Join(per, "; "))
	}
}

// cpuUseRange is the least and most CPU any node used of its cap.
func cpuUseRange(nodes []ScaleNode) string {
	if len(nodes) == 0 {
		return ""
	}
	lo, hi := nodes[0].CPUUse, nodes[0].CPUUse
	for _, n := range nodes[1:] {
		lo, hi = min(lo, n.CPUUse), max(hi, n.CPUUse)
	}
	l, h := fmt.Sprintf("%.0f", 100*lo), fmt.Sprintf("%.0f", 100*hi)
	if l == h {
		return l + "%"
	}
	return l + "–" + h + "%"
}
