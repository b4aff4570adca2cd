package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/hashicorp/raft"
	twal "github.com/tidwall/wal"
)

// Shared is one log for every Raft group of a node (multi-raft, as TiKV's
// raft-engine and CockroachDB's one WAL per store): appends from all groups
// that arrive together are written as one batch with one fsync, so a node
// pays for one stream of fsyncs however many groups it holds. Each group
// sees its own raft.LogStore (Group), with its own indexes, prefix and
// suffix deletes.
//
// On disk it is one tidwall/wal log whose records are tagged with their
// group: an entry (the raft.Log, as LogStore encodes it) or a delete of a
// range of a group's indexes. Opening replays every record to rebuild each
// group's index of where its entries are; deletes are records too, so the
// replay repeats exactly what happened. Segments that no group needs any
// more (every group's first entry lies after them) are removed.
//
// Every record carries a CRC over all of it; at open a torn or zero-filled
// tail is cut off (reported through OnRepair) and a bad record elsewhere is
// an error, never handed to Raft.
type Shared struct {
	dir  string  // set by OpenShared, read-only after
	opts Options // set by OpenShared, read-only after

	mu      sync.RWMutex // guards following, and the tidwall log's contents
	log     *twal.Log
	lastSeq uint64 // the tidwall index of the last record (0: none yet)
	groups  map[uint32]*groupIndex
	syncs   uint64
	// The segment files as last listed: their first indexes and the tail
	// one's path. Listing is a directory read, so it is done only when
	// the set may have changed: the tail grew to a segment's size (tidwall
	// starts a new one then), or a truncation renamed files.
	segFiles int // how many, when the directory was last fsynced (-1: fsync at the next listing)
	starts   []uint64
	tail     string

	qmu     sync.Mutex // guards queue and writing
	queue   []*sharedWrite
	writing bool // a caller is writing batches: the others wait for it

	buf   []byte     // encoding buffer of the writer
	batch twal.Batch // the writer's batch
}

// groupIndex is where one group's entries are: the tidwall index of raft
// index first+k is seqs[k]. Empty when seqs is.
type groupIndex struct {
	first uint64
	seqs  []uint64
}

func (g *groupIndex) last() uint64 { return g.first + uint64(len(g.seqs)) - 1 }

// sharedWrite is one caller's append or delete, waiting for its batch.
type sharedWrite struct {
	group    uint32
	logs     []*raft.Log // an append, or
	min, max uint64      // a delete
	err      error
	done     chan struct{}
}

// Shared record kinds.
const (
	recEntry   = 1
	recDelete  = 2
	recRewrite = 3 // a group's whole log written again, unchanged, in one record (unpin)
)

// unpin's bounds: with more segments than unpinSegments, the groups whose
// entries keep the oldest one alive are written again, each in one record
// of at most rewriteBytesMax (a group with more is left where it is).
const (
	unpinSegments   = 8
	rewriteBytesMax = 8 << 20
)

