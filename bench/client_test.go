package bench

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Setup calls ride out an election: a 503 (or 429) is tried again until
// the server answers, and a 409 on a retry counts as done (the first try
// applied); other failures are reported at once.
func TestSetupCallsRetryWhatTheServerSaysToRetry(t *testing.T) {
	var calls atomic.Int32
	answers := []int{503, 429, 201}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		status := answers[min(i, len(answers)-1)]
		w.WriteHeader(status)
		w.Write([]byte(`{"id":"x"}`))
	}))
	defer srv.Close()
	c, err := newClient(srv.URL, "t", 4)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ ID string }
	if err := c.json("POST", "/customers", map[string]string{"id": "c"}, &out); err != nil || out.ID != "x" || calls.Load() != 3 {
		t.Fatalf("503, 429, then 201: %v, %+v after %d calls", err, out, calls.Load())
	}
	calls.Store(0)
	answers = []int{503, 409}
	if err := c.json("POST", "/transactions", map[string]string{}, nil); err != nil || calls.Load() != 2 {
		t.Fatalf("503 then 409: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	answers = []int{409}
	if err := c.json("POST", "/transactions", map[string]string{}, nil); err == nil || calls.Load() != 1 {
		t.Fatalf("a first 409 must be an error: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	answers = []int{400}
	if err := c.json("POST", "/assets", map[string]string{}, nil); err == nil || calls.Load() != 1 {
		t.Fatalf("a 400 must fail at once: %v after %d calls", err, calls.Load())
	}
}
