package main

import (
	"syscall"
)

// Connections and open files. Every HTTP connection is a file descriptor,
// and so are the logs, snapshots and internal connections. A connection
// cap above what the process may open turns overload into accept errors
// (EMFILE) that also starve the log and Raft of descriptors; a cap sized
// from the limit refuses the excess cleanly instead.

const (
	// connectionsMaxCeiling bounds HTTP connections however high the file
	// limit is (fasthttp keeps a worker per connection).
	connectionsMaxCeiling = 100_000
	// filesReserved are descriptors kept for everything but HTTP clients:
	// log segments, snapshots, bolt, internal connections, pprof, metrics.
	filesReserved = 1024
	// connectionsMin is the least cap we run with, however low the limit.
	connectionsMin = 64
)

// raiseFileLimit lifts the soft limit on open files to the hard limit, as
// servers that hold many connections do, and returns the limit in effect.
func raiseFileLimit() (soft uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return lim.Cur, err
		}
		lim = raised
	}
	return lim.Cur, nil
}

// connectionsMax sizes the HTTP connection cap from the file limit: what is
// left after filesReserved, within [connectionsMin, connectionsMaxCeiling].
func connectionsMax(fileLimit uint64) int {
	if fileLimit <= filesReserved+connectionsMin {
		return connectionsMin
	}
	return int(min(fileLimit-filesReserved, connectionsMaxCeiling))
}