// OpenShared opens or creates the node's shared log in dir, repairing a
// torn tail, and replays it.
func OpenShared(dir string, opts Options) (*Shared, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = segmentBytesDefault
	}
	if err := MkdirAllDurable(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Shared{dir: dir, opts: opts, groups: map[uint32]*groupIndex{}, segFiles: -1}
	l, err := twal.Open(dir, tidwallOptions(opts))
	if errors.Is(err, twal.ErrCorrupt) {
		if err = repairSharedFraming(dir, opts); err != nil {
			return nil, err
		}
		l, err = twal.Open(dir, tidwallOptions(opts))
	}
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	s.log = l
	if err := s.replay(); err != nil {
		l.Close()
		return nil, err
	}
	if err := s.listSegments(); err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

// replay rebuilds every group's index from the records. A bad record in
// the last segment is a torn write: the log is cut back before it. One
// anywhere else is damage, and an error.
func (s *Shared) replay() error {
	first, _ := s.log.FirstIndex()
	last, _ := s.log.LastIndex()
	if last < first {
		s.lastSeq = last
		return nil
	}
	files, err := segmentFiles(s.dir)
	if err != nil {
		return err
	}
	var tailStart uint64
	if len(files) > 0 {
		tailStart, _ = strconv.ParseUint(files[len(files)-1], 10, 64)
	}
	var l raft.Log
	for seq := first; seq <= last; seq++ {
		rec, err := s.log.Read(seq)
		var group uint32
		var min, max uint64
		var kind byte
		if err == nil {
			kind, group, min, max, err = decodeShared(rec, &l)
			if kind == recEntry {
				min = l.Index
			}
		}
		if err == nil {
			err = s.applyRecord(kind, group, seq, &l, min, max)
		}
		if err == nil {
			continue
		}
		if seq < tailStart {
			return fmt.Errorf("wal: %s: record %d: %w", s.dir, seq, err)
		}
		if s.opts.OnRepair != nil {
			s.opts.OnRepair(files[len(files)-1], -1, int64(last-seq+1))
		}
		if seq == first {
			return fmt.Errorf("wal: %s: the first record of the log is damaged: %w", s.dir, err)
		}
		if err := s.log.TruncateBack(seq - 1); err != nil {
			return err
		}
		last = seq - 1
		break
	}
	s.lastSeq = last
	return nil
}

// applyRecord replays one record into the group indexes: an entry at
// index min, a delete of [min, max], or a rewrite of the group's whole log
// as [min, max].
func (s *Shared) applyRecord(kind byte, group uint32, seq uint64, l *raft.Log, min, max uint64) error {
	g := s.groups[group]
	if g == nil {
		g = &groupIndex{}
		s.groups[group] = g
	}
	switch kind {
	case recEntry:
		if len(g.seqs) == 0 {
			g.first = min
		} else if min != g.last()+1 {
			return fmt.Errorf("group %d: entry %d after %d: %w", group, min, g.last(), ErrCorruptRecord)
		}
		g.seqs = append(g.seqs, seq)
	case recDelete:
		g.deleteRange(min, max)
	case recRewrite:
		g.rewritten(min, max, seq)
	}
	return nil
}

// rewritten points the whole index, now [first, last], at one record.
func (g *groupIndex) rewritten(first, last, seq uint64) {
	g.first = first
	g.seqs = make([]uint64, last-first+1)
	for k := range g.seqs {
		g.seqs[k] = seq
	}
}

// deleteRange drops [min, max] from the index: a prefix, a suffix or all.
func (g *groupIndex) deleteRange(min, max uint64) {
	if len(g.seqs) == 0 || min > max || max < g.first || min > g.last() {
		return
	}
	switch {
	case min <= g.first && max >= g.last():
		g.seqs = nil
	case min <= g.first:
		g.seqs = g.seqs[max+1-g.first:]
		g.first = max + 1
		if cap(g.seqs) > 4*len(g.seqs)+1024 { // let go of the old array
			g.seqs = append([]uint64(nil), g.seqs...)
		}
	default:
		g.seqs = g.seqs[:min-g.first]
	}
}

// Group is group's view of the log: a raft.LogStore.
func (s *Shared) Group(group uint32) *GroupStore { return &GroupStore{s: s, group: group} }

// Syncs is how many batches (each one write and one fsync) the log wrote.
func (s *Shared) Syncs() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.syncs
}

// Close closes the log.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Close()
}

// submit queues a write and returns once a batch holding it is durable.
// The first caller to find nobody writing writes every batch that queues
// up meanwhile (its own and the others'), so appends from all groups that
// arrive while one fsync runs share the next one.
func (s *Shared) submit(w *sharedWrite) error {
	w.done = make(chan struct{})
	s.qmu.Lock()
	s.queue = append(s.queue, w)
	if s.writing {
		s.qmu.Unlock()
		<-w.done
		return w.err
	}
	s.writing = true
	for len(s.queue) > 0 {
		batch := s.queue
		s.queue = nil
		s.qmu.Unlock()
		s.writeBatch(batch) // its callers are answered here
		s.housekeep()
		s.qmu.Lock()
	}
	s.writing = false
	s.qmu.Unlock()
	<-w.done
	return w.err
}

