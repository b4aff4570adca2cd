package engine

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cloudwallet/cloudwallet/shard"
)

// gauge reads one metric's value (a gauge, a counter, or a histogram's
// sample count) from a registry.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		switch f.GetType() {
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// A snapshot is timed and sized, and the held counts survive a restart
// that restores from the snapshot (they are recounted, not replayed).
func TestSnapshotAndHeldMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	n := openReady(t, cfg)
	l := setupLedger(t, n, 5)
	propose(t, n, shard.Command{Kind: shard.CmdTransaction, Project: l.project, ReferenceID: "r1",
		Ops: []shard.Op{{Type: shard.OpIssue, Destination: l.wallets[0], Amount: 10}}})
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"cloudwallet_snapshot_duration_seconds":        1,
		"cloudwallet_snapshot_freeze_duration_seconds": 1,
		"cloudwallet_wallets":                          5,
		"cloudwallet_customers":                        5,
		"cloudwallet_transactions":                     1,
	} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if size := metricValue(t, reg, "cloudwallet_snapshot_size_bytes"); size < 100 {
		t.Errorf("snapshot size %v bytes", size)
	}
	n.Close()

	reg2 := prometheus.NewRegistry()
	cfg.Metrics = reg2
	n = openReady(t, cfg)
	defer n.Close()
	if got := metricValue(t, reg2, "cloudwallet_wallets"); got != 5 {
		t.Errorf("wallets after restore = %v, want 5", got)
	}
	if got := metricValue(t, reg2, "cloudwallet_transactions"); got != 1 {
		t.Errorf("transactions after restore = %v, want 1", got)
	}
}
