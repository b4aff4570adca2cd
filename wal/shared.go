package wal

import (
	"errors"
	"fmt"
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
// group (shared_record.go): an entry, a delete of a range of a group's
// indexes, or a rewrite of a group's whole log. Opening replays every
// record to rebuild each group's index of where its entries are; deletes
// are records too, so the replay repeats exactly what happened. Segments
// that no group needs any more are removed, and quiet groups that would
// keep old ones alive are rewritten forward (shared_write.go).
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

// Close closes the log.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Close()
}
