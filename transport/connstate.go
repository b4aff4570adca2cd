package transport

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// connStates counts HTTP connections by state, from fasthttp's ConnState
// hook: new (accepted, nothing read), active (a request is being read or
// served), idle (kept alive between requests). An operator sees how many
// clients are connected and how many are mid-request; a test sees when a
// request is in flight.
//
// The hook runs twice per keep-alive request, on every connection's
// goroutine, so it touches nothing shared there: a connection's state is
// an atomic of its own, stored once when the connection is accepted and
// removed when it closes (sync.Map is built for keys written once and read
// many times). The counts are made when /metrics is scraped.
type connStates struct {
	state sync.Map // net.Conn → *atomic.Int32 holding its fasthttp.ConnState
}

// connStatesCounted are the states the gauge shows, and their labels.
var connStatesCounted = []fasthttp.ConnState{fasthttp.StateNew, fasthttp.StateActive, fasthttp.StateIdle}

var connStatesDesc = prometheus.NewDesc("cloudwallet_http_connections",
	"Open HTTP connections by state: new (nothing read yet), active (a request is being read or served), idle (kept alive).",
	[]string{"state"}, nil)

func newConnStates(reg *prometheus.Registry) (*connStates, error) {
	c := &connStates{}
	if reg != nil {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// change is the ConnState hook: it records the connection's new state;
// closed and hijacked connections are forgotten. fasthttp calls it for
// one connection from one goroutine at a time.
func (c *connStates) change(conn net.Conn, to fasthttp.ConnState) {
	if to == fasthttp.StateClosed || to == fasthttp.StateHijacked {
		c.state.Delete(conn)
		return
	}
	if v, known := c.state.Load(conn); known {
		v.(*atomic.Int32).Store(int32(to))
		return
	}
	st := new(atomic.Int32)
	st.Store(int32(to))
	c.state.Store(conn, st)
}

// counts counts the open connections by state.
func (c *connStates) counts() map[fasthttp.ConnState]int {
	n := make(map[fasthttp.ConnState]int, len(connStatesCounted))
	c.state.Range(func(_, v any) bool {
		n[fasthttp.ConnState(v.(*atomic.Int32).Load())]++
		return true
	})
	return n
}

// Describe and Collect make connStates a prometheus.Collector.
func (c *connStates) Describe(ch chan<- *prometheus.Desc) { ch <- connStatesDesc }

func (c *connStates) Collect(ch chan<- prometheus.Metric) {
	n := c.counts()
	for _, st := range connStatesCounted {
		ch <- prometheus.MustNewConstMetric(connStatesDesc, prometheus.GaugeValue, float64(n[st]), st.String())
	}
}
