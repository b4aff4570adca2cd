package shard

import (
	"slices"
	"sort"
)

// Reads. Each returns copies (or immutable *Tx) so the answer can leave the
// goroutine that owns the partition. A method on Shard reads only that
// shard; a method on Machine reads every shard and must be called while the
// engine holds all of them.

// WalletView is a wallet copied out of the state, without its entries.
type WalletView struct {
	ID          WalletID
	Seq         uint64
	Project     ProjectID
	Asset       AssetID
	CustomerID  string // "" for a system wallet
	System      bool
	Status      WalletStatus
	Balance     int64
	Available   int64 // Balance less what holds reserve on it
	CreatedAt   int64
	UpdatedAt   int64
	Name        string
	Description string
}

func (s *Shard) walletView(index uint32) WalletView {
	w := &s.wallets[index]
	v := WalletView{
		ID: WalletID{s.id, index}, Seq: w.Seq, Project: w.Project, Asset: w.Asset,
		System: w.System(), Status: w.Status, Balance: w.Balance, Available: s.available(index), CreatedAt: w.CreatedAt,
		UpdatedAt: w.UpdatedAt, Name: w.Text.name(), Description: w.Text.description(),
	}
	if !v.System {
		v.CustomerID = s.customers[w.Customer-1].ID
	}
	return v
}

// CustomerView is a customer copied out of the state.
type CustomerView struct {
	Seq         uint64
	ID          string
	Name        string
	Description string
	Status      CustomerStatus
	CreatedAt   int64
	UpdatedAt   int64
}

