package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cw "github.com/cloudwallet/cloudwallet/client"
)

// Result is what a run measured. Latencies are in milliseconds.
type Result struct {
	Workload       string         `json:"workload"`
	Mode           string         `json:"mode"` // closed or open loop
	Concurrency    int            `json:"concurrency"`
	AutoBatchUs    int64          `json:"autoBatchUs,omitempty"` // --auto-batch's window: one transaction per call, batched by the client
	Batch          int            `json:"batch,omitempty"`       // transactions per request (POST /transactions/batch); then Requests counts transactions, RequestsPerSec those recorded (201, 422), and latency is per batch
	RatePerSec     int            `json:"ratePerSec,omitempty"`
	Wallets        int            `json:"wallets"`
	Seconds        float64        `json:"seconds"`
	Requests       uint64         `json:"requests"`
	RequestsPerSec float64        `json:"requestsPerSec"`
	Completed      uint64         `json:"completed"` // 201 (any 2xx against the baseline)
	Failed         uint64         `json:"failed"`    // 422
	Statuses       map[int]uint64 `json:"statuses"`  // every answer by HTTP status
	Errors         uint64         `json:"errors"`    // no answer (connection errors)
	LatencyMs      Latency        `json:"latencyMs"`
	Check          string         `json:"check,omitempty"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// worker is one client's share of a run. Only its goroutine writes it.
type worker struct {
	id       int
	rng      *rand.Rand
	zipf     *rand.Zipf
	seq      int
	body     []byte
	lat      hist
	statuses map[int]uint64
	errors   uint64
	// across warm-up and run: answers that made a record (201, 422) and
	// requests whose outcome is not known (202, 503, no answer)
	recorded, unsure uint64
}

// Run sets up a ledger (unless cfg.Baseline), warms up, measures, and
// checks conservation.
func Run(cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	var l *ledger
	if cfg.Baseline {
		c, err := cw.New(cw.Config{Server: cfg.Server, Token: "baseline", Conns: cfg.Concurrency, Timeout: time.Minute})
		if err != nil {
			return Result{}, err
		}
		l = &ledger{api: c, wallets: make([]string, cfg.Wallets)}
		for i := range l.wallets {
			l.wallets[i] = fmt.Sprintf("w%09d", i)
		}
		l.fee = "wfee"
	} else {
		var err error
		if l, err = setup(&cfg); err != nil {
			return Result{}, err
		}
	}
	defer l.api.Close()
	if l.batched != nil {
		defer l.batched.Close()
	}
	if cfg.AfterSetup != nil {
		cfg.AfterSetup()
	}
	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		workers[i] = &worker{id: i, rng: rng, statuses: map[int]uint64{},
			zipf: rand.NewZipf(rng, cfg.ZipfS, 1, uint64(cfg.Wallets-1))}
	}
	if cfg.Warmup > 0 {
		runPhase(&cfg, l, workers, cfg.Warmup, "warm-up")
		for _, w := range workers { // the warm-up is not measured
			w.lat, w.statuses, w.errors = hist{}, map[int]uint64{}, 0
		}
	}
	took := runPhase(&cfg, l, workers, cfg.Duration, "run")

	res := Result{Workload: cfg.Workload, Mode: "closed", Concurrency: cfg.Concurrency, Batch: cfg.Batch, AutoBatchUs: cfg.AutoBatch.Microseconds(), Wallets: cfg.Wallets,
		Seconds: took.Seconds(), Statuses: map[int]uint64{}}
	if cfg.RatePerSec > 0 {
		res.Mode, res.RatePerSec = "open", cfg.RatePerSec
	}
	var all hist
	for _, w := range workers {
		all.merge(&w.lat)
		res.Errors += w.errors
		for s, n := range w.statuses {
			res.Statuses[s] += n
			res.Requests += n
			switch {
			case s == 201 || (cfg.Baseline && s/100 == 2):
				res.Completed += n
			case s == 422:
				res.Failed += n
			}
		}
	}
	res.RequestsPerSec = float64(res.Requests) / took.Seconds()
	if cfg.Batch > 0 { // transfers that happened: not the items of batches refused whole (429)
		res.RequestsPerSec = float64(res.Completed+res.Failed) / took.Seconds()
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.LatencyMs = Latency{P50: ms(all.quantile(0.5)), P90: ms(all.quantile(0.9)), P99: ms(all.quantile(0.99)),
		P999: ms(all.quantile(0.999)), Max: ms(all.max)}
	if !cfg.Baseline {
		check, err := checkLedger(&cfg, l, workers)
		res.Check = check
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// runPhase drives the server for d and returns how long it took.
func runPhase(cfg *Config, l *ledger, workers []*worker, d time.Duration, phase string) time.Duration {
	var done atomic.Uint64
	var errs atomic.Uint64
	start := time.Now()
	deadline := start.Add(d)
	var last uint64
	lastAt := start
	stop := progressTicker(cfg, func() string {
		now, n := time.Now(), done.Load()
		rate := float64(n-last) / now.Sub(lastAt).Seconds()
		last, lastAt = n, now
		return fmt.Sprintf("%s %5.1fs  %8.0f req/s  %9d done  %d errors", phase, now.Sub(start).Seconds(), rate, n, errs.Load())
	})
	defer stop()

	var tickets chan time.Time
	if cfg.RatePerSec > 0 {
		tickets = make(chan time.Time, max(1024, cfg.RatePerSec))
		go pace(tickets, start, deadline, cfg.RatePerSec)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var intended time.Time
				if tickets != nil {
					t, ok := <-tickets
					if !ok {
						return
					}
					intended = t
				} else if intended = time.Now(); intended.After(deadline) {
					return
				}
				if l.batched != nil {
					w.autoBatched(cfg, l)
					w.lat.record(time.Since(intended))
					done.Add(1)
					continue
				}
				items := max(cfg.Batch, 1)
				path := "/transactions"
				if cfg.Batch > 0 {
					path = "/transactions/batch"
					w.body = append(w.body[:0], `{"transactions":[`...)
					for i := range cfg.Batch {
						if i > 0 {
							w.body = append(w.body, ',')
						}
						w.body = w.transaction(cfg, l, w.body)
					}
					w.body = append(w.body, "]}"...)
				} else {
					w.body = w.transaction(cfg, l, w.body[:0])
				}
				status, answer, err := l.api.Raw(context.Background(), "POST", path, w.body)
				w.lat.record(time.Since(intended))
				if err != nil {
					w.errors++
					w.unsure += uint64(items)
					errs.Add(1)
					if tickets == nil {
						time.Sleep(10 * time.Millisecond) // a dead server must not spin the clients
					}
					continue
				}
				if cfg.Batch > 0 && status == 200 {
					w.countResults(answer)
				} else {
					w.count(status, items)
				}
				done.Add(uint64(items))
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// count records items answered with status (a whole batch refused with
// 429 or 503 counts for each of its transactions).
func (w *worker) count(status, items int) {
	w.statuses[status] += uint64(items)
	switch status {
	case 201, 422:
		w.recorded += uint64(items)
	case 202, 503:
		w.unsure += uint64(items)
	}
}

// countResults counts a batch answer's items by status. Each result opens
// with {"status":NNN (a transaction's own status is a string), so a scan
// finds them without decoding the answer: the load generator shares the
// machine with the server.
func (w *worker) countResults(answer []byte) {
	const mark = `{"status":`
	for i := bytes.Index(answer, []byte(mark)); i >= 0; {
		j := i + len(mark)
		status := 0
		for ; j < len(answer) && answer[j] >= '0' && answer[j] <= '9'; j++ {
			status = status*10 + int(answer[j]-'0')
		}
		if status > 0 {
			w.count(status, 1)
		}
		k := bytes.Index(answer[j:], []byte(mark))
		if k < 0 {
			break
		}
		i = j + k
	}
}

// pace sends each request's intended start time, on schedule, until the
// deadline. When every worker is busy the channel fills and the pacer
// waits, but the times it sends stay on the schedule: the queueing shows in
// the latency.
func pace(tickets chan<- time.Time, start, deadline time.Time, rate int) {
	defer close(tickets)
	interval := time.Second / time.Duration(rate)
	for i := 0; ; i++ {
		t := start.Add(time.Duration(i) * interval)
		if t.After(deadline) {
			return
		}
		if wait := time.Until(t); wait > 0 {
			time.Sleep(wait)
		}
		tickets <- t
	}
}

// transaction appends a fresh transaction's JSON to b.
func (w *worker) transaction(cfg *Config, l *ledger, b []byte) []byte {
	src, dst, amount := w.draw(cfg, l)
	b = append(b, `{"referenceId":"`...)
	b = w.appendRef(b)
	b = append(b, `","operations":[`...)
	b = appendTransfer(b, src, dst, amount)
	if cfg.Workload == "hot" {
		b = append(b, ',')
		b = appendTransfer(b, src, l.fee, 1)
	}
	return append(b, "]}"...)
}

// autoBatched sends the next transaction as one CreateTransaction call of
// the auto-batching client, and counts its answer as its status would be.
func (w *worker) autoBatched(cfg *Config, l *ledger) {
	src, dst, amount := w.draw(cfg, l)
	ops := []cw.Operation{cw.Transfer(src, dst, int64(amount))}
	if cfg.Workload == "hot" {
		ops = append(ops, cw.Transfer(src, l.fee, 1))
	}
	_, err := l.batched.CreateTransaction(context.Background(), w.ref(), ops...)
	var apiErr *cw.APIError
	switch {
	case err == nil:
		w.count(201, 1)
	case errors.As(err, &apiErr):
		w.count(apiErr.HTTPStatus, 1)
	case errors.Is(err, cw.ErrOutcomeUnknown):
		w.count(202, 1)
	default:
		w.errors++
		w.unsure++
	}
}

// ref is the referenceId of the transaction draw just made.
func (w *worker) ref() string { return string(w.appendRef(nil)) }

func (w *worker) appendRef(b []byte) []byte {
	b = append(b, 'r')
	b = strconv.AppendInt(b, int64(w.id), 36)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(w.seq), 36)
}

// draw picks the next transfer: its wallets and amount.
func (w *worker) draw(cfg *Config, l *ledger) (from, to string, amount int) {
	n := len(l.wallets)
	var src, dst int
	if cfg.Workload == "zipf" {
		src = int(w.zipf.Uint64())
		for dst = int(w.zipf.Uint64()); dst == src; dst = int(w.zipf.Uint64()) {
		}
	} else {
		src, dst = w.rng.IntN(n), w.rng.IntN(n-1)
		if dst >= src {
			dst++
		}
	}
	w.seq++
	return l.wallets[src], l.wallets[dst], 1 + w.rng.IntN(cfg.AmountMax)
}

func appendTransfer(b []byte, src, dst string, amount int) []byte {
	b = append(b, `{"type":"Transfer","sourceWalletId":"`...)
	b = append(b, src...)
	b = append(b, `","destinationWalletId":"`...)
	b = append(b, dst...)
	b = append(b, `","amount":`...)
	b = strconv.AppendInt(b, int64(amount), 10)
	return append(b, '}')
}
