package shard

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/cloudwallet/cloudwallet/internal/bin"
)

// Frozen is a point-in-time copy of a Machine that can be written out while
// the machine goes on applying commands.
//
// Freezing copies the mutable records (projects, assets, key pairs,
// customers, wallets) by value and keeps only slice headers of what is
// append-only (entries, transaction records, per-customer wallet lists): an
// append never writes below the length the header captured. Freezing is a
// memory copy, brief enough to run between two applies; encoding, the slow
// part, runs on the copy.
type Frozen struct {
	layout   Layout
	projects []Project
	assets   []Asset
	keyPairs []KeyPair
	groupsAt GroupLayout // immutable: shared, not copied
	revoked  []KeyPairID // ascending
	shards   []frozenShard
}

type frozenShard struct {
	customers []Customer
	wallets   []Wallet
	txs       []*Tx
	// The records Waiting when frozen: a decision replaces its record in
	// the shared array, so the writer reads these instead (and never the
	// array slot the worker may be writing).
	waiting     map[uint32]*Tx
	openHolds   map[uint32]*Tx // likewise the records Held when frozen
	attemptList []recordAttempt
	prepared    []*preparedTx // immutable once made
	finished    []Attempt
	fenced      []Attempt
}

// Freeze copies the machine's state. The caller must hold every partition.
func (m *Machine) Freeze() *Frozen {
	f := &Frozen{
		layout:   m.Layout,
		projects: append([]Project(nil), m.Meta.projects...),
		assets:   append([]Asset(nil), m.Meta.assets...),
		keyPairs: append([]KeyPair(nil), m.Meta.keyPairs...),
		groupsAt: m.Meta.layout,
		revoked:  slices.Sorted(maps.Keys(m.revoked)),
		shards:   make([]frozenShard, len(m.Shards)),
	}
	for i, s := range m.Shards {
		f.shards[i] = frozenShard{
			customers:   append([]Customer(nil), s.customers...),
			wallets:     append([]Wallet(nil), s.wallets...),
			txs:         s.txs[:len(s.txs):len(s.txs)],
			waiting:     maps.Clone(s.waiting),
			openHolds:   maps.Clone(s.openHolds),
			attemptList: s.attemptList[:len(s.attemptList):len(s.attemptList)],
			prepared:    slices.SortedFunc(maps.Values(s.prepared), bySeq),
			finished:    s.finished.list[:len(s.finished.list):len(s.finished.list)],
			fenced:      s.fenced.list[:len(s.fenced.list):len(s.fenced.list)],
		}
	}
	return f
}

// bySeq orders prepared parts by their place in the log, then by attempt
// (a log gives two parts of one shard different places; a damaged snapshot
// may not, and must still encode one way).
func bySeq(a, b *preparedTx) int {
	return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.attempt.Hi, b.attempt.Hi), cmp.Compare(a.attempt.Lo, b.attempt.Lo))
}

// The snapshot format: v3 adds each project's groups and the revoked key
// pairs; v4 keys the parts of transactions across groups by attempt, and
// keeps each record's attempt and the fenced ones; v5 adds where the groups
// live (the GroupLayout); v6 marks the group that holds the meta partition
// and counts groups instead of shards (the meta group holds no shard); v7
// adds holds: a record's hold terms and whether a part is an open hold.
// v6 is still read (it has no holds). Older formats (v1 to v5) are refused
// with ErrOldFormat: their data dirs are refused at start, before any
// snapshot is read.
const (
	snapshotMagic   = "cloudwallet-snapshot-v7\n"
	snapshotMagicV6 = "cloudwallet-snapshot-v6\n"
)

// ErrOldFormat is the error for data an older version wrote.
var ErrOldFormat = errors.New("shard: written by an older cloudwallet format")

// Bounds the decoder checks, so a damaged snapshot fails instead of
// allocating without limit.
const (
	snapshotSecretLenMax = KeyPairSecretLenMax
	snapshotCountMax     = IndexMax + 1
)

