package wal

import (
	"github.com/hashicorp/raft"
)

// GroupStore is one group's raft.LogStore on the node's shared log: its
// reads come from the shared index, its writes join the shared batches.
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
