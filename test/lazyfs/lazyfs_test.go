package lazyfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/wal"
)

// mountOrSkip mounts f on a new directory, or skips with the reason when
// this machine cannot mount FUSE file systems.
func mountOrSkip(t *testing.T, f *FS, dir string) *Mounted {
	t.Helper()
	if err := Available(); err != nil {
		SkipOrFail(t, fmt.Sprintf("skipped: %v (power-loss tests need /dev/fuse and root)", err))
	}
	m, err := Mount(f, dir)
	if errors.Is(err, ErrNoFUSE) {
		SkipOrFail(t, fmt.Sprintf("skipped: %v (power-loss tests need /dev/fuse and root)", err))
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// What was fsynced survives a crash; what was not is gone: file bytes
// after the file's fsync, directory entries after the directory's fsync.
func TestCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := mountOrSkip(t, New(), dir)
	write := func(name, data string, sync bool) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(data); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	syncDir := func(name string) {
		t.Helper()
		d, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("kept", "synced", true)
	write("kept", " and not", false) // unsynced tail: lost
	write("sub/inner", "synced too", true)
	syncDir("sub")
	syncDir(".") // kept, sub (with inner) are durable entries now
	write("renamed", "x", true)
	syncDir(".")
	if err := os.Rename(filepath.Join(dir, "renamed"), filepath.Join(dir, "new-name")); err != nil {
		t.Fatal(err)
	}
	write("unlinked-entry", "synced data, but its name never was", true)
	if b, err := os.ReadFile(filepath.Join(dir, "kept")); err != nil || string(b) != "synced and not" {
		t.Fatalf("before the crash, reads see every write: %q %v", b, err)
	}
	st := m.FS.Stats()
	if st.FileSyncs < 4 || st.DirSyncs < 3 {
		t.Fatalf("syncs not seen: %+v", st)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}

	m = mountOrSkip(t, m.FS.Crash(nil), dir)
	defer m.Unmount()
	for name, want := range map[string]string{"kept": "synced", "sub/inner": "synced too", "renamed": "x"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s after the crash: %q %v, want %q", name, b, err, want)
		}
	}
	for _, gone := range []string{"unlinked-entry", "new-name"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s: its directory entry was never synced, yet it survived (%v)", gone, err)
		}
	}
}

// wal.MkdirAllDurable's directories survive a power cut; os.MkdirAll's
// may not (their names were never synced): the bug the power-loss test
// found in the log store, which lost its whole segment directory.
func TestMkdirAllDurableSurvivesACrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := mountOrSkip(t, New(), dir)
	if err := wal.MkdirAllDurable(filepath.Join(dir, "a", "b", "c"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "x", "y"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	m = mountOrSkip(t, m.FS.Crash(nil), dir)
	defer m.Unmount()
	if fi, err := os.Stat(filepath.Join(dir, "a", "b", "c")); err != nil || !fi.IsDir() {
		t.Fatalf("a/b/c after the crash: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Fatalf("x was never synced into its parent, yet survived: %v", err)
	}
}

// A torn crash keeps, of a file's unsynced appends, a prefix: never bytes
// the file did not have, never less than what was synced. Over many
// crashes both ends occur: the unsynced tail lost, and part of it kept.
func TestTornCrashKeepsAPrefixOfUnsyncedAppends(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := mountOrSkip(t, New(), dir)
	path := filepath.Join(dir, "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	synced, unsynced := "synced-", "then-appended-without-a-sync"
	if _, err := f.WriteString(synced); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(unsynced); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Sync() // the file's name is durable; its tail is not
	d.Close()
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	before := m.FS
	r := rand.New(rand.NewPCG(1, 2))
	lost, torn := 0, 0
	for range 40 {
		m = mountOrSkip(t, before.Crash(r), dir)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		if !strings.HasPrefix(got, synced) || !strings.HasPrefix(synced+unsynced, got) {
			t.Fatalf("after a torn crash the file holds %q: not the synced bytes plus a prefix of the rest", got)
		}
		switch {
		case got == synced:
			lost++
		case len(got) < len(synced+unsynced):
			torn++
		}
		if err := m.Unmount(); err != nil {
			t.Fatal(err)
		}
	}
	if lost == 0 || torn == 0 {
		t.Fatalf("in 40 torn crashes, %d lost the tail and %d kept part of it: both must happen", lost, torn)
	}
}

// The node's shared log, written across many segment rolls and
// compactions, loses nothing it acknowledged to a power cut: every
// segment's name was made durable before its records were reported
// durable. (The directory listing is skipped between rolls; this is what
// checks that skipping it never skips a roll.)
func TestSharedLogSurvivesACrashAcrossSegmentRolls(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := mountOrSkip(t, New(), dir)
	logDir := filepath.Join(dir, "log")
	s, err := wal.OpenShared(logDir, wal.Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	entry := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(strings.Repeat("e", int(20+i%90)))}
	}
	const n = 400
	for i := uint64(1); i <= n; i++ {
		for g := uint32(0); g < 3; g++ {
			if err := s.Group(g).StoreLogs([]*raft.Log{entry(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 0 { // group 1 compacts now and then: segments go
			if err := s.Group(1).DeleteRange(1, i-20); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := os.ReadDir(logDir)
	if len(files) < 5 {
		t.Fatalf("%d segment files: the test did not roll segments", len(files))
	}
	// Power cut: nothing after the last fsync survives (closing writes
	// nothing more; the mount must be let go of first).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	m = mountOrSkip(t, m.FS.Crash(nil), dir)
	defer m.Unmount()
	s, err = wal.OpenShared(logDir, wal.Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	defer s.Close()
	for g, first := range map[uint32]uint64{0: 1, 1: n - 20 + 1, 2: 1} {
		st := s.Group(g)
		if last, _ := st.LastIndex(); last != n {
			t.Fatalf("group %d ends at %d after the crash, want %d: acknowledged entries lost", g, last, n)
		}
		for i := first; i <= n; i++ {
			var l raft.Log
			if err := st.GetLog(i, &l); err != nil || string(l.Data) != string(entry(i).Data) {
				t.Fatalf("group %d entry %d after the crash: %v", g, i, err)
			}
		}
	}
}
