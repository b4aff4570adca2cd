// Package shard is the pure, deterministic state machine of cloudwallet.
//
// It holds two kinds of partition:
//
//   - Meta: projects, key pairs and assets (used in shard group 0; the
//     other groups' meta partitions stay empty).
//   - Shard: customers, their wallets and entries, system wallets, and the
//     transaction records keyed by referenceId.
//
// A Machine is one Meta plus the S Shards of its group; its Layout places
// them among the cluster's G x S shards. Transactions whose wallets live in
// several groups run as two-phase commit with escrow holds (twophase.go),
// each run named by an attempt (attempt.go); a command that meets such a
// hold answers Blocked until its proposer has settled it (held.go).
// Machine.Apply runs one Command with a Context taken from the Raft log (its
// sequence number and the leader's time stamp) and returns a Result. Nothing here reads a clock, draws a random
// number, does I/O, or lets map iteration order reach a result: the same
// commands in the same order give byte-identical state on every replica.
//
// Every command declares the partitions it touches (Command.Partitions); Apply
// touches nothing else. The engine relies on that to run commands on disjoint
// partitions in parallel while keeping the result equal to a sequential run.
//
// Ownership: nothing here locks. Whoever applies commands owns the state:
// in the engine, each partition (the Meta and each Shard) belongs to one
// worker goroutine, and a command that spans partitions runs only while
// their workers have handed them over.
//
// Server-made ids encode their partition and a dense index (ids.go), so ids
// are derived from the log order and lookups are slice indexing.
package shard
