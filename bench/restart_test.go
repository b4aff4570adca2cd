package bench

import "testing"

// The restart measurement builds, snapshots, restarts and verifies a small
// node (make bench runs it at 1M wallets and 10M entries).
func TestMeasureRestartSmall(t *testing.T) {
	r, err := MeasureRestart(t.TempDir(), 2_000, 10_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.SnapshotBytes <= 0 || r.LogTailEntries == 0 || r.RestartSeconds <= 0 || r.Entries < 10_000 {
		t.Fatalf("implausible: %+v", r)
	}
	t.Logf("%+v", r)
}
