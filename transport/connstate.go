package transport

import (
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// connStates counts HTTP connections by state, from fasthttp's ConnState
// hook: new (accepted, nothing read), active (a request is being read or
// served), idle (kept alive between requests). An operator sees how many
// clients are connected and how many are mid-request; a test sees when a
// request is in flight.
type connStates struct {
	mu      sync.Mutex // guards state
	state   map[net.Conn]fasthttp.ConnState
	gauge   *prometheus.GaugeVec
	counted map[fasthttp.ConnState]prometheus.Gauge // the gauge's children, looked up once
}

func newConnStates(reg *prometheus.Registry) (*connStates, error) {
	c := &connStates{
		state: map[net.Conn]fasthttp.ConnState{},
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cloudwallet_http_connections",
			Help: "Open HTTP connections by state: new (nothing read yet), active (a request is being read or served), idle (kept alive).",
		}, []string{"state"}),
	}
	c.counted = map[fasthttp.ConnState]prometheus.Gauge{}
	for _, s := range []fasthttp.ConnState{fasthttp.StateNew, fasthttp.StateActive, fasthttp.StateIdle} {
		c.counted[s] = c.gauge.WithLabelValues(s.String()) // present at 0 from the start
	}
	if reg != nil {
		if err := reg.Register(c.gauge); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// change is the ConnState hook: it moves the connection from its old state
// to the new one (closed and hijacked connections leave the count).
func (c *connStates) change(conn net.Conn, to fasthttp.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from, ok := c.state[conn]; ok {
		c.counted[from].Dec()
	}
	if g, counted := c.counted[to]; counted {
		c.state[conn] = to
		g.Inc()
	} else { // closed or hijacked
		delete(c.state, conn)
	}
}
