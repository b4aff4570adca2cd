package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

func openShared(t *testing.T, dir string) *Shared {
	t.Helper()
	s, err := OpenShared(dir, Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatalf("OpenShared: %v", err)
	}
	return s
}

// Groups share one log but keep their own indexes: interleaved appends
// read back per group, before and after a restart.
func TestSharedLogKeepsGroupsApart(t *testing.T) {
	dir := t.TempDir()
	s := openShared(t, dir)
	a, b, c := s.Group(0), s.Group(1), s.Group(7)
	for i := uint64(1); i <= 100; i += 10 {
		store(t, a, i, i+9)
		store(t, b, 1000+i, 1000+i+9)
	}
	store(t, c, 5, 5)
	check := func(s *Shared) {
		a, b, c := s.Group(0), s.Group(1), s.Group(7)
		wantBounds(t, a, 1, 100)
		wantBounds(t, b, 1001, 1100)
		wantBounds(t, c, 5, 5)
		checkLogs(t, a, 1, 100)
		checkLogs(t, b, 1001, 1100)
		checkLogs(t, c, 5, 5)
		wantBounds(t, s.Group(3), 0, 0)
	}
	check(s)
	s.Close()
	s = openShared(t, dir)
	defer s.Close()
	check(s)
	if err := s.Group(0).StoreLogs([]*raft.Log{mkLog(102)}); err == nil {
		t.Fatal("an append with a gap was accepted")
	}
	store(t, s.Group(0), 101, 101) // the refused one changed nothing
}

// One group's truncation, prefix or suffix, never loses another's entries,
// also once compaction has removed the segments nobody needs and the log
// is opened again.
func TestOneGroupsTruncationNeverLosesAnothers(t *testing.T) {
	dir := t.TempDir()
	s := openShared(t, dir)
	busy, quiet := s.Group(1), s.Group(2)
	store(t, quiet, 1, 5)
	for i := uint64(1); i <= 2000; i += 50 {
		store(t, busy, i, i+49)
	}
	store(t, quiet, 6, 10)
	if err := busy.DeleteRange(1, 1900); err != nil { // a snapshot's compaction
		t.Fatal(err)
	}
	if err := busy.DeleteRange(1990, 2000); err != nil { // a conflicting suffix
		t.Fatal(err)
	}
	store(t, busy, 1990, 1995) // written again
	check := func(s *Shared) {
		t.Helper()
		wantBounds(t, s.Group(1), 1901, 1995)
		checkLogs(t, s.Group(1), 1901, 1995)
		wantBounds(t, s.Group(2), 1, 10)
		checkLogs(t, s.Group(2), 1, 10)
	}
	check(s)
	// The quiet group pins the oldest segment; once it compacts too, the
	// segments before the busy group's first entry go.
	before, _ := segmentFiles(dir)
	if err := quiet.DeleteRange(1, 10); err != nil {
		t.Fatal(err)
	}
	store(t, quiet, 11, 12)
	after, _ := segmentFiles(dir)
	if len(after) >= len(before) {
		t.Fatalf("segments %d before the last compaction, %d after: nothing was removed", len(before), len(after))
	}
	wantBounds(t, s.Group(2), 11, 12)
	checkLogs(t, s.Group(1), 1901, 1995)
	s.Close()
	s = openShared(t, dir)
	defer s.Close()
	wantBounds(t, s.Group(1), 1901, 1995)
	checkLogs(t, s.Group(1), 1901, 1995)
	wantBounds(t, s.Group(2), 11, 12)
	checkLogs(t, s.Group(2), 11, 12)
}

// After a snapshot install Raft empties a group's log and starts it again
// at N+1; that survives a restart.
func TestSharedLogRestartsAGroupAtNPlusOne(t *testing.T) {
	dir := t.TempDir()
	s := openShared(t, dir)
	g := s.Group(4)
	store(t, g, 1, 30)
	if err := g.DeleteRange(1, 30); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, g, 0, 0)
	store(t, g, 501, 510)
	s.Close()
	s = openShared(t, dir)
	defer s.Close()
	wantBounds(t, s.Group(4), 501, 510)
	checkLogs(t, s.Group(4), 501, 510)
}

