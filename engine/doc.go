// Package engine is a node's brain: it holds a replica of each shard group
// the layout gives it (replica.go: Raft, the group's shard state machine
// run on one goroutine per partition, the proposer that packs commands
// into log entries), routes each command and read to the group of its
// shard (node.go, shardgroup.go), through another node for a group it
// does not hold (remote.go, remotequery.go), coordinates transactions that
// span groups (crossgroup.go), and answers reads with the promised
// consistency.
//
// # Partitions and the coordinator
//
// A shard group's state is a shard.Machine: the meta partition and S shards.
// Each partition is owned by one worker goroutine (group.go); nothing else
// touches its state. The FSM hands the engine a batch of commands in log
// order. Each command names the partitions it touches; the scheduler sends
// every worker the sub-list of commands that touch its partition, in log
// order. A worker runs a single-partition command itself. A command that
// spans partitions is run by the coordinator: the workers of its partitions
// each reach it in their own log order and hand their partition over; the
// last to arrive has them all, runs the command, and releases the others.
// That is ordered locking with the log as the order: no cycle can form (every
// worker takes commands in the same global order), and every partition sees
// exactly the commands that touch it in log order, so the result equals a
// sequential run on every replica.
//
// # Writes
//
// Propose puts a command on the proposer's queue. The proposer packs every
// waiting command into one Raft log entry (group commit) and keeps a few
// entries in flight; Raft appends them with one fsync per disk write. A
// command's result returns once its entry is committed and applied, so
// nothing is acknowledged before it is durable.
//
// # A cluster
//
// Raft runs over the internal port (package peer). A node that
// does not lead sends its batches to the leader (forward.go); every
// command is tagged in the log with its node and a sequence number, so
// each node completes its own proposals from its own state machine
// (settle.go), whoever led. Membership (membership.go, over the calls of
// calls.go): a bootstrapped node
// holds the cluster secret; a joining node is added to the meta group as
// a non-voter; SIGTERM hands leadership over first.
//
// # Placement
//
// Each group lives on R of the N nodes (placement.go): the meta group's
// leader plans the layout (package topology) and keeps it in the meta
// group, which every node holds; each group's leader adds, promotes and
// removes members one change at a time until its configuration matches
// the layout, and hands leadership to the preferred leader; each node
// opens the replicas the layout gives it and deletes those it took away.
//
// # Shard groups
//
// With G > 1 groups, customers and referenceIds hash over all G x S
// shards, and group 0 also holds projects, key pairs and assets. A
// transaction within one group is one command; one across groups runs
// two-phase commit with escrow holds (shard/twophase.go holds the state
// machine half; crossgroup.go the coordinator, answering after two log
// writes, and the resolver that finishes what a dead coordinator left;
// held.go finishes a decided transaction's parts before anything that
// meets its holds). The layout spreads group leadership (placement.go).
//
// # Reads
//
// A read runs on the worker of the partition it needs (or on all of them,
// for cross-shard lists). Confirm (scope.go, readindex.go) first makes the node's
// state of the groups the read touches include every write acknowledged
// anywhere before the read: each leader's commit index, confirmed by one
// VerifyLeader round shared by all reads waiting, then a wait until this
// node has applied that far. Writes need no round: the log orders them,
// and who made one is checked where it applies (shard.By).
//
// # Operating
//
// metrics.go holds the engine's Prometheus collectors (transactions by
// outcome, Raft state, log fsyncs, snapshots, queues, records held);
// Checks feeds /readyz; raftlog.go routes hashicorp/raft's logs into slog.
package engine