func (s *Shard) customerView(index uint32) CustomerView {
	c := &s.customers[index]
	return CustomerView{Seq: c.Seq, ID: c.ID, Name: c.Text.name(), Description: c.Text.description(),
		Status: c.Status, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// Wallet returns a copy of the project's wallet.
func (s *Shard) Wallet(p ProjectID, index uint32) (WalletView, bool) {
	if s.wallet(p, index) == nil {
		return WalletView{}, false
	}
	return s.walletView(index), true
}

// Customer returns a copy of the project's customer (a Deleted one too).
func (s *Shard) Customer(p ProjectID, id string) (CustomerView, bool) {
	c, ci := s.customer(p, id)
	if c == nil {
		return CustomerView{}, false
	}
	return s.customerView(ci), true
}

// CustomerWallets returns copies of the customer's wallets, oldest first.
func (s *Shard) CustomerWallets(p ProjectID, id string) ([]WalletView, bool) {
	c, _ := s.customer(p, id)
	if c == nil {
		return nil, false
	}
	out := make([]WalletView, len(c.Wallets))
	for i, wi := range c.Wallets {
		out[i] = s.walletView(wi)
	}
	return out, true
}

// Tx returns the project's transaction record.
func (s *Shard) Tx(p ProjectID, index uint32) (*Tx, bool) {
	if int(index) >= len(s.txs) || s.txs[index].Project != p {
		return nil, false
	}
	return s.txs[index], true
}

// TxByReference returns the record of a referenceId.
func (s *Shard) TxByReference(p ProjectID, ref string) (*Tx, bool) {
	ti, ok := s.txIndex(p, ref)
	if !ok {
		return nil, false
	}
	return s.txs[ti], true
}

// Page is one page of a list ordered oldest first.
type Page[T any] struct {
	Items []T
	Total int
}

// pageBounds turns a 0-based page and size into a half-open range of [0,n).
func pageBounds(page, size, n int) (lo, hi int) {
	lo64 := int64(page) * int64(size)
	if lo64 >= int64(n) {
		return n, n
	}
	return int(lo64), min(int(lo64)+size, n)
}

// EntryView is an entry with the position that makes its id.
type EntryView struct {
	Wallet WalletID
	N      uint32 // position in the wallet's ledger; EntryID(Wallet, N)
	Entry
}

// Entries returns the page of the wallet's entries with from ≤ createdAt < to.
func (s *Shard) Entries(p ProjectID, index uint32, fromMs, toMs int64, page, size int) (Page[EntryView], bool) {
	w := s.wallet(p, index)
	if w == nil {
		return Page[EntryView]{}, false
	}
	es := w.Entries
	first := sort.Search(len(es), func(i int) bool { return es[i].CreatedAt >= fromMs })
	end := sort.Search(len(es), func(i int) bool { return es[i].CreatedAt >= toMs })
	end = max(end, first)
	lo, hi := pageBounds(page, size, end-first)
	out := Page[EntryView]{Total: end - first, Items: make([]EntryView, 0, hi-lo)}
	for i := first + lo; i < first+hi; i++ {
		out.Items = append(out.Items, EntryView{Wallet: WalletID{s.id, index}, N: uint32(i), Entry: es[i]})
	}
	return out, true
}

// Part is what one shard group contributes to a list: per shard, the
// items of the list in creation order (cut at the end of the page asked
// for), and how many there are in all.
type Part[T any] struct {
	Lists [][]T
	Total int
}

// Merge pages the parts of every group together, oldest first. Creation
// order is (createdAt, Seq): within a group Seq follows the log and the
// log's time never goes back, so the order agrees with each group's own;
// across groups the time orders them.
func Merge[T any](parts []Part[T], order func(T) (int64, uint64), page, size int) Page[T] {
	var lists [][]T
	total := 0
	for _, p := range parts {
		lists = append(lists, p.Lists...)
		total += p.Total
	}
	lo, hi := pageBounds(page, size, total)
	return Page[T]{Total: total, Items: orderMerge(lists, order, lo, hi-lo)}
}

// orderMerge walks several ordered lists in global order, skipping the
// first skip items and collecting up to take of them.
func orderMerge[T any](lists [][]T, order func(T) (int64, uint64), skip, take int) []T {
	pos := make([]int, len(lists))
	out := make([]T, 0, take)
	less := func(a, b T) bool {
		at, as := order(a)
		bt, bs := order(b)
		return at < bt || (at == bt && as < bs)
	}
	for n := 0; len(out) < take; n++ {
		best := -1
		for i, l := range lists {
			if pos[i] < len(l) && (best < 0 || less(l[pos[i]], lists[best][pos[best]])) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		if n >= skip {
			out = append(out, lists[best][pos[best]])
		}
		pos[best]++
	}
	return out
}

// pageEnd is how many items of each list a page can need at most.
func pageEnd(page, size int) int {
	return int(min(int64(page+1)*int64(size), int64(IndexMax)))
}

// TxOrder, CustomerOrder and WalletOrder give creation order to Merge.
func TxOrder(t *Tx) (int64, uint64)                { return t.CreatedAt, t.Seq }
func CustomerOrder(c CustomerView) (int64, uint64) { return c.CreatedAt, c.Seq }
func WalletOrder(w WalletView) (int64, uint64)     { return w.CreatedAt, w.Seq }

// TxFilter narrows a list of transactions: a time range from ≤ createdAt
// < to, a status unless 0, and, unless nil, only those whose operations
// name one of the wallets.
type TxFilter struct {
	FromMs, ToMs int64
	Status       TxStatus
	Wallets      []WalletID
}

func (f *TxFilter) keeps(t *Tx) bool {
	if t.CreatedAt < f.FromMs || t.CreatedAt >= f.ToMs || (f.Status != 0 && t.Status != f.Status) {
		return false
	}
	if f.Wallets == nil {
		return true
	}
	for _, id := range opWallets(t.Ops) {
		if slices.Contains(f.Wallets, id) {
			return true
		}
	}
	return false
}

// TransactionsPart is this group's part of the project's transactions the
// filter keeps (merge with Merge and TxOrder). Held ones come from the
// open holds, few beside the records; a time range alone is a binary
// search; anything else is a scan of the range.
func (m *Machine) TransactionsPart(p ProjectID, f TxFilter, page, size int) Part[*Tx] {
	fromMs, toMs := f.FromMs, f.ToMs
	part := Part[*Tx]{Lists: make([][]*Tx, 0, len(m.Shards))}
	cut := pageEnd(page, size)
	for _, s := range m.Shards {
		var l []*Tx
		switch {
		case f.Status == 0 && f.Wallets == nil:
			idx := s.projectTxs[p]
			first := sort.Search(len(idx), func(i int) bool { return s.txs[idx[i]].CreatedAt >= fromMs })
			end := sort.Search(len(idx), func(i int) bool { return s.txs[idx[i]].CreatedAt >= toMs })
			if end <= first {
				continue
			}
			part.Total += end - first
			l = make([]*Tx, min(end-first, cut))
			for i := range l {
				l[i] = s.txs[idx[first+i]]
			}
		case f.Status == TxHeld:
			for _, t := range s.openHolds {
				if t.Project == p && f.keeps(t) {
					l = append(l, t)
				}
			}
			sort.Slice(l, func(i, j int) bool { return l[i].Seq < l[j].Seq }) // the log's order: TxOrder within one shard
			part.Total += len(l)
			l = l[:min(len(l), cut)]
		default:
			for _, i := range s.projectTxs[p] {
				if t := s.txs[i]; f.keeps(t) {
					part.Total++
					if len(l) < cut {
						l = append(l, t)
					}
				}
			}
		}
		if len(l) > 0 {
			part.Lists = append(part.Lists, l)
		}
	}
	return part
}

// Transactions returns the page of the project's transactions with
// from ≤ createdAt < to, oldest first, across every shard of the group.
func (m *Machine) Transactions(p ProjectID, fromMs, toMs int64, page, size int) Page[*Tx] {
	return Merge([]Part[*Tx]{m.TransactionsPart(p, TxFilter{FromMs: fromMs, ToMs: toMs}, page, size)}, TxOrder, page, size)
}

// CustomersPart is this group's part of the project's customers.
func (m *Machine) CustomersPart(p ProjectID, page, size int) Part[CustomerView] {
	part := Part[CustomerView]{Lists: make([][]CustomerView, 0, len(m.Shards))}
	cut := pageEnd(page, size)
	for _, s := range m.Shards {
		idx := s.projectCustomers[p]
		part.Total += len(idx)
		l := make([]CustomerView, 0, min(len(idx), cut))
		for _, ci := range idx[:min(len(idx), cut)] {
			l = append(l, s.customerView(ci))
		}
		part.Lists = append(part.Lists, l)
	}
	return part
}

// Customers returns a page of the project's customers in creation order.
func (m *Machine) Customers(p ProjectID, page, size int) Page[CustomerView] {
	return Merge([]Part[CustomerView]{m.CustomersPart(p, page, size)}, CustomerOrder, page, size)
}

// SystemWalletsPart is this group's part of the project's system wallets.
func (m *Machine) SystemWalletsPart(p ProjectID) Part[WalletView] {
	var part Part[WalletView]
	for _, s := range m.Shards {
		idx := s.systemWallets[p]
		l := make([]WalletView, len(idx))
		for i, wi := range idx {
			l[i] = s.walletView(wi)
		}
		part.Lists = append(part.Lists, l)
		part.Total += len(l)
	}
	return part
}

// SystemWallets returns the project's system wallets in creation order.
func (m *Machine) SystemWallets(p ProjectID) []WalletView {
	return MergeAll([]Part[WalletView]{m.SystemWalletsPart(p)}, WalletOrder)
}

// MergeAll merges whole lists (no paging).
func MergeAll[T any](parts []Part[T], order func(T) (int64, uint64)) []T {
	total := 0
	for _, p := range parts {
		total += p.Total
	}
	return Merge(parts, order, 0, max(total, 1)).Items
}

// Totals returns, per asset, the sum of all wallet balances and the net
// amount issued (issued minus redeemed) according to the entries. The two
// are equal in a sound ledger; tests and the crash checker compare them.
func (m *Machine) Totals() (balances, issued map[AssetID]int64) {
	balances, issued = map[AssetID]int64{}, map[AssetID]int64{}
	for _, s := range m.Shards {
		for i := range s.wallets {
			w := &s.wallets[i]
			balances[w.Asset] += w.Balance
			for j := range w.Entries {
				switch w.Entries[j].Type {
				case EntryIssue:
					issued[w.Asset] += w.Entries[j].Amount
				case EntryRedeem:
					issued[w.Asset] -= w.Entries[j].Amount
				}
			}
		}
	}
	return balances, issued
}

// Counts is how many records a machine holds.
type Counts struct {
	Projects, Customers, Wallets, Transactions int
}

// Counts counts the records held (Deleted customers and Failed
// transactions included: records are never removed).
func (m *Machine) Counts() Counts {
	c := Counts{Projects: len(m.Meta.projects)}
	for _, s := range m.Shards {
		c.Customers += len(s.customers)
		c.Wallets += len(s.wallets)
		c.Transactions += len(s.txs)
	}
	return c
}
