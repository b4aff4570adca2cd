// Package wal holds cloudwallet's durable logs.
//
// LogStore is a raft.LogStore on github.com/tidwall/wal. tidwall/wal is a
// fast segmented append-only log, but Raft needs more than it gives, and
// this package adds it:
//
//   - every record carries a CRC-32C and a length cap (RecordBytesMax), so a
//     damaged record is detected on read instead of being handed to Raft;
//   - a torn tail (a crash in the middle of a write) is repaired on open by
//     cutting the last segment back to its last whole, valid record — those
//     records were never fsynced, so never acknowledged;
//   - a persisted base index maps Raft indexes onto tidwall's, so after a
//     snapshot install the log can restart empty at any index N+1;
//   - DeleteRange removes a prefix (compaction), a suffix (conflicting
//     entries) or everything (snapshot install; see IsMonotonic);
//   - the directory is fsynced whenever the set of segment files changes, so
//     a new segment cannot vanish in a crash after its records were acked.
//
// Every StoreLogs is one write and one fsync, whatever the number of logs:
// Raft's own batching becomes group commit on disk.
//
// raft-boltdb/v2 (NewBoltStore) is the StableStore, and the alternative log
// store the benchmarks compare against.
package wal