// snapshotWriter buffers encoded records and flushes them in large writes.
type snapshotWriter struct {
	w   io.Writer
	buf []byte
	err error
}

const snapshotFlushBytes = 1 << 20

func (sw *snapshotWriter) flushIfFull() {
	if len(sw.buf) >= snapshotFlushBytes {
		sw.flush()
	}
}

func (sw *snapshotWriter) flush() {
	if sw.err == nil && len(sw.buf) > 0 {
		_, sw.err = sw.w.Write(sw.buf)
	}
	sw.buf = sw.buf[:0]
}

// WriteTo encodes the frozen state.
func (f *Frozen) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	sw := &snapshotWriter{w: cw, buf: make([]byte, 0, 2*snapshotFlushBytes)}
	b := append(sw.buf, snapshotMagic...)
	b = bin.AppendBool(b, f.layout.Meta)
	b = bin.AppendUvarint(b, uint64(f.layout.Base))
	b = bin.AppendUvarint(b, uint64(f.layout.Count))
	b = bin.AppendUvarint(b, uint64(f.layout.Groups))
	b = bin.AppendUvarint(b, uint64(len(f.projects)))
	for i := range f.projects {
		p := &f.projects[i]
		b = bin.AppendString(b, p.Name)
		b = bin.AppendVarint(b, p.CreatedAt)
		b = bin.AppendUvarint(b, uint64(len(p.Groups)))
		for _, g := range p.Groups {
			b = bin.AppendUvarint(b, uint64(g))
		}
	}
	b = bin.AppendUvarint(b, uint64(len(f.assets)))
	for i := range f.assets {
		a := &f.assets[i]
		b = bin.AppendUvarint(b, uint64(a.Project))
		b = bin.AppendString(b, a.Name)
		b = bin.AppendString(b, a.Code)
		b = bin.AppendVarint(b, a.Fractions)
		b = bin.AppendBool(b, a.Used)
		b = bin.AppendBool(b, a.Deleted)
		b = bin.AppendVarint(b, a.CreatedAt)
	}
	b = bin.AppendUvarint(b, uint64(len(f.keyPairs)))
	for i := range f.keyPairs {
		k := &f.keyPairs[i]
		b = bin.AppendUvarint(b, uint64(k.Project))
		b = bin.AppendString(b, k.Name)
		b = bin.AppendString(b, k.Secret)
		b = bin.AppendString(b, k.SignatureKey)
		b = bin.AppendVarint(b, k.CreatedAt)
		b = bin.AppendBool(b, k.Deleted)
	}
	b = AppendLayout(b, &f.groupsAt)
	b = bin.AppendUvarint(b, uint64(len(f.revoked)))
	for _, k := range f.revoked {
		b = bin.AppendUvarint(b, uint64(k))
	}
	sw.buf = b
	for si := range f.shards {
		s := &f.shards[si]
		sw.buf = bin.AppendUvarint(sw.buf, uint64(len(s.customers)))
		for i := range s.customers {
			c := &s.customers[i]
			b := sw.buf
			b = bin.AppendUvarint(b, c.Seq)
			b = bin.AppendUvarint(b, uint64(c.Project))
			b = bin.AppendString(b, c.ID)
			b = bin.AppendString(b, c.Text.name())
			b = bin.AppendString(b, c.Text.description())
			b = append(b, byte(c.Status))
			b = bin.AppendVarint(b, c.CreatedAt)
			b = bin.AppendVarint(b, c.UpdatedAt)
			sw.buf = b
			sw.flushIfFull()
		}
		sw.buf = bin.AppendUvarint(sw.buf, uint64(len(s.wallets)))
		for i := range s.wallets {
			w := &s.wallets[i]
			b := sw.buf
			b = bin.AppendUvarint(b, w.Seq)
			b = bin.AppendUvarint(b, uint64(w.Project))
			b = bin.AppendUvarint(b, uint64(w.Asset))
			b = bin.AppendUvarint(b, uint64(w.Customer))
			b = append(b, byte(w.Status))
			b = bin.AppendVarint(b, w.Balance)
			b = bin.AppendVarint(b, w.CreatedAt)
			b = bin.AppendVarint(b, w.UpdatedAt)
			b = bin.AppendString(b, w.Text.name())
			b = bin.AppendString(b, w.Text.description())
			b = bin.AppendUvarint(b, uint64(len(w.Entries)))
			sw.buf = b
			for j := range w.Entries {
				sw.buf = appendEntry(sw.buf, &w.Entries[j])
				sw.flushIfFull()
			}
		}
		sw.buf = bin.AppendUvarint(sw.buf, uint64(len(s.txs)))
		for i := range s.txs {
			t, waiting := s.waiting[uint32(i)]
			if !waiting {
				if t = s.openHolds[uint32(i)]; t == nil {
					t = s.txs[i]
				}
			}
			sw.buf = appendTx(sw.buf, t)
			sw.flushIfFull()
		}
		sw.buf = bin.AppendUvarint(sw.buf, uint64(len(s.attemptList)))
		for _, ra := range s.attemptList {
			sw.buf = appendAttempt(bin.AppendUvarint(sw.buf, uint64(ra.index)), ra.attempt)
			sw.flushIfFull()
		}
		sw.buf = bin.AppendUvarint(sw.buf, uint64(len(s.prepared)))
		for _, p := range s.prepared {
			sw.buf = appendPrepared(sw.buf, p)
			sw.flushIfFull()
		}
		for _, set := range [2][]Attempt{s.finished, s.fenced} {
			sw.buf = bin.AppendUvarint(sw.buf, uint64(len(set)))
			for _, a := range set {
				sw.buf = appendAttempt(sw.buf, a)
				sw.flushIfFull()
			}
		}
	}
	sw.flush()
	return cw.n, sw.err
}

