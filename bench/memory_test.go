package bench

import "testing"

// The measurement runs and gives plausible numbers (small, so it is quick;
// make bench runs it at 1M wallets and 10M entries).
func TestMeasureMemorySmall(t *testing.T) {
	r, err := MeasureMemory(20_000, 100_000, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.BytesPerWallet < 50 || r.BytesPerWallet > 10_000 || r.BytesPerEntry < 20 || r.BytesPerEntry > 10_000 || r.Entries < 100_000 {
		t.Fatalf("implausible: %+v", r)
	}
	t.Logf("%+v", r)
}
