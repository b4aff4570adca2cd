package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func mkLog(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: 1 + i/10, Type: raft.LogCommand,
		Data: []byte(fmt.Sprintf("entry-%d-%s", i, bytes.Repeat([]byte{'x'}, int(i%50)))), AppendedAt: time.Unix(0, int64(i)*1000)}
}

func store(t *testing.T, s raft.LogStore, from, to uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, mkLog(i))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs(%d..%d): %v", from, to, err)
	}
}

func bounds(t *testing.T, s raft.LogStore) (uint64, uint64) {
	t.Helper()
	f, err1 := s.FirstIndex()
	l, err2 := s.LastIndex()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return f, l
}

func wantBounds(t *testing.T, s raft.LogStore, first, last uint64) {
	t.Helper()
	if f, l := bounds(t, s); f != first || l != last {
		t.Fatalf("bounds [%d, %d], want [%d, %d]", f, l, first, last)
	}
}

// checkLogs reads every index in [from, to] and compares with what was stored.
func checkLogs(t *testing.T, s raft.LogStore, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		want := mkLog(i)
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
			!bytes.Equal(got.Data, want.Data) || !got.AppendedAt.Equal(want.AppendedAt) {
			t.Fatalf("GetLog(%d) = %+v, want %+v", i, got, want)
		}
	}
}

func open(t *testing.T, dir string) *LogStore {
	t.Helper()
	s, err := Open(dir, Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStoreAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	wantBounds(t, s, 0, 0)
	var l raft.Log
	if err := s.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog on empty: %v", err)
	}
	store(t, s, 1, 300) // several segments at 4 KiB each
	store(t, s, 301, 301)
	if err := s.StoreLogs([]*raft.Log{mkLog(303)}); err == nil {
		t.Fatal("a gap was accepted")
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	wantBounds(t, s, 1, 301)
	checkLogs(t, s, 1, 301)
	if n, _ := segmentFiles(filepath.Join(dir, segmentsDirName)); len(n) < 3 {
		t.Fatalf("expected several segments, got %d", len(n))
	}
}

func TestDeletePrefixAndSuffix(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	store(t, s, 1, 200)
	if err := s.DeleteRange(1, 120); err != nil { // compaction
		t.Fatal(err)
	}
	wantBounds(t, s, 121, 200)
	if err := s.DeleteRange(181, 200); err != nil { // conflicting suffix
		t.Fatal(err)
	}
	wantBounds(t, s, 121, 180)
	if err := s.DeleteRange(150, 160); err == nil {
		t.Fatal("a hole in the middle was accepted")
	}
	var l raft.Log
	for _, i := range []uint64{120, 181} {
		if err := s.GetLog(i, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("deleted %d: %v", i, err)
		}
	}
	store(t, s, 181, 190) // the suffix can be rewritten
	s.Close()
	s = open(t, dir)
	defer s.Close()
	wantBounds(t, s, 121, 190)
	checkLogs(t, s, 121, 190)
}

// After a snapshot install Raft deletes everything and appends at N+1.
func TestRestartAtNPlusOne(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	store(t, s, 1, 50)
	if err := s.DeleteRange(1, 50); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 0, 0)
	store(t, s, 1001, 1010)
	wantBounds(t, s, 1001, 1010)
	s.Close()
	s = open(t, dir)
	wantBounds(t, s, 1001, 1010)
	checkLogs(t, s, 1001, 1010)
	store(t, s, 1011, 1100)
	if err := s.DeleteRange(1001, 1050); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	wantBounds(t, s, 1051, 1100)
	checkLogs(t, s, 1051, 1100)
	// A fresh store may also start above 1 directly.
	s2 := open(t, t.TempDir())
	defer s2.Close()
	store(t, s2, 77, 80)
	wantBounds(t, s2, 77, 80)
}

func lastSegment(t *testing.T, dir string) string {
	files, err := segmentFiles(filepath.Join(dir, segmentsDirName))
	if err != nil || len(files) == 0 {
		t.Fatal(err)
	}
	return filepath.Join(dir, segmentsDirName, files[len(files)-1])
}

// A crash in the middle of a write leaves part of a record at the tail;
// open cuts it off and keeps every whole record before it.
func TestTornTailIsRepaired(t *testing.T) {
	for _, cut := range []int{1, 3, 7, 20} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			store(t, s, 1, 60)
			s.Close()
			seg := lastSegment(t, dir)
			fi, _ := os.Stat(seg)
			if err := os.Truncate(seg, fi.Size()-int64(cut)); err != nil {
				t.Fatal(err)
			}
			var repaired int64
			s, err := Open(dir, Options{SegmentBytes: 4096, OnRepair: func(_ string, _, n int64) { repaired += n }})
			if err != nil {
				t.Fatalf("open after torn tail: %v", err)
			}
			defer s.Close()
			wantBounds(t, s, 1, 59)
			checkLogs(t, s, 1, 59)
			if repaired == 0 {
				t.Fatal("repair not reported")
			}
			store(t, s, 60, 61) // appends go on where the log now ends
			checkLogs(t, s, 60, 61)
		})
	}
}

// Zeros appended by the file system (allocated, never written) are a torn tail too.
func TestZeroFilledTailIsRepaired(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	store(t, s, 1, 10)
	s.Close()
	f, err := os.OpenFile(lastSegment(t, dir), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var repaired int64
	s, err = Open(dir, Options{SegmentBytes: 4096, OnRepair: func(_ string, _, n int64) { repaired += n }})
	if err != nil {
		t.Fatalf("open after a zero-filled tail: %v", err)
	}
	defer s.Close()
	wantBounds(t, s, 1, 10)
	checkLogs(t, s, 1, 10)
	if repaired != 64 {
		t.Fatalf("repair reported %d bytes cut, want the 64 zero bytes", repaired)
	}
}

// A flipped bit is detected: at the tail it is cut off on open, elsewhere
// a read reports corruption instead of handing bad data to Raft.
func TestCorruptChecksumIsDetected(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	store(t, s, 1, 100)
	s.Close()
	files, _ := segmentFiles(filepath.Join(dir, segmentsDirName))
	first := filepath.Join(dir, segmentsDirName, files[0])
	flip := func(path string, at func(n int) int, bit byte) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[at(len(b))] ^= bit
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flip(first, func(int) int { return 40 }, 0x10)                    // inside the first or second record of the oldest segment
	flip(lastSegment(t, dir), func(n int) int { return n - 3 }, 0x01) // inside the last record

	s = open(t, dir)
	defer s.Close()
	wantBounds(t, s, 1, 99) // the bad tail record is gone
	bad := 0
	var l raft.Log
	for i := uint64(1); i <= 3; i++ {
		if err := s.GetLog(i, &l); errors.Is(err, ErrCorruptRecord) {
			bad++
		}
	}
	if bad != 1 {
		t.Fatalf("corrupt records reported: %d, want 1", bad)
	}
}

func TestOversizedRecordIsRefused(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Data: make([]byte, RecordBytesMax)}})
	if err == nil {
		t.Fatal("record over RecordBytesMax accepted")
	}
	store(t, s, 1, 2)
	checkLogs(t, s, 1, 2)
}

func FuzzDecodeRecord(f *testing.F) {
	for _, l := range []*raft.Log{mkLog(1), mkLog(77), {Index: 5, Term: 2, Type: raft.LogConfiguration, Extensions: []byte("e")}} {
		rec, _ := appendRecord(nil, l)
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var l raft.Log
		if err := decodeRecord(rec, &l); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		again, err := appendRecord(nil, &l)
		if err != nil || !bytes.Equal(again, rec) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}
