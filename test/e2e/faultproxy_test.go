package e2e

import (
	"io"
	"net"
	"sync"
	"testing"
)

// faultProxy stands in front of a node's internal port and can cut it off
// from chosen peers. Peers are told apart by source IP: each node dials
// from its own loopback address (127.0.0.1, .2, .3). Blocking a peer closes
// its open connections and refuses new ones, in both directions of the
// link as far as this node's port is concerned; isolating a node takes the
// proxies of both ends.
type faultProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	blocked map[string]bool
	conns   map[net.Conn]string // accepted connection → peer IP
	wg      sync.WaitGroup
}

func newFaultProxy(t *testing.T, listen, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, blocked: map[string]bool{}, conns: map[net.Conn]string{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		ip := c.RemoteAddr().(*net.TCPAddr).IP.String()
		p.mu.Lock()
		if p.blocked[ip] {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = ip
		p.mu.Unlock()
		p.wg.Add(1)
		go p.pipe(c)
	}
}

func (p *faultProxy) pipe(c net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done // either side closing ends both
}

// block cuts the given peer IPs off this port.
func (p *faultProxy) block(ips ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ip := range ips {
		p.blocked[ip] = true
	}
	for c, ip := range p.conns {
		if p.blocked[ip] {
			c.Close()
		}
	}
}

// heal lets every peer in again.
func (p *faultProxy) heal() {
	p.mu.Lock()
	p.blocked = map[string]bool{}
	p.mu.Unlock()
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
