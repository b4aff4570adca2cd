package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeLedger answers just enough of the API for a run. extra is added to
// one wallet's balance when it is read back: a ledger that made money.
func fakeLedger(t *testing.T, extra int64, recordedExtra uint64) *httptest.Server {
	var txs atomic.Uint64
	var mu sync.Mutex
	funded := map[string]int64{}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		switch {
		case r.Method == "POST" && r.URL.Path == "/projects":
			fmt.Fprint(w, `{"id":"p1"}`)
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/key-pairs"):
			fmt.Fprint(w, `{"accessKey":"k"}`)
		case r.URL.Path == "/assets":
			fmt.Fprint(w, `{"id":"a1"}`)
		case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/customers/"):
			fmt.Fprint(w, `{}`)
		case r.Method == "POST" && r.URL.Path == "/wallets":
			fmt.Fprintf(w, `{"id":"w-%s"}`, body["customerId"])
		case r.Method == "POST" && r.URL.Path == "/transactions":
			txs.Add(1)
			ops, _ := body["operations"].([]any)
			mu.Lock()
			for _, o := range ops {
				op := o.(map[string]any)
				if op["type"] == "Issue" {
					funded[op["destinationWalletId"].(string)] += int64(op["amount"].(float64))
				}
			}
			mu.Unlock()
			w.WriteHeader(201)
			fmt.Fprint(w, `{"status":"Completed"}`)
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/wallets/"):
			id := strings.TrimPrefix(r.URL.Path, "/wallets/")
			mu.Lock()
			b := funded[id] // transfers moved nothing: balances stay as funded
			mu.Unlock()
			if id == "w-b0" {
				b += extra
			}
			fmt.Fprintf(w, `{"balance":%d}`, b)
		case r.Method == "GET" && r.URL.Path == "/transactions":
			fmt.Fprintf(w, `{"total":%d}`, txs.Load()+recordedExtra)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(404)
		}
	}))
}

func fakeRun(t *testing.T, srv *httptest.Server) (Result, error) {
	cfg := DefaultConfig()
	cfg.Server, cfg.OperatorToken = srv.URL, "op"
	cfg.Wallets, cfg.Concurrency, cfg.SetupConcurrency, cfg.Warmup, cfg.Duration = 30, 4, 4, 0, 300*time.Millisecond
	return Run(cfg)
}

// The check passes on a correct ledger and fails, saying why, on one that
// made money or recorded a transaction nobody was answered.
func TestCheckCatchesABrokenLedger(t *testing.T) {
	srv := fakeLedger(t, 0, 0)
	r, err := fakeRun(t, srv)
	srv.Close()
	if err != nil || !strings.HasPrefix(r.Check, "money conserved") {
		t.Fatalf("correct ledger: %v %q", err, r.Check)
	}

	srv = fakeLedger(t, 1, 0)
	r, err = fakeRun(t, srv)
	srv.Close()
	if err == nil || !strings.Contains(r.Check, "MONEY NOT CONSERVED") {
		t.Fatalf("a ledger that made 1 unit passed: %v %q", err, r.Check)
	}

	srv = fakeLedger(t, 0, 1)
	r, err = fakeRun(t, srv)
	srv.Close()
	if err == nil || !strings.Contains(r.Check, "transactions recorded for") {
		t.Fatalf("a ledger with a transaction too many passed: %v %q", err, r.Check)
	}
}
