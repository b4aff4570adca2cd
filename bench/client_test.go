package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	cw "github.com/cloudwallet/cloudwallet/client"
)

// Setup calls ride out an election: a 503 (or 429) is tried again until
// the server answers; other failures are reported at once.
func TestSetupCallsRetryWhatTheServerSaysToRetry(t *testing.T) {
	var calls atomic.Int32
	answers := []int{503, 429, 201}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		status := answers[min(i, len(answers)-1)]
		w.WriteHeader(status)
		if status == 201 {
			w.Write([]byte(`{"id":"x"}`))
			return
		}
		w.Write([]byte(`{"status":"` + map[int]string{503: cw.CodeUnavailable, 429: cw.CodeLimitExceeded, 400: cw.CodeValidation}[status] + `","message":"m"}`))
	}))
	defer srv.Close()
	c, err := cw.New(cw.Config{Server: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var a cw.Asset
	if err := ride(func() (err error) { a, err = c.CreateAsset(context.Background(), "n", "C", 1); return }); err != nil || a.ID != "x" || calls.Load() != 3 {
		t.Fatalf("503, 429, then 201: %v, %+v after %d calls", err, a, calls.Load())
	}
	calls.Store(0)
	answers = []int{400}
	if err := ride(func() (err error) { _, err = c.CreateAsset(context.Background(), "n", "C", 1); return }); !cw.IsCode(err, cw.CodeValidation) || calls.Load() != 1 {
		t.Fatalf("a 400 must fail at once: %v after %d calls", err, calls.Load())
	}
}
