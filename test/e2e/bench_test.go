package e2e

import (
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/bench"
)

// The load generator drives a real server, counts what it was answered,
// and its conservation check passes on a correct server.
func TestBenchLoadGeneratorOnARealServer(t *testing.T) {
	s := newServer(t)
	for _, w := range []string{"uniform", "hot", "zipf"} {
		cfg := bench.DefaultConfig()
		cfg.Server, cfg.OperatorToken, cfg.Workload = s.url, s.operator, w
		cfg.Wallets, cfg.Concurrency, cfg.Warmup, cfg.Duration, cfg.SetupConcurrency = 50, 8, 200*time.Millisecond, 700*time.Millisecond, 8
		r, err := bench.Run(cfg)
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		if r.Completed == 0 || r.Completed != r.Statuses[201] || r.Errors != 0 || r.Requests != r.Completed+r.Failed {
			t.Fatalf("%s: %+v", w, r)
		}
		if !strings.HasPrefix(r.Check, "money conserved") || r.LatencyMs.P50 <= 0 || r.LatencyMs.P99 < r.LatencyMs.P50 {
			t.Fatalf("%s: %+v", w, r)
		}
	}
	// The server now holds three bench projects' transactions besides the default one.
	if l := s.expect(s.call("GET", "/projects", s.operator, nil), 200, ""); len(l.list) != 4 {
		t.Fatalf("projects after three runs: %s", l.raw)
	}
}

// With --auto-batch every client sends one transaction at a time through
// the client's auto-batching: every call is answered, counted once, the
// ledger checks out, and the calls travel in far fewer requests.
func TestBenchAutoBatchingClients(t *testing.T) {
	s := newServer(t)
	cfg := bench.DefaultConfig()
	cfg.Server, cfg.OperatorToken, cfg.AutoBatch = s.url, s.operator, 300*time.Microsecond
	cfg.Wallets, cfg.Concurrency, cfg.Warmup, cfg.Duration, cfg.SetupConcurrency = 200, 64, 200*time.Millisecond, time.Second, 8
	r, err := bench.Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed == 0 || r.Errors != 0 || r.Requests != r.Completed+r.Failed || !strings.HasPrefix(r.Check, "money conserved") {
		t.Fatalf("%+v", r)
	}
	batches := s.scrape()[series("cloudwallet_http_request_duration_seconds_count", "route", "/transactions/batch", "method", "POST", "code", "200")]
	if batches == 0 || batches*2 > float64(r.Completed) {
		t.Fatalf("%d transactions in %v batch requests: the calls were not batched", r.Completed, batches)
	}
}

// An open loop sends at the rate asked, whatever the server does.
func TestBenchOpenLoopKeepsItsRate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go bench.ServeBaseline(ln)
	cfg := bench.DefaultConfig()
	cfg.Server, cfg.Baseline, cfg.RatePerSec = "http://"+ln.Addr().String(), true, 500
	cfg.Wallets, cfg.Concurrency, cfg.Warmup, cfg.Duration = 100, 16, 0, 2*time.Second
	r, err := bench.Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 500/s for 2 s: the schedule has 1000 requests (+1 at t=0).
	if r.Mode != "open" || r.Requests < 950 || r.Requests > 1001 || r.Statuses[200] != r.Requests {
		t.Fatalf("open loop at 500/s for 2s: %+v", r)
	}
}

// `cloudwallet bench` prints the table and, with --json -, the result.
func TestBenchCLI(t *testing.T) {
	s := newServer(t)
	out, err := exec.Command(binary, "bench", "--server", s.url, "--data-dir", s.dir, "--wallets", "20",
		"--concurrency", "4", "--warmup", "0s", "--duration", "500ms", "--quiet", "--json", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"requests/s", "latency ms", "money conserved"} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
	var r bench.Result
	if err := json.Unmarshal([]byte(text[strings.Index(text, "{"):]), &r); err != nil || r.Completed == 0 {
		t.Fatalf("JSON result: %v\n%s", err, text)
	}
	// Without --quiet, a progress line a second goes to stderr.
	cmd := exec.Command(binary, "bench", "--server", s.url, "--data-dir", s.dir, "--wallets", "20",
		"--concurrency", "4", "--warmup", "0s", "--duration", "2200ms")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "req/s"); n < 2 || !strings.Contains(stderr.String(), "run ") {
		t.Fatalf("want a progress line each second of a 2.2 s run, got:\n%s", stderr.String())
	}
	if out, err := exec.Command(binary, "bench", "--server", s.url, "--workload", "nope", "--token", "x").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "workload") {
		t.Fatalf("a bad workload must fail with a clear error: %s", out)
	}
}
