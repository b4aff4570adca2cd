package lazyfs

import (
	"context"
	"math/rand/v2"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is one file system: a tree of files and directories, each with what
// the running programs see and what a power cut would leave of it.
type FS struct {
	mu    sync.Mutex // guards the data, durable and mode fields of every node, and stats
	root  *dir
	stats Stats
}

// Stats counts what the programs did since the FS was made, so a test can
// tell its workload did sync at all.
type Stats struct {
	Writes, FileSyncs, DirSyncs int
}

// New returns an empty file system.
func New() *FS {
	f := &FS{}
	f.root = &dir{fsys: f, durable: map[string]node{}}
	return f
}

// Stats returns the counts so far.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// node is a file or a directory of an FS.
type node interface {
	fs.InodeEmbedder
	// survivor is what a power cut leaves of this node, as a node of the
	// FS that Crash makes. Called with the old FS's mu held.
	survivor(to *FS, tear *rand.Rand) node
}

// file is a regular file. data is what reads see; durable is what the last
// fsync made durable.
type file struct {
	fs.Inode
	fsys    *FS
	data    []byte // guarded by fsys.mu
	durable []byte // guarded by fsys.mu
	mode    uint32 // permission bits; guarded by fsys.mu
}

// dir is a directory. Its current entries are its fs.Inode children; its
// entries as of its last fsync are durable.
type dir struct {
	fs.Inode
	fsys    *FS
	durable map[string]node // guarded by fsys.mu
	mode    uint32          // permission bits; guarded by fsys.mu
}

var (
	_ fs.NodeOpener    = (*file)(nil)
	_ fs.NodeReader    = (*file)(nil)
	_ fs.NodeWriter    = (*file)(nil)
	_ fs.NodeFsyncer   = (*file)(nil)
	_ fs.NodeFlusher   = (*file)(nil)
	_ fs.NodeGetattrer = (*file)(nil)
	_ fs.NodeSetattrer = (*file)(nil)
	_ fs.NodeAllocater = (*file)(nil)

	_ fs.NodeOnAdder   = (*dir)(nil)
	_ fs.NodeCreater   = (*dir)(nil)
	_ fs.NodeMkdirer   = (*dir)(nil)
	_ fs.NodeUnlinker  = (*dir)(nil)
	_ fs.NodeRmdirer   = (*dir)(nil)
	_ fs.NodeRenamer   = (*dir)(nil)
	_ fs.NodeFsyncer   = (*dir)(nil)
	_ fs.NodeGetattrer = (*dir)(nil)
	_ fs.NodeSetattrer = (*dir)(nil)
	_ fs.NodeStatfser  = (*dir)(nil)
)

// --- files ---

func (f *file) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, 0, fs.OK
}

func (f *file) Read(ctx context.Context, _ fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	if off >= int64(len(f.data)) {
		return fuse.ReadResultData(nil), fs.OK
	}
	n := copy(dest, f.data[off:])
	return fuse.ReadResultData(dest[:n]), fs.OK
}

func (f *file) Write(ctx context.Context, _ fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	f.fsys.stats.Writes++
	f.data = grow(f.data, off+int64(len(data)))
	copy(f.data[off:], data)
	return uint32(len(data)), fs.OK
}

// grow returns b extended with zeros to at least n bytes, never sharing
// memory with a durable copy.
func grow(b []byte, n int64) []byte {
	if int64(len(b)) >= n {
		return b
	}
	if int64(cap(b)) >= n {
		return b[:n]
	}
	nb := make([]byte, n, n+n/4)
	copy(nb, b)
	return nb
}

// Fsync makes the file's data durable (fsync and fdatasync alike: the
// size is part of the data here).
func (f *file) Fsync(ctx context.Context, _ fs.FileHandle, flags uint32) syscall.Errno {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	f.fsys.stats.FileSyncs++
	f.durable = append(f.durable[:0:0], f.data...)
	return fs.OK
}

func (f *file) Flush(ctx context.Context, _ fs.FileHandle) syscall.Errno { return fs.OK }

func (f *file) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	out.Mode = syscall.S_IFREG | f.mode
	out.Size = uint64(len(f.data))
	out.Blocks = (out.Size + 511) / 512
	out.Nlink = 1
	return fs.OK
}

func (f *file) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	f.fsys.mu.Lock()
	if size, ok := in.GetSize(); ok {
		if int64(size) < int64(len(f.data)) {
			// A new slice: the bytes past the cut must not reappear
			// when the file grows again.
			f.data = append([]byte(nil), f.data[:size]...)
		} else {
			f.data = grow(f.data, int64(size))
		}
	}
	if mode, ok := in.GetMode(); ok {
		f.mode = mode & 0o7777
	}
	f.fsys.mu.Unlock()
	return f.Getattr(ctx, fh, out)
}

func (f *file) Allocate(ctx context.Context, _ fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	if mode&0x01 == 0 { // not FALLOC_FL_KEEP_SIZE
		f.data = grow(f.data, int64(off+size))
	}
	return fs.OK
}