func appendPrepared(b []byte, p *preparedTx) []byte {
	b = appendAttempt(b, p.attempt)
	b = bin.AppendUvarint(b, uint64(p.project))
	b = bin.AppendString(b, p.ref)
	b = bin.AppendUvarint(b, p.seq)
	b = bin.AppendBool(b, p.open)
	b = AppendOps(b, p.ops)
	b = bin.AppendUvarint(b, uint64(len(p.holds)))
	for _, h := range p.holds {
		b = bin.AppendUvarint(b, uint64(h.index))
		b = bin.AppendVarint(b, h.debit)
		b = bin.AppendVarint(b, h.credit)
	}
	return b
}

func appendEntry(b []byte, e *Entry) []byte {
	b = bin.AppendVarint(b, e.CreatedAt)
	b = bin.AppendVarint(b, e.Amount)
	b = bin.AppendVarint(b, e.Balance)
	b = bin.AppendUvarint(b, uint64(e.TxShard))
	b = bin.AppendUvarint(b, uint64(e.TxIndex))
	b = bin.AppendUvarint(b, uint64(e.CounterpartyShard))
	b = bin.AppendUvarint(b, uint64(e.CounterpartyIndex))
	b = bin.AppendUvarint(b, uint64(e.OpIndex))
	return append(b, byte(e.Type))
}

func appendTx(b []byte, t *Tx) []byte {
	b = bin.AppendUvarint(b, t.Seq)
	b = bin.AppendUvarint(b, uint64(t.Project))
	b = bin.AppendString(b, t.ReferenceID)
	b = append(b, byte(t.Status))
	b = bin.AppendVarint(b, t.CreatedAt)
	b = append(b, byte(t.ErrCode))
	b = bin.AppendVarint(b, int64(t.ErrOpIndex))
	b = bin.AppendBool(b, t.Hold != nil)
	if t.Hold != nil {
		b = bin.AppendUvarint(b, uint64(t.Hold.TimeoutMs))
		b = bin.AppendVarint(b, t.Hold.FinishedAt)
	}
	return AppendOps(b, t.Ops)
}

