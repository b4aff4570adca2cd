package wal

import (
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// NewBoltStore opens a raft-boltdb/v2 store at path. It serves as the
// StableStore (term and vote), and as the alternative LogStore.
func NewBoltStore(path string) (*raftboltdb.BoltStore, error) {
	return raftboltdb.New(raftboltdb.Options{Path: path})
}