// writeBatch writes the records of every queued write as one tidwall batch
// (one write, one fsync), then updates the indexes and wakes the callers.
// A write that does not fit its group's log (a gap, an overlap) fails
// alone; the others go on.
func (s *Shared) writeBatch(ws []*sharedWrite) {
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		for _, w := range ws {
			close(w.done)
		}
	}()
	// Each group's span as it will be once the earlier writes of this
	// batch are in: a group's appends and deletes may both queue.
	spans := map[uint32]span{}
	spanOf := func(group uint32) span {
		if sp, ok := spans[group]; ok {
			return sp
		}
		if g := s.groups[group]; g != nil && len(g.seqs) > 0 {
			return span{first: g.first, last: g.last()}
		}
		return span{empty: true}
	}
	s.batch.Clear()
	seq := s.lastSeq
	type placed struct {
		w     *sharedWrite
		start uint64 // the tidwall index of its first record
	}
	var ok []placed
	for _, w := range ws {
		sp := spanOf(w.group)
		start := seq + 1
		if w.logs == nil {
			s.buf = appendSharedDelete(s.buf[:0], w.group, w.min, w.max)
			seq++
			s.batch.Write(seq, s.buf) // the batch copies the bytes
			sp = sp.deleteRange(w.min, w.max)
		} else {
			var err error
			if sp, err = sp.append(w.logs); err != nil {
				w.err = err
				continue
			}
			for _, l := range w.logs {
				if s.buf, err = appendSharedEntry(s.buf[:0], w.group, l); err != nil {
					// Records already in the batch cannot be taken out:
					// fail the whole batch rather than write them.
					for _, o := range ws {
						if o.err == nil {
							o.err = err
						}
					}
					s.batch.Clear()
					return
				}
				seq++
				s.batch.Write(seq, s.buf)
			}
		}
		spans[w.group] = sp
		ok = append(ok, placed{w, start})
	}
	if len(ok) == 0 {
		return
	}
	if err := s.log.WriteBatch(&s.batch); err != nil {
		s.batch.Clear()
		for _, p := range ok {
			p.w.err = err
		}
		return
	}
	s.syncs++
	s.lastSeq = seq
	for _, p := range ok {
		w := p.w
		g := s.groups[w.group]
		if g == nil {
			g = &groupIndex{}
			s.groups[w.group] = g
		}
		if w.logs == nil {
			g.deleteRange(w.min, w.max)
			continue
		}
		if len(g.seqs) == 0 {
			g.first = w.logs[0].Index
		}
		for k := range w.logs {
			g.seqs = append(g.seqs, p.start+uint64(k))
		}
	}
	// A new segment's records are fsynced by tidwall, its name is not:
	// fsync the directory before anyone hears the records are durable.
	if err := s.syncDirIfRolled(); err != nil {
		for _, p := range ok {
			p.w.err = err
		}
		return
	}
	if err := s.compact(); err != nil {
		for _, p := range ok {
			p.w.err = err
		}
	}
}

// housekeep unpins the log after a batch, once its callers have their
// answers. It is housekeeping for later batches: if it fails nothing is
// lost (the log is only longer) and the next batch tries again; a disk
// that refuses it refuses the next write too, which reports.
func (s *Shared) housekeep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.unpin()
}

// unpin writes again, unchanged, the logs of the groups whose entries keep
// the oldest segment alive, once the log has more than unpinSegments
// segments: a quiet group that seldom compacts (Raft keeps its last
// entries even after a snapshot) would otherwise hold every segment after
// its first entry. Each group's log goes into one record, so a crash
// leaves either the whole rewrite or none of it, and the old records stay
// in use until the rewrite is durable.
func (s *Shared) unpin() error {
	if len(s.starts) <= unpinSegments {
		return nil
	}
	second := s.starts[1]
	type rewrite struct {
		g   *groupIndex
		seq uint64
	}
	var done []rewrite
	s.batch.Clear()
	seq := s.lastSeq
	for group, g := range s.groups {
		if len(g.seqs) == 0 || g.seqs[0] >= second {
			continue
		}
		body, err := s.rewriteBody(group, g)
		if err != nil {
			return err
		}
		if body == nil {
			continue // too big to write again in one record
		}
		seq++
		s.batch.Write(seq, body)
		done = append(done, rewrite{g, seq})
	}
	if len(done) == 0 {
		return nil
	}
	if err := s.log.WriteBatch(&s.batch); err != nil {
		s.batch.Clear()
		return err
	}
	s.syncs++
	s.lastSeq = seq
	for _, r := range done {
		r.g.rewritten(r.g.first, r.g.last(), r.seq)
	}
	if err := s.syncDirIfRolled(); err != nil {
		return err
	}
	return s.compact()
}

