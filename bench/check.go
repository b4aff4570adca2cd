package bench

import (
	"context"
	"fmt"
	"sync/atomic"

	cw "github.com/cloudwallet/cloudwallet/client"
)

// checkLedger reads every wallet back: the balances must add up to what was
// issued, none may be negative, and the project must hold exactly the
// transactions the run was told about (when every request got an answer).
func checkLedger(cfg *Config, l *ledger, workers []*worker) (string, error) {
	wallets := append([]string(nil), l.wallets...)
	if l.fee != "" {
		wallets = append(wallets, l.fee)
	}
	var total, negative atomic.Int64
	err := parallel(cfg.SetupConcurrency, len(wallets), func(i int) error {
		w, err := l.api.Wallet(context.Background(), wallets[i])
		if err != nil {
			return err
		}
		total.Add(w.Balance)
		if w.Balance < 0 {
			negative.Add(1)
		}
		return nil
	}, nil)
	if err != nil {
		return "", fmt.Errorf("bench: reading balances: %w", err)
	}
	issued := int64(len(l.wallets)) * cfg.FundingPerWallet
	if total.Load() != issued || negative.Load() != 0 {
		msg := fmt.Sprintf("MONEY NOT CONSERVED: balances add up to %d, issued %d; %d negative", total.Load(), issued, negative.Load())
		return msg, fmt.Errorf("bench: %s", msg)
	}
	msg := fmt.Sprintf("money conserved: %d wallets hold %d = issued", len(wallets), issued)

	// Every 201/422 answer is one record, and nothing else was recorded
	// unless some requests got no definite answer.
	var answered, unsure uint64
	for _, w := range workers {
		answered += w.recorded
		unsure += w.unsure
	}
	page, err := l.api.Transactions(context.Background(), cw.TimeRange{}, 0, 1)
	if err != nil {
		return msg, fmt.Errorf("bench: counting transactions: %w", err)
	}
	recorded := uint64(page.Total) - uint64(l.fundTxs)
	if recorded < answered || recorded > answered+unsure {
		m := fmt.Sprintf("%s; BUT %d transactions recorded for %d answered (+%d unknown)", msg, recorded, answered, unsure)
		return m, fmt.Errorf("bench: %s", m)
	}
	return msg + fmt.Sprintf("; %d answered transactions recorded once each", answered), nil
}
