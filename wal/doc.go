// Package wal holds cloudwallet's durable logs.
//
// Shared is the node's one log for every Raft group it holds (multi-raft,
// as TiKV's raft-engine and CockroachDB's one WAL per store), on
// github.com/tidwall/wal; each group sees its own raft.LogStore (Group).
// tidwall/wal is a fast segmented append-only log, but Raft needs more than
// it gives, and this package adds it:
//
//   - appends from every group that arrive while an fsync runs are written
//     together: one write and one fsync for all of them (group commit
//     across groups, on top of Raft's own batching within a group);
//   - every record is tagged with its group and carries a CRC-32C and a
//     length cap (RecordBytesMax), so a damaged record is detected instead
//     of being handed to Raft;
//   - a torn tail (a crash in the middle of a write) is repaired on open by
//     cutting the last segment back to its last whole, valid record — those
//     records were never fsynced, so never acknowledged; a bad record
//     anywhere else refuses the open;
//   - DeleteRange removes a group's prefix (compaction), suffix (conflicting
//     entries) or everything (snapshot install; see IsMonotonic), as a
//     record, so that opening the log replays exactly what happened; an
//     emptied group starts again at any index N+1;
//   - segments that no group needs any more are removed, whole; a quiet
//     group that would keep old segments alive has its log written again,
//     unchanged, in one record (unpin), so the log stays a few segments long;
//   - the directory is fsynced whenever the set of segment files changes, so
//     a new segment cannot vanish in a power cut after its records were
//     acknowledged (MkdirAllDurable, SyncDir and WriteFileAtomic do the
//     same for the rest of the data dir).
//
// raft-boltdb/v2 (NewBoltStore) is the StableStore, and the alternative log
// store (one per group) the benchmarks compare against.
package wal