// rewriteBody is the rewrite record of a group's whole log, or nil when
// it would pass rewriteBytesMax.
func (s *Shared) rewriteBody(group uint32, g *groupIndex) ([]byte, error) {
	var entries [][]byte
	size := 0
	var l raft.Log
	for i := range g.seqs {
		if err := s.readEntry(group, g.first+uint64(i), g.seqs[i], &l); err != nil {
			return nil, err
		}
		rec, err := appendRecord(nil, &l)
		if err != nil {
			return nil, err
		}
		if size += len(rec); size > rewriteBytesMax {
			return nil, nil
		}
		entries = append(entries, rec)
	}
	return appendSharedRewrite(nil, group, entries), nil
}

// readEntry reads the entry of a group at index from the record at seq: an
// entry record, or a rewrite holding it.
func (s *Shared) readEntry(group uint32, index, seq uint64, out *raft.Log) error {
	rec, err := s.log.Read(seq)
	if err != nil {
		return err
	}
	kind, g, _, _, err := decodeShared(rec, out)
	if err == nil && kind == recRewrite {
		err = findRewritten(rec, index, out)
	}
	if err != nil {
		return fmt.Errorf("wal: group %d index %d: %w", group, index, err)
	}
	if (kind != recEntry && kind != recRewrite) || g != group || out.Index != index {
		return fmt.Errorf("wal: group %d index %d holds another record: %w", group, index, ErrCorruptRecord)
	}
	return nil
}

// span is a group's first and last index, for checking a batch's writes
// before they are made.
type span struct {
	first, last uint64
	empty       bool
}

// append checks that logs continue the span (any start for an empty one:
// after a snapshot install Raft writes N+1 first) and are consecutive.
func (sp span) append(logs []*raft.Log) (span, error) {
	if !sp.empty && logs[0].Index != sp.last+1 {
		return sp, fmt.Errorf("wal: out of order append: index %d after %d", logs[0].Index, sp.last)
	}
	for i := 1; i < len(logs); i++ {
		if logs[i].Index != logs[i-1].Index+1 {
			return sp, fmt.Errorf("wal: gap in appended logs at index %d", logs[i].Index)
		}
	}
	if sp.empty {
		sp.first = logs[0].Index
	}
	sp.last, sp.empty = logs[len(logs)-1].Index, false
	return sp, nil
}

// deleteRange is groupIndex.deleteRange on a span.
func (sp span) deleteRange(min, max uint64) span {
	switch {
	case sp.empty || min > max || max < sp.first || min > sp.last:
	case min <= sp.first && max >= sp.last:
		sp = span{empty: true}
	case min <= sp.first:
		sp.first = max + 1
	default:
		sp.last = min - 1
	}
	return sp
}

// compact removes the records before the oldest one any group still
// needs (whole segments go; tidwall rewrites the first one it keeps).
// A group whose log is empty needs none.
func (s *Shared) compact() error {
	keep := s.lastSeq + 1
	for _, g := range s.groups {
		if len(g.seqs) > 0 && g.seqs[0] < keep {
			keep = g.seqs[0]
		}
	}
	// Only whole segments go: cut at the start of the last segment that
	// begins at or before the oldest record needed, once that is not the
	// first segment (tidwall rewrites the segment it cuts at, so cutting
	// anywhere else would copy records on every compaction).
	var cut uint64
	for _, start := range s.starts[min(1, len(s.starts)):] {
		if start <= keep {
			cut = start
		}
	}
	if cut == 0 {
		return nil
	}
	if err := s.log.TruncateFront(cut); err != nil {
		return err
	}
	s.segFiles = -1 // truncation renames files
	return s.listSegments()
}

