package bench

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram: values in microseconds, each
// power of two split in histSub buckets, so every recorded value is known
// to within 1/histSub (under 1%). Fixed size, no allocation per sample.
type hist struct {
	counts [64 * histSub]uint64
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
)

func histIndex(us uint64) int {
	if us < histSub {
		return int(us)
	}
	e := bits.Len64(us) - histSubBits // ≥ 1
	return e*histSub + int(us>>uint(e-1)) - histSub
}

// histLow is the smallest value of a bucket.
func histLow(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := i / histSub
	sub := uint64(i%histSub) + histSub
	return sub << uint(e-1)
}

func (h *hist) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.counts[histIndex(us)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the value at q (0 < q ≤ 1), to within one bucket.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return h.max // the largest sample is known exactly
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histLow(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}
