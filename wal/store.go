package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/hashicorp/raft"
	twal "github.com/tidwall/wal"
)

// Options configures a LogStore. Zero values take the defaults.
type Options struct {
	// SegmentBytes is the target size of one segment file. Smaller segments
	// make prefix compaction finer; larger ones mean fewer files.
	SegmentBytes int
	// OnRepair, if set, is told how many bytes a torn tail lost on open.
	OnRepair func(segment string, offsetBytes, droppedBytes int64)
}

const segmentBytesDefault = 20 << 20

// LogStore is a raft.LogStore on tidwall/wal. See the package doc.
//
// Raft reads from replication goroutines while the leader appends, so every
// method takes mu; tidwall/wal's own lock is not enough because base and the
// tidwall log change together.
type LogStore struct {
	dir    string  // set by Open, read-only after
	segDir string  // set by Open, read-only after
	opts   Options // set by Open, read-only after

	mu       sync.RWMutex // guards following
	log      *twal.Log
	base     uint64 // raft index = tidwall index + base
	empty    bool   // no records: the next StoreLogs chooses base
	segFiles int    // segment files seen at the last directory sync
	buf      []byte
	batch    twal.Batch
}

var _ raft.LogStore = (*LogStore)(nil)
var _ raft.MonotonicLogStore = (*LogStore)(nil)

const (
	segmentsDirName = "segments"
	deletingDirName = "segments.deleting"
	baseFileName    = "base"
)

// Open opens or creates the log in dir, repairing a torn tail.
func Open(dir string, opts Options) (*LogStore, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = segmentBytesDefault
	}
	s := &LogStore{dir: dir, segDir: filepath.Join(dir, segmentsDirName), opts: opts}
	// The segment directory and every directory above it that is new
	// must survive a power cut with their names.
	if err := MkdirAllDurable(s.segDir, 0o700); err != nil {
		return nil, err
	}
	// A delete-all that crashed half way left a renamed directory behind.
	if err := os.RemoveAll(filepath.Join(dir, deletingDirName)); err != nil {
		return nil, err
	}
	base, err := readBase(filepath.Join(dir, baseFileName))
	if err != nil {
		return nil, err
	}
	s.base = base
	if err := s.openTidwall(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *LogStore) tidwallOptions() *twal.Options { return tidwallOptions(s.opts) }

func tidwallOptions(opts Options) *twal.Options {
	return &twal.Options{
		SegmentSize:      opts.SegmentBytes,
		LogFormat:        twal.Binary,
		SegmentCacheSize: 2,
		AllowEmpty:       true,
		DirPerms:         0o700,
		FilePerms:        0o600,
	}
}

func (s *LogStore) openTidwall() error {
	l, err := twal.Open(s.segDir, s.tidwallOptions())
	if errors.Is(err, twal.ErrCorrupt) {
		if err = s.repairFraming(); err != nil {
			return err
		}
		l, err = twal.Open(s.segDir, s.tidwallOptions())
	}
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", s.segDir, err)
	}
	s.log = l
	if err := s.repairChecksums(); err != nil {
		l.Close()
		return err
	}
	first, _ := s.log.FirstIndex()
	last, _ := s.log.LastIndex()
	s.empty = last < first
	s.segFiles = -1
	return s.syncDirIfChanged()
}

// segmentFiles lists the tidwall segment files, oldest first.
func segmentFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if len(n) == 20 {
			if _, err := strconv.ParseUint(n, 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// repairFraming cuts the last segment back to its last whole, valid record.
// It runs when tidwall refuses to open: the tail record's length prefix or
// body is incomplete.
func (s *LogStore) repairFraming() error {
	files, err := segmentFiles(s.segDir)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("wal: log corrupt and no segment to repair: %v", err)
	}
	path := filepath.Join(s.segDir, files[len(files)-1])
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	good := validPrefix(data)
	if good == len(data) {
		return fmt.Errorf("wal: %s: tidwall reports corruption the tail scan cannot find", path)
	}
	return truncateFile(path, int64(good), int64(len(data)-good), s.opts.OnRepair)
}

// validPrefix returns the length of the longest prefix of a segment made of
// whole records that pass their checksum.
func validPrefix(data []byte) int {
	off := 0
	var l raft.Log
	for off < len(data) {
		size, n := binary.Uvarint(data[off:])
		if n <= 0 || size > RecordBytesMax || uint64(len(data)-off-n) < size {
			break
		}
		if decodeRecord(data[off+n:off+n+int(size)], &l) != nil {
			break
		}
		off += n + int(size)
	}
	return off
}

// truncateFile cuts a segment file to size bytes and reports the loss.
func truncateFile(path string, size, dropped int64, onRepair func(string, int64, int64)) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if onRepair != nil {
		onRepair(path, size, dropped)
	}
	return nil
}

// repairChecksums checks every record of the last segment (tidwall checks
// only the framing) and cuts the log back before the first bad one. A record
// with a whole frame but bad contents is the other face of a torn write.
func (s *LogStore) repairChecksums() error {
	files, err := segmentFiles(s.segDir)
	if err != nil || len(files) == 0 {
		return err
	}
	segFirst, _ := strconv.ParseUint(files[len(files)-1], 10, 64)
	first, _ := s.log.FirstIndex()
	last, _ := s.log.LastIndex()
	var l raft.Log
	for i := max(segFirst, first); i <= last && last >= first; i++ {
		rec, err := s.log.Read(i)
		if err == nil && decodeRecord(rec, &l) == nil && l.Index == i+s.base {
			continue
		}
		if s.opts.OnRepair != nil {
			s.opts.OnRepair(files[len(files)-1], -1, int64(last-i+1))
		}
		if i == first {
			return s.deleteAllLocked()
		}
		return s.log.TruncateBack(i - 1)
	}
	return nil
}

