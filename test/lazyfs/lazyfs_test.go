package lazyfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudwallet/cloudwallet/wal"
)

// mountOrSkip mounts f on a new directory, or skips with the reason when
// this machine cannot mount FUSE file systems.
func mountOrSkip(t *testing.T, f *FS, dir string) *Mounted {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipped: %v (power-loss tests need /dev/fuse and root)", err)
	}
	m, err := Mount(f, dir)
	if errors.Is(err, ErrNoFUSE) {
		t.Skipf("skipped: %v (power-loss tests need /dev/fuse and root)", err)
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
