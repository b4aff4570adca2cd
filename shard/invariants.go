package shard

import "fmt"

// CheckInvariants verifies what must hold in any reachable state of a
// one-group cluster; CheckGroups for several groups.
func (m *Machine) CheckInvariants() error { return CheckGroups([]*Machine{m}) }

// CheckLocal verifies what one group's machine must hold on its own, in
// any cluster: holds and entries (conservation needs every group). It is
// what a restored snapshot, which may be any group's, can be checked for.
func (m *Machine) CheckLocal() error {
	entriesOf := map[TxID]int{}
	for _, s := range m.Shards {
		if err := s.checkHolds(); err != nil {
			return err
		}
		if err := s.checkEntries(entriesOf); err != nil {
			return err
		}
	}
	return nil
}

// CheckGroups verifies what must hold in any reachable state of a cluster
// whose groups have the machines ms, and returns the first violation:
//   - no balance is negative, and no wallet's holds exceed its balance or
//     its headroom below AmountMax;
//   - each shard's holds are the sum of its prepared transactions' holds;
//   - each wallet's entries replay to its balance (every entry's balance is
//     the previous one plus its signed amount, the last one is the balance);
//   - per asset, the sum of balances equals issued minus redeemed, once the
//     parts of Completed transactions not yet committed are counted;
//   - every Completed transaction's entries exist (all of them once no
//     group still has it prepared), and none of a Failed or Waiting one.
//
// It reads every partition: call it while the engine holds them all.
func CheckGroups(ms []*Machine) error {
	entriesOf := map[TxID]int{}
	txs := map[TxID]*Tx{}
	byAttempt := map[Attempt]*Tx{}
	inFlight := map[TxID]bool{}
	for _, m := range ms {
		for _, s := range m.Shards {
			for _, t := range s.txs {
				txs[t.ID] = t
			}
			for i, a := range s.attempts {
				byAttempt[a] = s.txs[i]
			}
		}
	}
	balances, issued := map[AssetID]int64{}, map[AssetID]int64{}
	for _, m := range ms {
		b, is := m.Totals()
		for a, v := range b {
			balances[a] += v
		}
		for a, v := range is {
			issued[a] += v
		}
		for _, s := range m.Shards {
			if err := s.checkHolds(); err != nil {
				return err
			}
			for _, p := range s.prepared {
				t := byAttempt[p.attempt]
				if t == nil {
					continue // not begun (yet, or ever): holds only
				}
				inFlight[t.ID] = true
				if t.Status == TxCompleted {
					s.addUncommitted(p, balances, issued)
				}
			}
			if err := s.checkEntries(entriesOf); err != nil {
				return err
			}
		}
	}
	for a, b := range balances {
		if issued[a] != b {
			return fmt.Errorf("asset %s: balances sum to %d, issued minus redeemed is %d", a, b, issued[a])
		}
	}
	for _, t := range txs {
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
		got := entriesOf[t.ID]
		if got != want && !(inFlight[t.ID] && got < want) {
			return fmt.Errorf("transaction %s (%s): %d entries, want %d", t.ID, t.Status, got, want)
		}
	}
	return nil
}

// checkHolds: holds (of parts in flight, and of open holds apart) are the
// sums of the prepared parts, and together they fit the balance; every
// open hold's record is Held.
func (s *Shard) checkHolds() error {
	sums := [2]map[uint32]hold{{}, {}} // in flight, open
	holders := map[uint32][]Attempt{}
	for _, p := range s.prepared {
		sum := sums[0]
		if p.open {
			sum = sums[1]
		}
		for _, h := range p.holds {
			if !p.open {
				holders[h.index] = append(holders[h.index], p.attempt)
			}
			cur := sum[h.index]
			cur.debit += h.debit
			cur.credit += h.credit
			sum[h.index] = cur
		}
	}
	for k, holds := range [2]map[uint32]hold{s.holds, s.reserved} {
		sum := sums[k]
		if len(sum) != len(holds) {
			return fmt.Errorf("shard %d: %d wallets hold, prepared transactions say %d", s.id, len(holds), len(sum))
		}
		for i, h := range holds {
			if sum[i] != h {
				return fmt.Errorf("wallet %s: holds %+v, prepared transactions say %+v", WalletID{s.id, i}, h, sum[i])
			}
		}
	}
	if len(holders) != len(s.holders) {
		return fmt.Errorf("shard %d: %d wallets have holders, prepared transactions say %d", s.id, len(s.holders), len(holders))
	}
	for i, as := range holders {
		if got := s.holders[i]; !sameAttempts(got, as) {
			return fmt.Errorf("wallet %s: holders %v, prepared transactions say %v", WalletID{s.id, i}, got, as)
		}
	}
	for i := range s.wallets {
		h, _ := s.heldOn(uint32(i))
		if w := &s.wallets[i]; w.Balance < h.debit || w.Balance > AmountMax-h.credit {
			return fmt.Errorf("wallet %s: balance %d does not cover holds %+v", WalletID{s.id, uint32(i)}, w.Balance, h)
		}
	}
	var reservedDebit int64
	for _, h := range s.reserved {
		reservedDebit += h.debit
	}
	if reservedDebit != s.reservedDebit {
		return fmt.Errorf("shard %d: reserved debits sum to %d, kept as %d", s.id, reservedDebit, s.reservedDebit)
	}
	ordered := map[expiry]bool{}
	for _, e := range s.expiries {
		ordered[e] = true
	}
	for i, t := range s.openHolds {
		if t.Status != TxHeld || s.txs[i] != t {
			return fmt.Errorf("shard %d: open hold %d is %s", s.id, i, t.Status)
		}
		if at := t.ExpiresAt(); at != 0 && !ordered[expiry{at: at, index: i}] {
			return fmt.Errorf("shard %d: open hold %d, due at %d, is not in the expiry order", s.id, i, at)
		}
	}
	return nil
}

// addUncommitted counts what a decided but not yet committed part will
// post: its wallets' balances move, and issues and redeems count.
func (s *Shard) addUncommitted(p *preparedTx, balances, issued map[AssetID]int64) {
	for _, op := range p.ops {
		if op.Type != OpIssue && op.Source.Shard == s.id {
			a := s.wallets[op.Source.Index].Asset
			balances[a] -= op.Amount
			if op.Type == OpRedeem {
				issued[a] -= op.Amount
			}
		}
		if op.Type != OpRedeem && op.Destination.Shard == s.id {
			a := s.wallets[op.Destination.Index].Asset
			balances[a] += op.Amount
			if op.Type == OpIssue {
				issued[a] += op.Amount
			}
		}
	}
}

// checkEntries replays every wallet's entries and counts them by transaction.
func (s *Shard) checkEntries(entriesOf map[TxID]int) error {
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
	return nil
}

// sameAttempts: a and b hold the same attempts as many times each, in any
// order.
func sameAttempts(a, b []Attempt) bool {
	count := map[Attempt]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}
