package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cw "github.com/cloudwallet/cloudwallet/client"
)

// ledger is what a run set up: its project's client and the wallets. The
// measured requests go through api.Raw with bodies built by hand (the load
// generator shares the machine with the server it measures); setup and
// checks use its typed calls.
type ledger struct {
	api     *cw.Client
	batched *cw.Client // --auto-batch: calls ride in batches
	project string
	asset   string
	wallets []string
	fee     string // system wallet of the hot workload
	fundTxs int
}

// fundOpsMax is how many Issue operations one funding transaction carries
// (the API allows 1000).
const fundOpsMax = 1000

func setup(cfg *Config) (*ledger, error) {
	ctx := context.Background()
	op, err := cw.New(cw.Config{Server: cfg.Server, Token: cfg.OperatorToken, Conns: cfg.SetupConcurrency})
	if err != nil {
		return nil, err
	}
	defer op.Close()
	name := "bench-" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	var p cw.Project
	if err := ride(func() (err error) { p, err = op.CreateProject(ctx, name, cfg.ProjectGroups); return }); err != nil {
		return nil, fmt.Errorf("bench: creating the project (is the operator token right?): %w", err)
	}
	var kp cw.KeyPair
	if err := ride(func() (err error) { kp, err = op.CreateKeyPair(ctx, p.ID, "bench"); return }); err != nil {
		return nil, err
	}
	api, err := cw.New(cw.Config{Server: cfg.Server, Token: kp.AccessKey, Conns: cfg.Concurrency + cfg.SetupConcurrency, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	l := &ledger{api: api, project: p.ID, wallets: make([]string, cfg.Wallets)}
	if cfg.AutoBatch > 0 {
		if l.batched, err = cw.New(cw.Config{Server: cfg.Server, Token: kp.AccessKey, Conns: 64, Timeout: time.Minute,
			Batch: cw.BatchConfig{Window: cfg.AutoBatch}}); err != nil {
			return nil, err
		}
	}
	var a cw.Asset
	if err := ride(func() (err error) { a, err = api.CreateAsset(ctx, "Bench", "BNCH", 100); return }); err != nil {
		return nil, err
	}
	l.asset = a.ID

	// Customers and wallets, in parallel.
	var done atomic.Int64
	stopProgress := progressTicker(cfg, func() string {
		return fmt.Sprintf("setup: %d/%d wallets", done.Load(), cfg.Wallets)
	})
	err = parallel(cfg.SetupConcurrency, cfg.Wallets, func(i int) error {
		cust := "b" + strconv.Itoa(i)
		if _, err := api.UpsertCustomer(ctx, cust, cw.CustomerFields{}); err != nil {
			return err
		}
		var w cw.Wallet
		if err := ride(func() (err error) { w, err = api.CreateWallet(ctx, cust, l.asset); return }); err != nil {
			return err
		}
		l.wallets[i] = w.ID
		done.Add(1)
		return nil
	}, nil)
	stopProgress()
	if err != nil {
		return nil, fmt.Errorf("bench: creating wallets: %w", err)
	}
	if cfg.Workload == "hot" {
		var w cw.Wallet
		if err := ride(func() (err error) { w, err = api.CreateSystemWallet(ctx, l.asset); return }); err != nil {
			return nil, err
		}
		l.fee = w.ID
	}

	// Funding: Issue operations, fundOpsMax per transaction (the client
	// asks again, with the same referenceId, while the outcome is unclear).
	for from := 0; from < len(l.wallets); from += fundOpsMax {
		to := min(from+fundOpsMax, len(l.wallets))
		ops := make([]cw.Operation, 0, to-from)
		for _, w := range l.wallets[from:to] {
			ops = append(ops, cw.Issue(w, cfg.FundingPerWallet))
		}
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := api.CreateTransaction(fctx, "fund-"+strconv.Itoa(from), ops...)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("bench: funding: %w", err)
		}
		l.fundTxs++
	}
	return l, nil
}

// ride makes a setup call again while the server answers 503 or 429 (an
// election, a full queue: nothing was done), for up to about 13 s. Setup
// is not measured, and a six-node run at 0.2 core per node can lose a
// leader to CPU starvation while the generators make their wallets. A
// wallet made twice (an answer lost, then a retry) is one more wallet,
// never funded.
func ride(call func() error) error {
	err := call()
	for wait := 50 * time.Millisecond; wait <= 8*time.Second && (cw.IsCode(err, cw.CodeUnavailable) || cw.IsCode(err, cw.CodeLimitExceeded)); wait *= 2 {
		time.Sleep(wait)
		err = call()
	}
	return err
}

// progressTicker calls line once a second and writes it to cfg.Progress,
// until the returned stop is called.
func progressTicker(cfg *Config, line func() string) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintln(cfg.Progress, line())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
