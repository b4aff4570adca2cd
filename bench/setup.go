package bench

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ledger is what a run set up: its project's client and the wallets.
type ledger struct {
	c       *client
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
	op, err := newClient(cfg.Server, cfg.OperatorToken, cfg.SetupConcurrency)
	if err != nil {
		return nil, err
	}
	var p struct{ ID string }
	name := "bench-" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	project := map[string]any{"name": name}
	if cfg.ProjectGroups > 0 {
		project["groups"] = cfg.ProjectGroups
	}
	if err := op.json("POST", "/projects", project, &p); err != nil {
		return nil, fmt.Errorf("bench: creating the project (is the operator token right?): %w", err)
	}
	var kp struct{ AccessKey string }
	if err := op.json("POST", "/projects/"+p.ID+"/key-pairs", map[string]string{"name": "bench"}, &kp); err != nil {
		return nil, err
	}
	c, err := newClient(cfg.Server, kp.AccessKey, cfg.Concurrency+cfg.SetupConcurrency)
	if err != nil {
		return nil, err
	}
	l := &ledger{c: c, project: p.ID, wallets: make([]string, cfg.Wallets)}
	var a struct{ ID string }
	if err := c.json("POST", "/assets", map[string]any{"name": "Bench", "code": "BNCH", "fractions": 100}, &a); err != nil {
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
		var w struct{ ID string }
		if err := c.json("POST", "/customers", map[string]string{"id": cust}, nil); err != nil {
			return err
		}
		if err := c.json("POST", "/wallets", map[string]string{"customerId": cust, "assetId": l.asset}, &w); err != nil {
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
		var w struct{ ID string }
		if err := c.json("POST", "/system-wallets", map[string]string{"assetId": l.asset, "name": "fees"}, &w); err != nil {
			return nil, err
		}
		l.fee = w.ID
	}

	// Funding: Issue operations, fundOpsMax per transaction.
	for from := 0; from < len(l.wallets); from += fundOpsMax {
		to := min(from+fundOpsMax, len(l.wallets))
		ops := make([]map[string]any, 0, to-from)
		for _, w := range l.wallets[from:to] {
			ops = append(ops, map[string]any{"type": "Issue", "destinationWalletId": w, "amount": cfg.FundingPerWallet})
		}
		body := map[string]any{"referenceId": "fund-" + strconv.Itoa(from), "operations": ops}
		if err := c.json("POST", "/transactions", body, nil); err != nil {
			return nil, fmt.Errorf("bench: funding: %w", err)
		}
		l.fundTxs++
	}
	return l, nil
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
