package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
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
func TestKill9UnderLoadLosesNothingAcknowledged(t *testing.T) { kill9UnderLoad(t) }

// The same on a node of two shard groups: most transfers run across both
// (two-phase commit), and the kill leaves some half done; a retry of each
// unanswered one finishes it.
func TestShardGroupsKill9UnderLoadLosesNothingAcknowledged(t *testing.T) {
	kill9UnderLoad(t, "--groups", "2", "--shards", "2")
}

func kill9UnderLoad(t *testing.T, extra ...string) {
	s := startServer(t, t.TempDir(), nil, extra...)
	l := startLoad(t, s)
	time.Sleep(700 * time.Millisecond)
	s.kill()
	l.wait(t)
	s = startServer(t, s.dir, s, extra...)
	l.verify(t, s)
	t.Logf("%d transactions acknowledged before kill -9, %d unclear (retried); all present after restart", len(l.acked)-len(l.unclear), len(l.unclear))
}

// TestSIGTERMUnderLoadLosesNothingAcknowledged: a graceful stop in the
// middle of a load exits 0, in order, and loses no answered transaction.
func TestSIGTERMUnderLoadLosesNothingAcknowledged(t *testing.T) {
	s := newServer(t)
	l := startLoad(t, s)
	time.Sleep(700 * time.Millisecond)
	s.stop() // fails the test unless the exit is clean
	l.wait(t)
	log := s.log()
	order := []string{`"msg":"shutting down"`, `"msg":"http stopped"`, `"msg":"stopped"`}
	at := 0
	for _, line := range order {
		i := strings.Index(log[at:], line)
		if i < 0 {
			t.Fatalf("shutdown log lacks %s after position %d:\n%s", line, at, log)
		}
		at += i
	}
	s = startServer(t, s.dir, s)
	l.verify(t, s)
	t.Logf("%d transactions acknowledged before SIGTERM; all present after restart", len(l.acked))
}

// load runs 16 clients of random transfers, issues and redeems between
// funded wallets until the server goes away, remembering every answered
// outcome and the body of every request without a definite answer.
// Issues and redeems change the total, so a transfer applied twice cannot
// hide behind conservation: verify replays every balance from the records.
type load struct {
	name     string // prefix of its referenceIds, customers and asset code
	ws       []string
	funding  int64
	mu       sync.Mutex                // guards the fields below
	acked    map[string]ack            // referenceId → the answered id and status
	unclear  map[string]map[string]any // sent, no definite answer: the body
	problems []string                  // what a client saw that must never happen
	stop     chan struct{}
	wg       sync.WaitGroup
}

type ack struct{ id, status string }

func startLoad(t *testing.T, s *server) *load { return startNamedLoad(t, s, "L") }

// startNamedLoad starts a load whose referenceIds, customers and asset
// code start with name, so that several loads can run on one server, one
// after another, and each be verified on its own.
func startNamedLoad(t *testing.T, s *server, name string) *load {
	a := s.asset(name + "USD")
	l := &load{name: name, funding: 10_000, acked: map[string]ack{}, unclear: map[string]map[string]any{}, stop: make(chan struct{})}
	const wallets = 20
	for i := 0; i < wallets; i++ {
		c := fmt.Sprintf("%sc%d", name, i)
		s.customer(c)
		w := s.wallet(c, a)
		s.expect(s.ak("POST", "/transactions", tx(name+"fund"+c, op("Issue", "", w, l.funding))), 201, "")
		l.ws = append(l.ws, w)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("load seed %d", seed)
	for g := 0; g < 16; g++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(g)))
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				default:
				}
				ref := fmt.Sprintf("%sg%d-%d", name, g, k)
				body := randomOperation(r, ref, l.ws)
				res, err := postQuiet(s, body)
				l.mu.Lock()
				switch {
				case err == nil && (res.status == 201 || res.status == 422):
					l.acked[ref] = ack{res.str("id"), res.str("status")}
				case err == nil && res.status == 409: // sent once: never seen before
					l.problems = append(l.problems, fmt.Sprintf("%s: a new referenceId answered 409: %s", ref, res.raw))
				default:
					l.unclear[ref] = body
				}
				l.mu.Unlock()
				if err != nil {
					return // the server is gone
				}
			}
		}()
	}
	return l
}

// wait stops the clients once the server is gone.
func (l *load) wait(t *testing.T) {
	close(l.stop)
	l.wg.Wait()
	if len(l.problems) > 0 {
		t.Fatalf("%d problems; first: %s", len(l.problems), l.problems[0])
	}
	if len(l.acked) < 20 {
		t.Fatalf("only %d acknowledged before the stop: the test proved nothing", len(l.acked))
	}
}