// syncDirIfChanged fsyncs the segment directory when its file set changed:
// a new segment's records are fsynced by tidwall, but its name is not.
func (s *LogStore) syncDirIfChanged() error {
	files, err := segmentFiles(s.segDir)
	if err != nil {
		return err
	}
	if len(files) == s.segFiles {
		return nil
	}
	s.segFiles = len(files)
	return SyncDir(s.segDir)
}

// FirstIndex returns the first Raft index stored, or 0 when empty.
func (s *LogStore) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.empty {
		return 0, nil
	}
	i, err := s.log.FirstIndex()
	return i + s.base, err
}

// LastIndex returns the last Raft index stored, or 0 when empty.
func (s *LogStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.empty {
		return 0, nil
	}
	i, err := s.log.LastIndex()
	return i + s.base, err
}

// GetLog reads the log at a Raft index.
func (s *LogStore) GetLog(index uint64, out *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.empty || index <= s.base {
		return raft.ErrLogNotFound
	}
	rec, err := s.log.Read(index - s.base)
	if errors.Is(err, twal.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	if err := decodeRecord(rec, out); err != nil {
		return fmt.Errorf("wal: index %d: %w", index, err)
	}
	if out.Index != index {
		return fmt.Errorf("wal: index %d holds record of index %d: %w", index, out.Index, ErrCorruptRecord)
	}
	return nil
}

// StoreLog stores one log.
func (s *LogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs appends logs with consecutive indexes in one write and one fsync.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.empty {
		// An empty log may start anywhere: after a snapshot install Raft
		// writes N+1 first. Persist the new base before the first record.
		next, _ := s.log.LastIndex()
		next++
		if logs[0].Index < next {
			return fmt.Errorf("wal: cannot start an empty log at index %d below %d", logs[0].Index, next)
		}
		if base := logs[0].Index - next; base != s.base {
			if err := writeBase(s.dir, base); err != nil {
				return err
			}
			s.base = base
		}
	} else if last, _ := s.log.LastIndex(); logs[0].Index != last+s.base+1 {
		return fmt.Errorf("wal: out of order append: index %d after %d", logs[0].Index, last+s.base)
	}
	s.buf = s.buf[:0]
	for i, l := range logs {
		if i > 0 && l.Index != logs[i-1].Index+1 {
			return fmt.Errorf("wal: gap in appended logs at index %d", l.Index)
		}
		start := len(s.buf)
		var err error
		if s.buf, err = appendRecord(s.buf, l); err != nil {
			return err
		}
		s.batch.Write(l.Index-s.base, s.buf[start:])
	}
	if err := s.log.WriteBatch(&s.batch); err != nil {
		s.batch.Clear()
		return err
	}
	s.empty = false
	return s.syncDirIfChanged()
}

// DeleteRange deletes the logs in [min, max]: a prefix, a suffix, or all.
func (s *LogStore) DeleteRange(min, max uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.empty || min > max {
		return nil
	}
	f, _ := s.log.FirstIndex()
	l, _ := s.log.LastIndex()
	first, last := f+s.base, l+s.base
	if max < first || min > last {
		return nil
	}
	var err error
	switch {
	case min <= first && max >= last:
		err = s.deleteAllLocked()
	case min <= first:
		err = s.log.TruncateFront(max + 1 - s.base)
	case max >= last:
		err = s.log.TruncateBack(min - 1 - s.base)
	default:
		return fmt.Errorf("wal: DeleteRange(%d, %d) inside [%d, %d] is neither prefix nor suffix", min, max, first, last)
	}
	if err != nil {
		return err
	}
	s.segFiles = -1 // truncation renames files
	return s.syncDirIfChanged()
}

// deleteAllLocked empties the log: the segment directory is renamed away
// (atomic), then removed, then a fresh log is opened.
func (s *LogStore) deleteAllLocked() error {
	if err := s.log.Close(); err != nil {
		return err
	}
	gone := filepath.Join(s.dir, deletingDirName)
	if err := os.Rename(s.segDir, gone); err != nil {
		return err
	}
	if err := SyncDir(s.dir); err != nil {
		return err
	}
	if err := os.RemoveAll(gone); err != nil {
		return err
	}
	if err := MkdirAllDurable(s.segDir, 0o700); err != nil {
		return err
	}
	l, err := twal.Open(s.segDir, s.tidwallOptions())
	if err != nil {
		return err
	}
	s.log, s.empty, s.segFiles = l, true, -1
	return s.syncDirIfChanged()
}

// IsMonotonic tells Raft to delete the whole log before it installs a
// snapshot, instead of leaving a gap this store cannot represent.
func (s *LogStore) IsMonotonic() bool { return true }

// Close closes the log.
func (s *LogStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Close()
}

// The base file: "CWB1" | base u64le | crc32c u32le, replaced atomically.

func readBase(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 16 || string(b[:4]) != "CWB1" || binary.LittleEndian.Uint32(b[12:]) != crc32.Checksum(b[:12], castagnoli) {
		return 0, fmt.Errorf("wal: %s is damaged", path)
	}
	return binary.LittleEndian.Uint64(b[4:]), nil
}

func writeBase(dir string, base uint64) error {
	b := make([]byte, 16)
	copy(b, "CWB1")
	binary.LittleEndian.PutUint64(b[4:], base)
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
	return WriteFileAtomic(filepath.Join(dir, baseFileName), b, 0o600)
}

// WriteFileAtomic writes a file so that after a crash it holds either the
// old or the new contents: temp file, fsync, rename, fsync of the directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
