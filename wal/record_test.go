package wal

import (
	"bytes"
	"fmt"
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

// An entry larger than RecordBytesMax is refused, and the log goes on.
func TestOversizedRecordIsRefused(t *testing.T) {
	s := openShared(t, t.TempDir())
	defer s.Close()
	g := s.Group(0)
	if err := g.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Data: make([]byte, RecordBytesMax)}}); err == nil {
		t.Fatal("record over RecordBytesMax accepted")
	}
	store(t, g, 1, 2)
	checkLogs(t, g, 1, 2)
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