// verify checks the restarted server:
//   - every request without a definite answer, retried as a client would,
//     gets one (its first definite answer counts as its answer);
//   - the server holds exactly the answered transactions (and the
//     funding): none lost, none stored that nobody was answered for;
//   - a retry of each answers 409 with the answered id and status;
//   - every balance equals a replay of the Completed records, none is
//     negative (a transaction applied twice or in part would show here).
func (l *load) verify(t *testing.T, s *server) {
	t.Helper()
	for ref, body := range l.unclear {
		for attempt := 0; ; attempt++ {
			d := s.ak("POST", "/transactions", body)
			if d.status == 201 || d.status == 422 || d.status == 409 {
				got := d.body
				if d.status == 409 {
					got, _ = d.body["transaction"].(map[string]any)
				}
				id, _ := got["id"].(string)
				status, _ := got["status"].(string)
				l.acked[ref] = ack{id, status}
				break
			}
			if attempt == 100 {
				t.Fatalf("%s: no definite answer after restart: %d %s", ref, d.status, d.raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	held, _ := transactions(t, s)
	for ref := range held {
		if !strings.HasPrefix(ref, l.name) {
			delete(held, ref) // another load's
		}
	}
	for ref, want := range l.acked {
		if got, ok := held[ref]; !ok || got != want {
			t.Fatalf("answered %s %+v, stored %+v (present: %v)", ref, want, got, ok)
		}
		d := s.ak("POST", "/transactions", tx(ref, op("Issue", "", l.ws[0], 1)))
		got, _ := d.body["transaction"].(map[string]any)
		if d.status != 409 || got == nil || got["id"] != want.id || got["status"] != want.status {
			t.Fatalf("a retry of %s (%s %s): %d %s", ref, want.id, want.status, d.status, d.raw)
		}
	}
	if extra := len(held) - len(l.acked) - len(l.ws); extra != 0 {
		t.Fatalf("the server holds %d transactions nobody was answered for", extra)
	}
	replayed := replayBalances(t, s)
	for _, w := range l.ws {
		b := s.balance(w)
		if b < 0 || b != replayed[w] {
			t.Fatalf("wallet %s has %d; its Completed records add up to %d", w, b, replayed[w])
		}
	}
}

// replayBalances adds up every Completed transaction's operations, wallet
// by wallet, from the server's own records. Every record must be final
// (Completed or Failed): it is called once every answer is in.
func replayBalances(t *testing.T, s *server) map[string]int64 {
	t.Helper()
	bal := map[string]int64{}
	for page := 0; ; page++ {
		r := s.expect(s.ak("GET", fmt.Sprintf("/transactions?page=%d&pageSize=1000", page), nil), 200, "")
		items, _ := r.body["items"].([]any)
		if len(items) == 0 {
			return bal
		}
		for _, v := range items {
			rec := v.(map[string]any)
			switch rec["status"] {
			case "Completed":
			case "Failed":
				continue
			default:
				t.Fatalf("%s is %s after every answer is in", rec["referenceId"], rec["status"])
			}
			for _, o := range rec["operations"].([]any) {
				o := o.(map[string]any)
				amount := int64(o["amount"].(float64))
				if src, ok := o["sourceWalletId"].(string); ok {
					bal[src] -= amount
				}
				if dst, ok := o["destinationWalletId"].(string); ok {
					bal[dst] += amount
				}
			}
		}
	}
}

// randomOperation is mostly a transfer; one in five is an issue or a
// redeem (which fails when the wallet has too little: a 422 to account
// for too).
func randomOperation(r *rand.Rand, ref string, ws []string) map[string]any {
	switch r.IntN(10) {
	case 0:
		return tx(ref, op("Issue", "", ws[r.IntN(len(ws))], 1+r.IntN(500)))
	case 1:
		return tx(ref, op("Redeem", ws[r.IntN(len(ws))], "", 1+r.IntN(2000)))
	}
	return randomTransfer(r, ref, ws)
}

// randomTransfer moves 1..3000 between two different random wallets.
func randomTransfer(r *rand.Rand, ref string, ws []string) map[string]any {
	i, j := r.IntN(len(ws)), r.IntN(len(ws)-1)
	if j >= i {
		j++
	}
	return tx(ref, op("Transfer", ws[i], ws[j], 1+r.IntN(3000)))
}

// postQuiet posts a transaction and returns transport errors (the server
// may have been killed) instead of failing the test from a goroutine.
func postQuiet(s *server, body any) (resp, error) {
	return s.callNoFatal("POST", "/transactions", s.accessKey, body)
}

// A full proposal queue sheds load with 429 LIMIT_EXCEEDED and Retry-After,
// and a shed request changes nothing: its referenceId stays free. With a
// queue of one write (and at most EntriesInFlightMax entries being
// written), 64 clients sending at once always overflow it.
func TestOverloadAnswers429AndAppliesNothing(t *testing.T) {
	s := startServer(t, t.TempDir(), nil, "--proposal-queue", "1")
	a := s.asset("USD")
	s.customer("c")
	w := s.wallet("c", a)
	var mu sync.Mutex // guards shed, completed, problems
	var shed, problems []string
	completed := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for k := 0; k < 30; k++ {
				ref := fmt.Sprintf("o%d-%d", g, k)
				r, err := postQuiet(s, tx(ref, op("Issue", "", w, 1)))
				mu.Lock()
				switch {
				case err != nil:
					problems = append(problems, err.Error())
				case r.status == 429 && r.code() == "LIMIT_EXCEEDED" && r.header.Get("Retry-After") != "":
					shed = append(shed, ref)
				case r.status == 201:
					completed++
				default:
					problems = append(problems, fmt.Sprintf("%s: %d %s (Retry-After %q)", ref, r.status, r.raw, r.header.Get("Retry-After")))
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("%d answers neither 201 nor 429 with Retry-After; first: %s", len(problems), problems[0])
	}
	if len(shed) == 0 || completed == 0 {
		t.Fatalf("%d shed, %d completed: a queue of one under 64 clients must do both", len(shed), completed)
	}
	if got := s.balance(w); got != int64(completed) {
		t.Fatalf("balance %d, but %d issues were acknowledged", got, completed)
	}
	// Every shed referenceId was never used: each goes through now.
	for _, ref := range shed {
		s.expect(s.ak("POST", "/transactions", tx(ref, op("Issue", "", w, 1))), 201, "")
	}
	if got := s.balance(w); got != int64(completed+len(shed)) {
		t.Fatalf("balance %d after retrying the shed, want %d", got, completed+len(shed))
	}
	t.Logf("%d shed with 429, %d completed", len(shed), completed)
}
