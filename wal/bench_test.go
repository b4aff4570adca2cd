package wal

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkStoreLogs compares the shared log (one group) with bolt,
// appending batches of 1 KiB entries with an fsync per StoreLogs, as
// Raft's leader does. ns/op is per entry; MB/s counts entry payload.
func BenchmarkStoreLogs(b *testing.B) {
	stores := map[string]func(dir string) (raft.LogStore, func()){
		"wal": func(dir string) (raft.LogStore, func()) {
			s, err := OpenShared(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s.Group(0), func() { s.Close() }
		},
		"bolt": func(dir string) (raft.LogStore, func()) {
			s, err := NewBoltStore(filepath.Join(dir, "log.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s, func() { s.Close() }
		},
	}
	payload := make([]byte, 1024)
	for _, name := range []string{"wal", "bolt"} {
		for _, batch := range []int{1, 64, 512} {
			b.Run(fmt.Sprintf("store=%s/batch=%d", name, batch), func(b *testing.B) {
				s, done := stores[name](b.TempDir())
				defer done()
				logs := make([]*raft.Log, batch)
				for i := range logs {
					logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: payload}
				}
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				next := uint64(1)
				for done := 0; done < b.N; done += batch {
					n := min(batch, b.N-done)
					for i := 0; i < n; i++ {
						logs[i].Index = next
						next++
					}
					if err := s.StoreLogs(logs[:n]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