// AppendOps encodes operations; the Raft command codec uses it too.
func AppendOps(b []byte, ops []Op) []byte {
	b = bin.AppendUvarint(b, uint64(len(ops)))
	for i := range ops {
		op := &ops[i]
		b = append(b, byte(op.Type))
		b = bin.AppendUvarint(b, uint64(op.Source.Shard))
		b = bin.AppendUvarint(b, uint64(op.Source.Index))
		b = bin.AppendUvarint(b, uint64(op.Destination.Shard))
		b = bin.AppendUvarint(b, uint64(op.Destination.Index))
		b = bin.AppendVarint(b, op.Amount)
	}
	return b
}

// ReadOps decodes operations written by AppendOps and checks each one's
// shape (type, amount ≥ 1), so a decoded command never breaks Apply.
func ReadOps(r *bin.Reader) []Op {
	n := r.Count(OperationsPerTxMax, 6)
	if r.Err() != nil {
		return nil
	}
	ops := make([]Op, n)
	for i := range ops {
		op := &ops[i]
		op.Type = OpType(r.Byte())
		op.Source = WalletID{uint16(r.UvarintMax(ShardsMax - 1)), uint32(r.UvarintMax(IndexMax))}
		op.Destination = WalletID{uint16(r.UvarintMax(ShardsMax - 1)), uint32(r.UvarintMax(IndexMax))}
		op.Amount = r.Varint()
		if op.Type < OpTransfer || op.Type > OpRedeem || op.Amount < 1 {
			r.Fail()
			return nil
		}
	}
	return ops
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadMachine decodes a snapshot written by Frozen.WriteTo.
func ReadMachine(data []byte) (*Machine, error) {
	if len(data) < len(snapshotMagic) {
		return nil, fmt.Errorf("shard: not a cloudwallet snapshot")
	}
	magic := string(data[:len(snapshotMagic)])
	if magic != snapshotMagic && magic != snapshotMagicV6 {
		if strings.HasPrefix(magic, "cloudwallet-snapshot-v") {
			return nil, ErrOldFormat
		}
		return nil, fmt.Errorf("shard: not a cloudwallet snapshot")
	}
	r := bin.NewReader(data[len(snapshotMagic):])
	l := Layout{Meta: r.Bool(), Base: uint16(r.UvarintMax(ShardsMax - 1)), Count: int(r.UvarintMax(ShardsMax)), Groups: int(r.UvarintMax(ShardsMax))}
	if r.Err() != nil || !l.Valid() {
		return nil, fmt.Errorf("shard: snapshot header: %w", bin.ErrCorrupt)
	}
	m := NewGroupMachine(l)
	meta := m.Meta
	meta.projects = make([]Project, r.Count(snapshotCountMax, 2))
	for i := range meta.projects {
		meta.projects[i] = Project{ID: ProjectID(i), Name: r.String(NameLenMax), CreatedAt: r.Varint()}
		meta.projects[i].Groups = readGroups(r, l.Groups)
	}
	meta.growLoad(l.Groups)
	for i := range meta.projects {
		for _, g := range meta.projects[i].Groups {
			meta.groupLoad[g]++
		}
	}
	meta.assets = make([]Asset, r.Count(snapshotCountMax, 7))
	for i := range meta.assets {
		a := &meta.assets[i]
		a.ID = AssetID(i)
		a.Project = ProjectID(r.Index(len(meta.projects)))
		a.Name, a.Code, a.Fractions = r.String(NameLenMax), r.String(AssetCodeLenMax), r.Varint()
		a.Used, a.Deleted, a.CreatedAt = r.Bool(), r.Bool(), r.Varint()
		if r.Err() == nil {
			meta.projects[a.Project].Assets = append(meta.projects[a.Project].Assets, a.ID)
		}
	}
	meta.keyPairs = make([]KeyPair, r.Count(snapshotCountMax, 6))
	for i := range meta.keyPairs {
		k := &meta.keyPairs[i]
		k.ID = KeyPairID(i)
		k.Project = ProjectID(r.Index(len(meta.projects)))
		k.Name, k.Secret, k.SignatureKey = r.String(NameLenMax), r.String(snapshotSecretLenMax), r.String(snapshotSecretLenMax)
		k.CreatedAt, k.Deleted = r.Varint(), r.Bool()
		if r.Err() == nil {
			meta.projects[k.Project].KeyPairs = append(meta.projects[k.Project].KeyPairs, k.ID)
		}
	}
	meta.layout = *ReadLayout(r)
	for range r.Count(snapshotCountMax, 1) {
		m.revoke(KeyPairID(r.UvarintMax(IndexMax)))
	}
	withHolds := magic == snapshotMagic
	for _, s := range m.Shards {
		readShard(r, s, withHolds)
		readPrepared(r, m, s, withHolds)
	}
	if r.Err() != nil || r.Len() != 0 {
		return nil, fmt.Errorf("shard: snapshot body: %w", bin.ErrCorrupt)
	}
	// Every field is within its bounds; the ledger must add up too (each
	// wallet's entries replay to its balance, holds match their parts), or
	// a replica would serve balances no log produced. One pass over the
	// entries: about 5 ns each.
	if err := m.CheckLocal(); err != nil {
		return nil, fmt.Errorf("shard: snapshot body: %w: %v", bin.ErrCorrupt, err)
	}
	return m, nil
}

func readShard(r *bin.Reader, s *Shard, withHolds bool) {
	s.customers = make([]Customer, r.Count(snapshotCountMax, 8))
	for i := range s.customers {
		c := &s.customers[i]
		c.Seq, c.Project = r.Uvarint(), ProjectID(r.UvarintMax(IndexMax))
		c.ID = r.String(CustomerIDLenMax)
		c.Text = newText(r.String(NameLenMax), r.String(DescriptionLenMax))
		c.Status, c.CreatedAt, c.UpdatedAt = CustomerStatus(r.Byte()), r.Varint(), r.Varint()
		if r.Err() != nil {
			return
		}
		s.customerIndex.put(c.Project, c.ID, uint32(i))
		s.projectCustomers[c.Project] = append(s.projectCustomers[c.Project], uint32(i))
	}
	s.wallets = make([]Wallet, r.Count(snapshotCountMax, 11))
	for i := range s.wallets {
		w := &s.wallets[i]
		w.Seq, w.Project, w.Asset = r.Uvarint(), ProjectID(r.UvarintMax(IndexMax)), AssetID(r.UvarintMax(IndexMax))
		w.Customer = uint32(r.UvarintMax(uint64(len(s.customers))))
		w.Status, w.Balance, w.CreatedAt, w.UpdatedAt = WalletStatus(r.Byte()), r.Varint(), r.Varint(), r.Varint()
		w.Text = newText(r.String(NameLenMax), r.String(DescriptionLenMax))
		w.Entries = make([]Entry, r.Count(snapshotCountMax, 9))
		for j := range w.Entries {
			e := &w.Entries[j]
			e.CreatedAt, e.Amount, e.Balance = r.Varint(), r.Varint(), r.Varint()
			e.TxShard, e.TxIndex = uint16(r.UvarintMax(ShardsMax-1)), uint32(r.UvarintMax(IndexMax))
			e.CounterpartyShard, e.CounterpartyIndex = uint16(r.UvarintMax(ShardsMax-1)), uint32(r.UvarintMax(IndexMax))
			e.OpIndex, e.Type = uint16(r.UvarintMax(OperationsPerTxMax)), EntryType(r.Byte())
		}
		if r.Err() != nil {
			return
		}
		if w.Customer == 0 {
			s.systemWallets[w.Project] = append(s.systemWallets[w.Project], uint32(i))
		} else {
			c := &s.customers[w.Customer-1]
			c.Wallets = append(c.Wallets, uint32(i))
		}
	}
	n := r.Count(snapshotCountMax, 8)
	s.txs = make([]*Tx, 0, n)
	for i := range n {
		t := &Tx{ID: TxID{s.id, uint32(i)}}
		t.Seq, t.Project, t.ReferenceID = r.Uvarint(), ProjectID(r.UvarintMax(IndexMax)), r.String(ReferenceIDLenMax)
		t.Status, t.CreatedAt = TxStatus(r.Byte()), r.Varint()
		t.ErrCode, t.ErrOpIndex = Code(r.Byte()), int16(r.Varint())
		if withHolds && r.Bool() {
			t.Hold = &HoldTerms{TimeoutMs: int64(r.UvarintMax(uint64(HoldTimeoutMsMax))), FinishedAt: r.Varint()}
		}
		t.Ops = ReadOps(r)
		holdOnly := t.Status == TxHeld || t.Status == TxVoided || t.Status == TxExpired
		if r.Err() == nil && (t.Status == 0 || t.Status >= txStatusEnd || t.ErrOpIndex < 0 ||
			int(t.ErrOpIndex) >= max(len(t.Ops), 1) || holdOnly && t.Hold == nil) {
			r.Fail() // a status no record has, an index ErrMessage would read past, or a hold's status without its terms
		}
		if r.Err() != nil {
			return
		}
		s.keep(t)
	}
}

// readPrepared reads a shard's state of transactions across groups: the
// records' attempts, the prepared parts (rebuilding the holds they keep),
// and the finished and fenced attempts.
func readPrepared(r *bin.Reader, m *Machine, s *Shard, withHolds bool) {
	s.attemptList = make([]recordAttempt, r.Count(snapshotCountMax, 17))
	for i := range s.attemptList {
		ra := &s.attemptList[i]
		ra.index, ra.attempt = uint32(r.UvarintMax(uint64(len(s.txs)))), readAttempt(r)
		if r.Err() == nil && (int(ra.index) >= len(s.txs) || ra.attempt.IsZero()) {
			r.Fail()
		}
		if r.Err() != nil {
			return
		}
		s.attempts[ra.index] = ra.attempt
	}
	n := r.Count(snapshotCountMax, 8)
	for range n {
		p := &preparedTx{}
		p.attempt = readAttempt(r)
		p.project, p.ref = ProjectID(r.UvarintMax(IndexMax)), r.String(ReferenceIDLenMax)
		p.seq = r.Uvarint()
		p.open = withHolds && r.Bool()
		p.ops = ReadOps(r)
		p.holds = make([]walletHold, r.Count(OperationsPerTxMax*2, 3))
		for i := range p.holds {
			h := &p.holds[i]
			h.index = uint32(r.UvarintMax(uint64(len(s.wallets))))
			h.debit, h.credit = r.Varint(), r.Varint()
			if r.Err() == nil && (int(h.index) >= len(s.wallets) || h.debit < 0 || h.credit < 0) {
				r.Fail()
			}
		}
		if r.Err() != nil {
			return
		}
		if _, dup := s.prepared[p.attempt]; dup {
			r.Fail()
			return
		}
		for _, h := range p.holds {
			if cur := s.holds[h.index]; h.debit > AmountMax-cur.debit || h.credit > AmountMax-cur.credit {
				r.Fail() // holds beyond any balance: damaged
				return
			}
			s.addHold(h.index, h.hold, 1, p.open, p.attempt)
		}
		s.prepared[p.attempt] = p
	}
	for _, set := range []*attemptSet{&s.finished, &s.fenced} {
		for range r.Count(snapshotCountMax, 16) {
			set.add(readAttempt(r))
		}
	}
}

// readGroups reads a project's groups: 1 to groups of them, ascending,
// each below groups.
func readGroups(r *bin.Reader, groups int) []uint16 {
	n := r.Count(uint64(groups), 1)
	if r.Err() != nil || n == 0 {
		r.Fail()
		return nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(r.UvarintMax(uint64(groups - 1)))
		if i > 0 && out[i] <= out[i-1] {
			r.Fail()
		}
	}
	return out
}