// syncDirIfRolled lists the segments (and fsyncs the directory if their
// set changed) when tidwall may have started a new one: its tail file
// reached the segment size.
func (s *Shared) syncDirIfRolled() error {
	if s.segFiles >= 0 && s.tail != "" {
		if fi, err := os.Stat(s.tail); err == nil && fi.Size() < int64(s.opts.SegmentBytes) {
			return nil
		}
	}
	return s.listSegments()
}

// listSegments reads the segment files and fsyncs the directory if their
// number changed since it was last fsynced.
func (s *Shared) listSegments() error {
	files, err := segmentFiles(s.dir)
	if err != nil {
		return err
	}
	s.starts, s.tail = s.starts[:0], ""
	for _, f := range files {
		start, _ := strconv.ParseUint(f, 10, 64)
		s.starts = append(s.starts, start)
	}
	if len(files) > 0 {
		s.tail = filepath.Join(s.dir, files[len(files)-1])
	}
	if len(files) == s.segFiles {
		return nil
	}
	s.segFiles = len(files)
	return SyncDir(s.dir)
}

// GroupStore is one group's raft.LogStore on the node's shared log.
type GroupStore struct {
	s     *Shared
	group uint32
}

var _ raft.LogStore = (*GroupStore)(nil)
var _ raft.MonotonicLogStore = (*GroupStore)(nil)

// FirstIndex returns the group's first index, or 0 when its log is empty.
func (g *GroupStore) FirstIndex() (uint64, error) {
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	if x := g.s.groups[g.group]; x != nil && len(x.seqs) > 0 {
		return x.first, nil
	}
	return 0, nil
}

// LastIndex returns the group's last index, or 0 when its log is empty.
func (g *GroupStore) LastIndex() (uint64, error) {
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	if x := g.s.groups[g.group]; x != nil && len(x.seqs) > 0 {
		return x.last(), nil
	}
	return 0, nil
}

// GetLog reads the group's entry at index.
func (g *GroupStore) GetLog(index uint64, out *raft.Log) error {
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	x := g.s.groups[g.group]
	if x == nil || len(x.seqs) == 0 || index < x.first || index > x.last() {
		return raft.ErrLogNotFound
	}
	return g.s.readEntry(g.group, index, x.seqs[index-x.first], out)
}

// StoreLog stores one entry.
func (g *GroupStore) StoreLog(l *raft.Log) error { return g.StoreLogs([]*raft.Log{l}) }

// StoreLogs appends entries with consecutive indexes. It returns once they
// are durable, written with whatever other groups append meanwhile.
func (g *GroupStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	return g.s.submit(&sharedWrite{group: g.group, logs: logs})
}

// DeleteRange deletes the group's entries in [min, max]: a prefix, a
// suffix, or all.
func (g *GroupStore) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	return g.s.submit(&sharedWrite{group: g.group, min: min, max: max})
}

// IsMonotonic tells Raft to delete the whole log before it installs a
// snapshot, instead of leaving a gap this store cannot represent.
func (g *GroupStore) IsMonotonic() bool { return true }

// Shared records:
//
//	crc32c(rest) u32le | kind u8 | group uvarint | body
//
// where an entry's body is the raft.Log as LogStore encodes it (with its
// own checksum) and a delete's is min uvarint | max uvarint.

func appendSharedEntry(dst []byte, group uint32, l *raft.Log) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, recEntry)
	dst = binary.AppendUvarint(dst, uint64(group))
	dst, err := appendRecord(dst, l)
	if err != nil {
		return dst[:start], err
	}
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst, nil
}

func appendSharedDelete(dst []byte, group uint32, min, max uint64) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, recDelete)
	dst = binary.AppendUvarint(dst, uint64(group))
	dst = binary.AppendUvarint(dst, min)
	dst = binary.AppendUvarint(dst, max)
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

// appendSharedRewrite appends a rewrite record: a group's consecutive
// entries, each as appendRecord encodes it.
//
//	... | count uvarint | (len uvarint | record)...
func appendSharedRewrite(dst []byte, group uint32, entries [][]byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, recRewrite)
	dst = binary.AppendUvarint(dst, uint64(group))
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for _, e := range entries {
		dst = binary.AppendUvarint(dst, uint64(len(e)))
		dst = append(dst, e...)
	}
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