// Appends from many groups at once share fsyncs: fewer batches are
// written than calls are made, and every call's entries are there.
func TestSharedLogCoalescesAppends(t *testing.T) {
	s := openShared(t, t.TempDir())
	defer s.Close()
	const groups, calls = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	for g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s.Group(uint32(g))
			for i := uint64(1); i <= calls; i++ {
				if err := st.StoreLogs([]*raft.Log{mkLog(i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for g := range groups {
		wantBounds(t, s.Group(uint32(g)), 1, calls)
		checkLogs(t, s.Group(uint32(g)), 1, calls)
	}
	if n := s.syncs; n >= groups*calls { // every writer has returned: nobody writes it now
		t.Fatalf("%d fsyncs for %d appends: none were shared", n, groups*calls)
	}
	t.Logf("%d appends, %d fsyncs", groups*calls, s.syncs)
}

func lastSharedSegment(t *testing.T, dir string) string {
	files, err := segmentFiles(dir)
	if err != nil || len(files) == 0 {
		t.Fatal(err)
	}
	return filepath.Join(dir, files[len(files)-1])
}

// A crash in the middle of a batch leaves part of a record at the tail
// (or zeros): open cuts it off and every group keeps its whole entries.
func TestSharedLogTornTailIsRepaired(t *testing.T) {
	last, _ := appendSharedEntry(nil, 1, mkLog(3))
	for _, cut := range []int{1, 3, 9, len(last)} { // the last: all but its length prefix
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := t.TempDir()
			s := openShared(t, dir)
			store(t, s.Group(0), 1, 20)
			store(t, s.Group(1), 1, 3)
			s.Close()
			seg := lastSharedSegment(t, dir)
			fi, _ := os.Stat(seg)
			if err := os.Truncate(seg, fi.Size()-int64(cut)); err != nil {
				t.Fatal(err)
			}
			var repaired int64
			s, err := OpenShared(dir, Options{SegmentBytes: 4096, OnRepair: func(_ string, _, n int64) { repaired += n }})
			if err != nil {
				t.Fatalf("open after torn tail: %v", err)
			}
			defer s.Close()
			if repaired == 0 {
				t.Fatal("repair not reported")
			}
			wantBounds(t, s.Group(0), 1, 20)
			checkLogs(t, s.Group(0), 1, 20)
			wantBounds(t, s.Group(1), 1, 2) // the torn record was group 1's last
			store(t, s.Group(1), 3, 4)      // appends go on where the log now ends
			checkLogs(t, s.Group(1), 1, 4)
		})
	}
	t.Run("zeros", func(t *testing.T) {
		dir := t.TempDir()
		s := openShared(t, dir)
		store(t, s.Group(0), 1, 10)
		s.Close()
		f, _ := os.OpenFile(lastSharedSegment(t, dir), os.O_APPEND|os.O_WRONLY, 0)
		f.Write(make([]byte, 300))
		f.Close()
		s, err := OpenShared(dir, Options{SegmentBytes: 4096})
		if err != nil {
			t.Fatalf("open after a zero-filled tail: %v", err)
		}
		defer s.Close()
		checkLogs(t, s.Group(0), 1, 10)
	})
}

// A flipped bit in a record that is not at the tail is damage: open
// refuses the log rather than hand Raft a wrong entry or drop good ones.
func TestSharedLogCorruptionIsDetected(t *testing.T) {
	dir := t.TempDir()
	s := openShared(t, dir)
	for i := uint64(1); i <= 400; i += 20 {
		store(t, s.Group(0), i, i+19)
	}
	s.Close()
	files, _ := segmentFiles(dir)
	if len(files) < 3 {
		t.Fatalf("want several segments, have %d", len(files))
	}
	first := filepath.Join(dir, files[0])
	b, _ := os.ReadFile(first)
	b[len(b)/2] ^= 0x40
	os.WriteFile(first, b, 0o600)
	if _, err := OpenShared(dir, Options{SegmentBytes: 4096}); err == nil {
		t.Fatal("a flipped bit in an old segment went unnoticed")
	} else if !errors.Is(err, ErrCorruptRecord) {
		t.Logf("refused with: %v", err)
	}
}

// Whatever the shared record decoder accepts is a well-formed entry or
// delete, which encodes back to the same bytes: it never panics, never
// reads out of bounds, and never accepts two spellings of one record.
func FuzzDecodeShared(f *testing.F) {
	e, _ := appendSharedEntry(nil, 3, mkLog(9))
	f.Add(e)
	f.Add(appendSharedDelete(nil, 2, 5, 9))
	r1, _ := appendRecord(nil, mkLog(4))
	r2, _ := appendRecord(nil, mkLog(5))
	f.Add(appendSharedRewrite(nil, 1, [][]byte{r1, r2}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var l raft.Log
		kind, group, min, max, err := decodeShared(rec, &l)
		if err != nil {
			return
		}
		var again []byte
		switch kind {
		case recEntry:
			again, err = appendSharedEntry(nil, group, &l)
		case recDelete:
			again = appendSharedDelete(nil, group, min, max)
		case recRewrite:
			var entries [][]byte
			_, n := binary.Uvarint(rec[5:])
			if err := eachRewritten(rec[5+n:], func(e *raft.Log) bool {
				b, _ := appendRecord(nil, e)
				entries = append(entries, b)
				return true
			}); err != nil {
				t.Fatalf("a rewrite that decoded does not iterate: %v", err)
			}
			if uint64(len(entries)) != max-min+1 {
				t.Fatalf("rewrite of [%d, %d] holds %d entries", min, max, len(entries))
			}
			again = appendSharedRewrite(nil, group, entries)
		default:
			t.Fatalf("decoded unknown kind %d", kind)
		}
		if err != nil || !bytes.Equal(again, rec) {
			t.Fatalf("a decoded record encodes to other bytes: %v", err)
		}
	})
}

// A quiet group that never compacts does not pin the log: once there are
// more than unpinSegments segments, its log is written again in one record
// and the old segments go. Its entries read back the same, also after a
// restart, and it goes on appending after the rewrite.
func TestQuietGroupDoesNotPinTheLog(t *testing.T) {
	dir := t.TempDir()
	s := openShared(t, dir)
	quiet, busy := s.Group(1), s.Group(2)
	store(t, quiet, 1, 3)
	for i := uint64(1); i <= 3000; i += 10 {
		store(t, busy, i, i+9)
		if i > 100 {
			if err := busy.DeleteRange(1, i-100); err != nil { // compacts, keeping about 100
				t.Fatal(err)
			}
		}
	}
	if files, _ := segmentFiles(dir); len(files) > unpinSegments+2 {
		t.Fatalf("%d segments: the quiet group's entries pin the log", len(files))
	}
	store(t, quiet, 4, 5)
	check := func(s *Shared) {
		t.Helper()
		wantBounds(t, s.Group(1), 1, 5)
		checkLogs(t, s.Group(1), 1, 5)
		checkLogs(t, s.Group(2), 2911, 3000)
	}
	check(s)
	s.Close()
	s = openShared(t, dir)
	defer s.Close()
	check(s)
	if err := s.Group(1).DeleteRange(4, 5); err != nil { // a suffix delete into a rewritten log
		t.Fatal(err)
	}
	wantBounds(t, s.Group(1), 1, 3)
	checkLogs(t, s.Group(1), 1, 3)
}
