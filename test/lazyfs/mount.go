package lazyfs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ErrNoFUSE means this machine cannot mount a FUSE file system here: no
// /dev/fuse, not root (the mount is made without fusermount), or a
// sandbox that forbids the mount syscall.
var ErrNoFUSE = errors.New("lazyfs: FUSE mounts need /dev/fuse and root")

// Available reports whether Mount can work on this machine, and why not.
func Available() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: %v", ErrNoFUSE, err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: running as uid %d", ErrNoFUSE, os.Geteuid())
	}
	return nil
}

// Mounted is an FS mounted at a directory.
type Mounted struct {
	FS     *FS
	Dir    string
	server *fuse.Server
}

// Mount mounts f at dir (an existing, empty directory).
func Mount(f *FS, dir string) (*Mounted, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	timeout := time.Second
	server, err := fs.Mount(dir, f.root, &fs.Options{
		MountOptions: fuse.MountOptions{
			// The mount syscall itself, as root: no fusermount binary,
			// and its own error when mounting is not permitted here.
			DirectMountStrict: true,
			FsName:            "lazyfs",
			Name:              "lazyfs",
			MaxWrite:          1 << 20,
		},
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
	})
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		// Root, but in a sandbox that forbids mounting.
		return nil, fmt.Errorf("%w: mounting at %s is not permitted: %v", ErrNoFUSE, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lazyfs: mounting at %s: %w", dir, err)
	}
	return &Mounted{FS: f, Dir: dir, server: server}, nil
}

// Unmount unmounts, retrying while the mount is busy (a killed process's
// files close a moment after it is reaped).
func (m *Mounted) Unmount() error {
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = m.server.Unmount(); err == nil {
			m.server.Wait()
			return nil
		}
	}
	return fmt.Errorf("lazyfs: unmounting %s: %w", m.Dir, err)
}

// RequiredEnv, when set, makes a failed mount fail the power-loss tests
// instead of skipping them: make test sets it where /dev/fuse exists and it
// runs as root, so that there a skip can never hide them.
const RequiredEnv = "CLOUDWALLET_REQUIRE_FUSE"

// SkipOrFail skips t for why, or fails it when RequiredEnv is set.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequiredEnv) != "" {
		t.Fatalf("%s (%s is set: this machine must run it)", why, RequiredEnv)
	}
	t.Skip(why)
}
