package engine

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// Raft's hclog lines reach the node's slog sink at their level, with the
// component named, and lines below the Raft level are dropped.
func TestRaftLogsGoToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRaftLogger(l, "warn")
	r.Info("chatter", "k", 1)
	r.Named("snapshot").Warn("disk slow", "took", "2s")
	r.With("peer", "n2").Error("lost peer")
	r.StandardLogger(nil).Print("std line")
	var lines []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("not JSON: %q", s)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("want the warn and error lines only (info is below the raft level), got %v", lines)
	}
	if lines[0]["level"] != "WARN" || lines[0]["component"] != "raft.snapshot" || lines[0]["took"] != "2s" {
		t.Errorf("warn line: %v", lines[0])
	}
	if lines[1]["level"] != "ERROR" || lines[1]["peer"] != "n2" || lines[1]["msg"] != "lost peer" {
		t.Errorf("error line: %v", lines[1])
	}
	r.SetLevel(1) // hclog.Trace
	if !r.IsDebug() {
		t.Error("SetLevel(Trace) must enable debug")
	}
}
