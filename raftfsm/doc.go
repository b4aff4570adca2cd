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
//
// Every command carries its proposing node's tag (origin, sequence number),
// so each node completes its own proposals from its own replica. A fence
// (CmdFence, fsm.go) is the one command the FSM interprets itself: from
// its place in the log, its origin's commands up to its mark are skipped,
// which lets a node whose link to the leader broke know for certain which
// of its writes will never apply.
package raftfsm
