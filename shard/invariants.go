package shard

import "fmt"

// CheckInvariants verifies what must hold in any reachable state and
// returns the first violation:
//   - no balance is negative;
//   - each wallet's entries replay to its balance (every entry's balance is
//     the previous one plus its signed amount, the last one is the balance);
//   - per asset, the sum of balances equals issued minus redeemed;
//   - every Completed transaction's entries exist, and none of a Failed one.
//
// It reads every partition: call it while the engine holds them all.
func (m *Machine) CheckInvariants() error {
	entriesOf := map[TxID]int{}
	for _, s := range m.Shards {
		for i := range s.wallets {
			w := &s.wallets[i]
			id := WalletID{s.id, uint32(i)}
			if w.Balance < 0 {
				return fmt.Errorf("wallet %s: negative balance %d", id, w.Balance)
			}
			var bal int64
			for j := range w.Entries {
				e := &w.Entries[j]
				switch e.Type {
				case EntryIssue, EntryTransferIn:
					bal += e.Amount
				default:
					bal -= e.Amount
				}
				if e.Balance != bal || e.Amount < 1 {
					return fmt.Errorf("wallet %s entry %d: balance %d, replay gives %d", id, j, e.Balance, bal)
				}
				entriesOf[e.Tx()]++
			}
			if bal != w.Balance {
				return fmt.Errorf("wallet %s: balance %d, entries replay to %d", id, w.Balance, bal)
			}
		}
	}
	balances, issued := m.Totals()
	for a, b := range balances {
		if issued[a] != b {
			return fmt.Errorf("asset %s: balances sum to %d, issued minus redeemed is %d", a, b, issued[a])
		}
	}
	for _, s := range m.Shards {
		for _, t := range s.txs {
			want := 0
			if t.Status == TxCompleted {
				for _, op := range t.Ops {
					if op.Type == OpTransfer {
						want += 2
					} else {
						want++
					}
				}
			}
			if got := entriesOf[t.ID]; got != want {
				return fmt.Errorf("transaction %s (%s): %d entries, want %d", t.ID, t.Status, got, want)
			}
		}
	}
	return nil
}
