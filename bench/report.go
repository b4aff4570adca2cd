package bench

import (
	"fmt"
	"io"
	"sort"
)

// WriteTable prints a result for people.
func WriteTable(w io.Writer, r Result) {
	mode := fmt.Sprintf("closed loop, %d clients", r.Concurrency)
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %d req/s, up to %d in flight", r.RatePerSec, r.Concurrency)
	}
	fmt.Fprintf(w, "workload     %s (%s, %d wallets, %.1fs)\n", r.Workload, mode, r.Wallets, r.Seconds)
	if r.Batch > 0 {
		fmt.Fprintf(w, "transfers/s  %.0f in batches of %d (%.0f batches/s)\n", r.RequestsPerSec, r.Batch, r.RequestsPerSec/float64(r.Batch))
	} else if r.AutoBatchUs > 0 {
		fmt.Fprintf(w, "transfers/s  %.0f, each client one at a time, auto-batched (window %d µs)\n", r.RequestsPerSec, r.AutoBatchUs)
	} else {
		fmt.Fprintf(w, "requests/s   %.0f\n", r.RequestsPerSec)
	}
	fmt.Fprintf(w, "answers      %d completed, %d failed", r.Completed, r.Failed)
	codes := make([]int, 0, len(r.Statuses))
	for s := range r.Statuses {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	for _, s := range codes {
		fmt.Fprintf(w, ", %d×%d", r.Statuses[s], s)
	}
	fmt.Fprintf(w, "; %d errors\n", r.Errors)
	l := r.LatencyMs
	if r.Batch > 0 {
		fmt.Fprintf(w, "per batch, ")
	}
	fmt.Fprintf(w, "latency ms   p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	if r.Check != "" {
		fmt.Fprintf(w, "check        %s\n", r.Check)
	}
}
