package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/raft"
)

// Writing the shared log: callers queue, one of them writes the batch
// (one write, one fsync), and the log is compacted and unpinned.

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
