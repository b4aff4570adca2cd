package bench

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// The histogram's quantiles agree with exact ones to within 1%.
func TestHistogramQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h hist
	var all []time.Duration
	for i := 0; i < 200_000; i++ {
		d := time.Duration(r.ExpFloat64()*float64(2*time.Millisecond)) + 30*time.Microsecond
		h.record(d)
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.01 || diff < -0.02 {
			t.Errorf("q%.3f: histogram %v, exact %v (%.2f%%)", q, got, exact, diff*100)
		}
	}
	if h.max != all[len(all)-1] || h.quantile(1) != h.max {
		t.Errorf("max %v and quantile(1) %v, want %v", h.max, h.quantile(1), all[len(all)-1])
	}
	for us := uint64(0); us < 1<<20; us += 7 {
		i := histIndex(us)
		if lo := histLow(i); lo > us || (i+1 < len(h.counts) && histLow(i+1) <= us) {
			t.Fatalf("value %d in bucket %d [%d, %d)", us, i, lo, histLow(i+1))
		}
	}
}
