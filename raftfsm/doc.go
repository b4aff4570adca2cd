// Package raftfsm adapts hashicorp/raft to the shard state machine.
//
// One Raft log entry carries one batch of commands and the leader's time
// stamp (codec.go): the engine's proposer packs every waiting command into
// one entry, so one fsync and one replication round serve hundreds of
// transactions. FSM implements raft.BatchingFSM: it decodes the entries Raft
// hands it, gives each command its Context (sequence number from the log
// position, time clamped never to go backwards), and passes them to an
// Applier (the engine) in log order. Snapshots freeze the state between two
// applies and encode it while Raft goes on applying.
package raftfsm
