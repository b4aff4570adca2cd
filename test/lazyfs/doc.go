// Package lazyfs is a FUSE file system for power-loss tests, after LazyFS:
// it keeps every write made since a file's last fsync or fdatasync, and
// every directory change since the directory's last fsync, in a volatile
// layer (memory), and Crash drops that layer, as a power cut drops the
// page cache. A kill -9 cannot show a missing fsync, because the page cache
// outlives a killed process; this can.
//
// Everything lives in memory: the tests mount it, run the real server on
// it, cut the power (Crash), mount what survived, and start the server
// again. Mounting needs /dev/fuse and root (the mount is made directly,
// without fusermount).
package lazyfs
