package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// A throughput benchmark measures capacity only while the servers are
// saturated: with too few clients, a cluster waits on its peers' quorum
// acknowledgements and sits partly idle, and its req/s says more about
// latency than about what the nodes can do. So scale runs read how much
// CPU each capped node used in the measured seconds, and report it beside
// the req/s (near 100% of the cap: saturated).

// clockTicksPerSec is Linux's USER_HZ, the unit of utime and stime in
// /proc/PID/stat: 100 on every Linux ABI Go supports.
const clockTicksPerSec = 100

// processCPU is the CPU time (user and system) a process has used so far.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(b)
}

// parseProcStatCPU reads utime and stime, fields 14 and 15 of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces or parentheses itself, so fields are counted from the
// last ')'.
func parseProcStatCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("bench: /proc stat line without a command name: %.40q", stat)
	}
	fields := bytes.Fields(stat[end+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return 0, fmt.Errorf("bench: /proc stat line with %d fields after the name, want at least 13", len(fields))
	}
	var ticks uint64
	for _, f := range fields[11:13] { // utime, stime
		n, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat CPU field %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSec, nil
}