// eachRewritten calls fn with every entry of a rewrite record's body, in
// order, checking that there is at least one and that their indexes are
// consecutive.
func eachRewritten(body []byte, fn func(l *raft.Log) bool) error {
	count, n := binary.Uvarint(body)
	if n <= 0 || count == 0 || count > uint64(len(body)) {
		return ErrCorruptRecord
	}
	body = body[n:]
	var l raft.Log
	var prev uint64
	for i := uint64(0); i < count; i++ {
		size, n := binary.Uvarint(body)
		if n <= 0 || size > uint64(len(body)-n) {
			return ErrCorruptRecord
		}
		if err := decodeRecord(body[n:n+int(size)], &l); err != nil {
			return err
		}
		if i > 0 && l.Index != prev+1 {
			return ErrCorruptRecord
		}
		prev = l.Index
		body = body[n+int(size):]
		if !fn(&l) {
			return nil
		}
	}
	if len(body) != 0 {
		return ErrCorruptRecord
	}
	return nil
}

// findRewritten finds the entry at index in a rewrite record.
func findRewritten(rec []byte, index uint64, out *raft.Log) error {
	_, n := binary.Uvarint(rec[5:])
	found := false
	err := eachRewritten(rec[5+n:], func(l *raft.Log) bool {
		if l.Index == index {
			*out, found = *l, true
			return false
		}
		return true
	})
	if err == nil && !found {
		err = raft.ErrLogNotFound
	}
	return err
}

// decodeShared decodes a shared record: an entry into l (its Data aliases
// rec), a delete's range, or a rewrite's range (its first entry into l).
func decodeShared(rec []byte, l *raft.Log) (kind byte, group uint32, min, max uint64, err error) {
	if len(rec) < 6 || len(rec) > RecordBytesMax+16 ||
		binary.LittleEndian.Uint32(rec) != crc32.Checksum(rec[4:], castagnoli) {
		return 0, 0, 0, 0, ErrCorruptRecord
	}
	kind = rec[4]
	g, n := binary.Uvarint(rec[5:])
	if n <= 0 || g > 1<<32-1 {
		return 0, 0, 0, 0, ErrCorruptRecord
	}
	body := rec[5+n:]
	switch kind {
	case recEntry:
		if err := decodeRecord(body, l); err != nil {
			return 0, 0, 0, 0, err
		}
	case recDelete:
		var n1, n2 int
		min, n1 = binary.Uvarint(body)
		if n1 > 0 {
			max, n2 = binary.Uvarint(body[n1:])
		}
		if n1 <= 0 || n2 <= 0 || n1+n2 != len(body) {
			return 0, 0, 0, 0, ErrCorruptRecord
		}
	case recRewrite:
		first := true
		if err := eachRewritten(body, func(e *raft.Log) bool {
			if first {
				*l, min, first = *e, e.Index, false
			}
			max = e.Index
			return true
		}); err != nil {
			return 0, 0, 0, 0, err
		}
	default:
		return 0, 0, 0, 0, ErrCorruptRecord
	}
	return kind, uint32(g), min, max, nil
}

// repairSharedFraming cuts the last segment back to its last whole record
// that passes its checksum (tidwall refused to open: the tail record's
// length prefix or body is incomplete).
func repairSharedFraming(dir string, opts Options) error {
	files, err := segmentFiles(dir)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("wal: log corrupt and no segment to repair: %v", err)
	}
	path := filepath.Join(dir, files[len(files)-1])
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	good := validSharedPrefix(data)
	if good == len(data) {
		return fmt.Errorf("wal: %s: tidwall reports corruption the tail scan cannot find", path)
	}
	return truncateFile(path, int64(good), int64(len(data)-good), opts.OnRepair)
}

// validSharedPrefix is validPrefix for shared records.
func validSharedPrefix(data []byte) int {
	off := 0
	var l raft.Log
	for off < len(data) {
		size, n := binary.Uvarint(data[off:])
		if n <= 0 || size > RecordBytesMax+16 || uint64(len(data)-off-n) < size {
			break
		}
		if _, _, _, _, err := decodeShared(data[off+n:off+n+int(size)], &l); err != nil {
			break
		}
		off += n + int(size)
	}
	return off
}
