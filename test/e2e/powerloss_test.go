package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/test/lazyfs"
)

// TestPowerLossLosesNothingAcknowledged runs the real server on lazyfs, a
// FUSE file system that keeps everything not yet fsynced in a volatile
// layer, and cuts the power several times under concurrent writers: the
// server is killed and the volatile layer dropped (sometimes leaving a
// torn prefix of a file's unsynced appends), then the server starts again
// on what reached the disk. Every acknowledged transaction must be there
// exactly once, with its answered outcome, and every balance must equal a
// replay of the records (load.verify), across every cut so far.
//
// A kill -9 alone cannot catch a missing fsync: the page cache outlives
// the process. Mutation check: with the log store's fsync disabled, this
// test fails.
func TestPowerLossLosesNothingAcknowledged(t *testing.T) {
	if err := lazyfs.Available(); err != nil {
		lazyfs.SkipOrFail(t, fmt.Sprintf("skipped: %v (the power-loss test mounts a FUSE file system; run it as root on a machine with /dev/fuse)", err))
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	disk, err := lazyfs.Mount(lazyfs.New(), data)
	if errors.Is(err, lazyfs.ErrNoFUSE) {
		lazyfs.SkipOrFail(t, fmt.Sprintf("skipped: %v (the power-loss test mounts a FUSE file system)", err))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Unmount() })
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))

	s := startServer(t, data, nil)
	var loads []*load
	const cuts = 3
	for cut := 1; cut <= cuts; cut++ {
		l := startNamedLoad(t, s, fmt.Sprintf("P%d", cut))
		loads = append(loads, l)
		time.Sleep(time.Duration(400+r.IntN(800)) * time.Millisecond) // the load runs
		s.kill()                                                      // the power cut: the process dies,
		l.wait(t)
		st := disk.FS.Stats()
		if err := disk.Unmount(); err != nil {
			t.Fatal(err)
		}
		if disk, err = lazyfs.Mount(disk.FS.Crash(r), data); err != nil { // and so does the page cache
			t.Fatal(err)
		}
		s = startServer(t, data, s)
		for _, l := range loads {
			l.verify(t, s)
		}
		t.Logf("cut %d: %d transactions answered in this round, %d unclear (retried); %d writes, %d file and %d directory syncs before the cut; every round's answers intact",
			cut, len(l.acked)-len(l.unclear), len(l.unclear), st.Writes, st.FileSyncs, st.DirSyncs)
	}
}