// survivor keeps the durable bytes. With tear, a file whose unsynced
// writes only appended may also keep a prefix of them: a power cut in the
// middle of writing back the page cache.
func (f *file) survivor(to *FS, tear *rand.Rand) node {
	kept := append([]byte(nil), f.durable...)
	if tear != nil && len(f.data) > len(f.durable) && string(f.data[:len(f.durable)]) == string(f.durable) && tear.IntN(2) == 0 {
		kept = append(kept, f.data[len(f.durable):len(f.durable)+tear.IntN(len(f.data)-len(f.durable))]...)
	}
	return &file{fsys: to, data: kept, durable: append([]byte(nil), kept...), mode: f.mode}
}

// --- directories ---

// OnAdd puts a surviving tree's children in place when the FS is mounted.
func (d *dir) OnAdd(ctx context.Context) {
	d.fsys.mu.Lock()
	entries := d.durable
	d.fsys.mu.Unlock()
	for name, n := range entries {
		d.AddChild(name, d.NewPersistentInode(ctx, n, fs.StableAttr{Mode: modeOf(n)}), true)
	}
}

func modeOf(n node) uint32 {
	if _, isDir := n.(*dir); isDir {
		return syscall.S_IFDIR
	}
	return syscall.S_IFREG
}

func (d *dir) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	f := &file{fsys: d.fsys, mode: mode & 0o7777}
	ch := d.NewPersistentInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG})
	var attr fuse.AttrOut
	f.Getattr(ctx, nil, &attr)
	out.Attr = attr.Attr
	return ch, nil, 0, fs.OK
}

func (d *dir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	nd := &dir{fsys: d.fsys, durable: map[string]node{}, mode: mode & 0o7777}
	ch := d.NewPersistentInode(ctx, nd, fs.StableAttr{Mode: syscall.S_IFDIR})
	var attr fuse.AttrOut
	nd.Getattr(ctx, nil, &attr)
	out.Attr = attr.Attr
	return ch, fs.OK
}

func (d *dir) Unlink(ctx context.Context, name string) syscall.Errno { return fs.OK }

func (d *dir) Rmdir(ctx context.Context, name string) syscall.Errno {
	if ch := d.GetChild(name); ch != nil && len(ch.Children()) > 0 {
		return syscall.ENOTEMPTY
	}
	return fs.OK
}

// Rename supports plain renames (replacing the target) and
// RENAME_NOREPLACE; the bridge moves the child once it returns OK.
func (d *dir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	const renameNoReplace = 1
	if flags&^renameNoReplace != 0 {
		return syscall.EINVAL
	}
	target := newParent.EmbeddedInode().GetChild(newName)
	switch {
	case target == nil:
	case flags&renameNoReplace != 0:
		return syscall.EEXIST
	case target.IsDir() && len(target.Children()) > 0:
		return syscall.ENOTEMPTY
	}
	return fs.OK
}

// Fsync makes the directory's current entries durable.
func (d *dir) Fsync(ctx context.Context, _ fs.FileHandle, flags uint32) syscall.Errno {
	children := d.Children()
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	d.fsys.stats.DirSyncs++
	d.durable = make(map[string]node, len(children))
	for name, ch := range children {
		if n, ok := ch.Operations().(node); ok {
			d.durable[name] = n
		}
	}
	return fs.OK
}

func (d *dir) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	out.Mode = syscall.S_IFDIR | d.mode
	if d.mode == 0 {
		out.Mode |= 0o755
	}
	out.Nlink = 2
	return fs.OK
}

func (d *dir) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if mode, ok := in.GetMode(); ok {
		d.fsys.mu.Lock()
		d.mode = mode & 0o7777
		d.fsys.mu.Unlock()
	}
	return d.Getattr(ctx, fh, out)
}

func (d *dir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 30 // 512 GiB of 512-byte blocks: never full
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<20, 1<<20
	out.Bsize, out.Frsize, out.NameLen = 512, 512, 255
	return fs.OK
}

// survivor keeps the entries of the directory's last fsync, each as it
// survives itself; entries made since are gone, and entries removed since
// are back.
func (d *dir) survivor(to *FS, tear *rand.Rand) node {
	nd := &dir{fsys: to, durable: make(map[string]node, len(d.durable)), mode: d.mode}
	for name, n := range d.durable {
		nd.durable[name] = n.survivor(to, tear)
	}
	return nd
}

// Crash is a power cut: it returns a new FS holding only what reached the
// disk of this one — each directory's entries as of its last fsync, each
// file's bytes as of its last fsync, and with tear non-nil, sometimes a
// torn prefix of a file's unsynced appends. The root directory itself
// always survives. Unmount this FS before mounting the new one.
func (f *FS) Crash(tear *rand.Rand) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	nf := &FS{}
	nf.root = f.root.survivor(nf, tear).(*dir)
	return nf
}
