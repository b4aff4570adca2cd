package e2e

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestRetryAfterRestartNeverAppliesTwice(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.customer("c")
	w := s.wallet("c", a)
	first := s.expect(s.ak("POST", "/transactions", tx("once", op("Issue", "", w, 42))), 201, "")
	s.stop()
	s = startServer(t, s.dir, s)
	d := s.expect(s.ak("POST", "/transactions", tx("once", op("Issue", "", w, 42))), 409, "DuplicateReferenceId")
	if d.body["transaction"].(map[string]any)["id"] != first.str("id") {
		t.Fatalf("retry after restart: %s", d.raw)
	}
	if s.balance(w) != 42 {
		t.Fatalf("balance %d after a retry, want 42", s.balance(w))
	}
	if e := s.expect(s.ak("GET", "/wallets/"+w+"/entries?page=0", nil), 200, ""); e.num("total") != 1 {
		t.Fatalf("entries after retry: %s", e.raw)
	}
}

// TestKill9UnderLoadLosesNothingAcknowledged sends concurrent transfers
// over HTTP, SIGKILLs the server in the middle, restarts it, and checks
// that every answered transaction is stored with the answered outcome and
// that money is conserved.
func TestKill9UnderLoadLosesNothingAcknowledged(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	const wallets, funding = 20, 10_000
	var ws []string
	for i := 0; i < wallets; i++ {
		c := fmt.Sprintf("c%d", i)
		s.customer(c)
		w := s.wallet(c, a)
		s.expect(s.ak("POST", "/transactions", tx("fund"+c, op("Issue", "", w, funding))), 201, "")
		ws = append(ws, w)
	}
	type ack struct{ id, status string }
	var mu sync.Mutex
	acked := map[string]ack{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 99))
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				ref := fmt.Sprintf("g%d-%d", g, k)
				i, j := r.IntN(wallets), r.IntN(wallets-1)
				if j >= i {
					j++
				}
				res, err := postQuiet(s, tx(ref, op("Transfer", ws[i], ws[j], 1+r.IntN(3000))))
				if err != nil {
					return // the server is gone
				}
				if res.status == 201 || res.status == 422 {
					mu.Lock()
					acked[ref] = ack{res.str("id"), res.str("status")}
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	s.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 20 {
		t.Fatalf("only %d acknowledged before the kill: the test proved nothing", len(acked))
	}
	s = startServer(t, s.dir, s)
	for ref, want := range acked {
		d := s.ak("POST", "/transactions", tx(ref, op("Issue", "", ws[0], 1)))
		got, _ := d.body["transaction"].(map[string]any)
		if d.status != 409 || got == nil || got["id"] != want.id || got["status"] != want.status {
			t.Fatalf("acknowledged %s (%s %s) after kill -9: %d %s", ref, want.id, want.status, d.status, d.raw)
		}
	}
	var total int64
	for _, w := range ws {
		b := s.balance(w)
		if b < 0 {
			t.Fatalf("negative balance %d", b)
		}
		total += b
	}
	if total != wallets*funding {
		t.Fatalf("money not conserved: %d, want %d", total, wallets*funding)
	}
	t.Logf("%d transactions acknowledged before kill -9; all present after restart", len(acked))
}

// postQuiet posts a transaction and returns transport errors (the server
// may have been killed) instead of failing the test from a goroutine.
func postQuiet(s *server, body any) (resp, error) {
	return s.callNoFatal("POST", "/transactions", s.accessKey, body)
}

// A full proposal queue sheds load with 429 LIMIT_EXCEEDED and Retry-After,
// and a shed request changes nothing: its referenceId stays free.
func TestOverloadAnswers429AndAppliesNothing(t *testing.T) {
	s := startServer(t, t.TempDir(), nil, "--proposal-queue", "1")
	a := s.asset("USD")
	s.customer("c")
	w := s.wallet("c", a)
	var mu sync.Mutex
	var shed []string
	completed := 0
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 30; k++ {
				ref := fmt.Sprintf("o%d-%d", g, k)
				r, err := postQuiet(s, tx(ref, op("Issue", "", w, 1)))
				if err != nil {
					return
				}
				mu.Lock()
				switch {
				case r.status == 429 && r.code() == "LIMIT_EXCEEDED":
					shed = append(shed, ref)
				case r.status == 201:
					completed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(shed) == 0 {
		t.Skip("the queue never filled on this machine; nothing to check")
	}
	if got := s.balance(w); got != int64(completed) {
		t.Fatalf("balance %d, but %d issues were acknowledged", got, completed)
	}
	// A shed referenceId was never used: it goes through now.
	s.expect(s.ak("POST", "/transactions", tx(shed[0], op("Issue", "", w, 1))), 201, "")
	t.Logf("%d shed with 429, %d completed", len(shed), completed)
}
