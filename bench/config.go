package bench

import (
	"fmt"
	"io"
	"time"
)

// Config is one load-generator run. Start from DefaultConfig.
type Config struct {
	// Server is the base URL, e.g. http://127.0.0.1:8080.
	Server string
	// OperatorToken creates the run's own project and key pair.
	OperatorToken string
	// Workload is uniform, hot (every transaction also pays a fee to one
	// system wallet) or zipf (wallets drawn with a Zipf law, exponent ZipfS).
	Workload string
	// Wallets is the number of funded customer wallets.
	Wallets int
	// Concurrency is the number of clients (closed loop), or the most
	// requests in flight (open loop).
	Concurrency int
	// RatePerSec > 0 runs an open loop at that many requests per second;
	// latency then counts from each request's intended send time.
	RatePerSec int
	// Warmup runs before Duration and is not measured.
	Warmup, Duration time.Duration
	// FundingPerWallet is issued to every wallet before the run; transfers
	// move 1..AmountMax, so no wallet runs dry.
	FundingPerWallet int64
	AmountMax        int
	ZipfS            float64
	// SetupConcurrency is the number of clients creating wallets.
	SetupConcurrency int
	// Baseline targets the bare server (`cloudwallet bench baseline`): no
	// setup, no check; any 2xx counts as done.
	Baseline bool
	// Progress receives a line per second and the setup's progress; nil is quiet.
	Progress io.Writer
	// Seed makes the wallet choices repeatable.
	Seed uint64
	// ProjectGroups is how many shard groups the run's project spans
	// (POST /projects "groups"); 0 leaves it to the server (1).
	ProjectGroups int
	// Batch > 0 sends Batch transactions per request, as one
	// POST /transactions/batch; results count transfers, latency is per
	// batch.
	Batch int
	// AutoBatch > 0 has every client send one transaction at a time
	// through package client's auto-batching (CreateTransaction with
	// Batch.Window = AutoBatch): concurrent calls travel together as one
	// POST /transactions/batch, each caller with its own result.
	AutoBatch time.Duration
	// AfterSetup, if set, is called once the ledger is set up, before the
	// warm-up: generators running side by side wait there for each other,
	// so that they measure the same seconds.
	AfterSetup func()
}

// Limits on a run, so a typo cannot exhaust the machine.
const (
	WalletsMax     = 10_000_000
	ConcurrencyMax = 65_536
	RateMax        = 10_000_000
	DurationMax    = 24 * time.Hour
)

// DefaultConfig returns the standard run: uniform transfers between 10,000
// wallets from 256 clients for 10 s after a 2 s warm-up.
func DefaultConfig() Config {
	return Config{
		Server:           "http://127.0.0.1:8080",
		Workload:         "uniform",
		Wallets:          10_000,
		Concurrency:      256,
		Warmup:           2 * time.Second,
		Duration:         10 * time.Second,
		FundingPerWallet: 1_000_000_000_000,
		AmountMax:        100,
		ZipfS:            1.1,
		SetupConcurrency: 64,
		Seed:             1,
	}
}

// Validate reports the first setting out of range.
func (c *Config) Validate() error {
	switch {
	case c.Workload != "uniform" && c.Workload != "hot" && c.Workload != "zipf":
		return fmt.Errorf("bench: workload %q is not uniform, hot or zipf", c.Workload)
	case c.Wallets < 2 || c.Wallets > WalletsMax:
		return fmt.Errorf("bench: wallets %d outside 2..%d", c.Wallets, WalletsMax)
	case c.Concurrency < 1 || c.Concurrency > ConcurrencyMax:
		return fmt.Errorf("bench: concurrency %d outside 1..%d", c.Concurrency, ConcurrencyMax)
	case c.RatePerSec < 0 || c.RatePerSec > RateMax:
		return fmt.Errorf("bench: rate %d outside 0..%d", c.RatePerSec, RateMax)
	case c.Duration <= 0 || c.Duration > DurationMax || c.Warmup < 0 || c.Warmup > DurationMax:
		return fmt.Errorf("bench: duration %v / warm-up %v outside (0, %v]", c.Duration, c.Warmup, DurationMax)
	case c.AmountMax < 1 || c.FundingPerWallet < 1:
		return fmt.Errorf("bench: amounts must be positive")
	case c.ZipfS <= 1:
		return fmt.Errorf("bench: zipf exponent must be above 1")
	case c.SetupConcurrency < 1 || c.SetupConcurrency > 1024:
		return fmt.Errorf("bench: setup concurrency %d outside 1..1024", c.SetupConcurrency)
	case c.Batch < 0 || c.Batch > 10_000:
		return fmt.Errorf("bench: batch %d outside 0..10000", c.Batch)
	case (c.Batch > 0 || c.AutoBatch > 0) && c.Baseline:
		return fmt.Errorf("bench: batches need the real server, not the baseline")
	case c.Batch > 0 && c.AutoBatch > 0:
		return fmt.Errorf("bench: --batch and --auto-batch are two ways to batch; pick one")
	case c.AutoBatch < 0 || c.AutoBatch > time.Second:
		return fmt.Errorf("bench: auto-batch window %v outside 0..1s", c.AutoBatch)
	case c.AutoBatch > 0 && c.RatePerSec > 0:
		return fmt.Errorf("bench: --auto-batch runs closed loop only")
	case c.ProjectGroups < 0 || c.ProjectGroups > 1024:
		return fmt.Errorf("bench: project groups %d outside 0..1024", c.ProjectGroups)
	case !c.Baseline && c.OperatorToken == "":
		return fmt.Errorf("bench: an operator token is needed to set up the run's project")
	}
	return nil
}
