package transport

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
)

// The gauge follows each connection through its states, and a closed
// connection leaves every count, whatever state it closed from.
func TestConnStatesCountEachConnectionOnce(t *testing.T) {
	c, err := newConnStates(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a, b := &net.TCPConn{}, &net.TCPConn{}
	want := func(step string, n, act, idle int) {
		t.Helper()
		exposition := fmt.Sprintf(`
# HELP cloudwallet_http_connections Open HTTP connections by state: new (nothing read yet), active (a request is being read or served), idle (kept alive).
# TYPE cloudwallet_http_connections gauge
cloudwallet_http_connections{state="active"} %d
cloudwallet_http_connections{state="idle"} %d
cloudwallet_http_connections{state="new"} %d
`, act, idle, n)
		if err := testutil.CollectAndCompare(c, strings.NewReader(exposition)); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	c.change(a, fasthttp.StateNew)
	c.change(b, fasthttp.StateNew)
	want("two accepted", 2, 0, 0)
	c.change(a, fasthttp.StateActive)
	want("a reads a request", 1, 1, 0)
	c.change(a, fasthttp.StateIdle)
	c.change(b, fasthttp.StateActive)
	want("a kept alive, b active", 0, 1, 1)
	c.change(b, fasthttp.StateClosed) // closed mid-request
	c.change(a, fasthttp.StateClosed) // closed while idle
	want("both closed", 0, 0, 0)
	c.change(a, fasthttp.StateClosed) // a second close changes nothing
	want("closed twice", 0, 0, 0)
}

// The hook runs twice per keep-alive request (to active, back to idle).
func BenchmarkConnStateChange(b *testing.B) {
	c, err := newConnStates(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		conn := &net.TCPConn{}
		c.change(conn, fasthttp.StateNew)
		for pb.Next() {
			c.change(conn, fasthttp.StateActive)
			c.change(conn, fasthttp.StateIdle)
		}
		c.change(conn, fasthttp.StateClosed)
	})
}
