package peer

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Kind is what a connection carries after its handshake.
type Kind byte

// Connection kinds.
const (
	KindRaft    Kind = 1 // hashicorp/raft's NetworkTransport of one group
	KindForward Kind = 2 // batches of commands for the group leader
	KindCall    Kind = 3 // cluster calls: one request, one answer per frame
	KindGroup   Kind = 4 // reads and writes of a group held elsewhere: one stream, many calls in flight (engine/groupstream.go)
)

// Limits of the port.
const (
	handshakeTimeout = 5 * time.Second
	// handshakesMax bounds connections that have not yet proved the secret,
	// so a flood of idle connections cannot pin memory or goroutines.
	handshakesMax = 64
	// SecretBytesMin is the least secret length accepted.
	SecretBytesMin = 16
)

var (
	// ErrBadSecret: the other end does not know the cluster secret.
	ErrBadSecret = errors.New("peer: the other node does not know this cluster secret")
	// ErrClosed: the port is closed.
	ErrClosed  = errors.New("peer: port closed")
	errRefused = errors.New("peer: the other node serves no such connection kind or group")
)

var magic = [4]byte{'C', 'W', 'P', '1'}

// Handler serves one authenticated connection of a kind; it owns conn.
type Handler func(conn net.Conn, group uint16)

// Mux is the internal port of one node.
type Mux struct {
	ln        net.Listener // set by Listen, read-only after
	secret    []byte       // set by Listen, read-only after
	advertise string       // set by Listen, read-only after
	dialer    net.Dialer   // set by Listen, read-only after
	log       *slog.Logger // set by Listen, read-only after

	mu       sync.Mutex // guards streams, handlers and conns
	streams  map[uint16]*Stream
	handlers map[Kind]Handler
	conns    map[net.Conn]struct{} // served connections, closed by Close
	closed   chan struct{}         // closed once, by Close
	wg       sync.WaitGroup        // the accept loop and the connections being served
	slots    chan struct{}         // bounds handshakes in progress
}

// Listen opens the internal port on addr. advertise is the address other
// nodes dial (empty: the listener's own). Outgoing connections leave from
// the listen address's IP when it names one, so nodes on 127.0.0.1,
// 127.0.0.2, ... are told apart by their source address.
func Listen(addr, advertise string, secret []byte, log *slog.Logger) (*Mux, error) {
	if len(secret) < SecretBytesMin {
		return nil, fmt.Errorf("peer: the cluster secret must be at least %d bytes", SecretBytesMin)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	if host, _, err := net.SplitHostPort(advertise); err != nil || host == "" || net.ParseIP(host).IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("peer: advertise address %q must name a host other nodes can reach", advertise)
	}
	m := &Mux{
		ln: ln, secret: secret, advertise: advertise, log: log,
		streams: map[uint16]*Stream{}, handlers: map[Kind]Handler{},
		conns: map[net.Conn]struct{}{}, closed: make(chan struct{}),
		slots: make(chan struct{}, handshakesMax),
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsUnspecified() {
		m.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr is the address other nodes dial.
func (m *Mux) Addr() string { return m.advertise }

// Handle registers the handler of a kind (not KindRaft).
func (m *Mux) Handle(k Kind, h Handler) {
	m.mu.Lock()
	m.handlers[k] = h
	m.mu.Unlock()
}

// Stream returns the raft.StreamLayer of a group, creating it on first use.
func (m *Mux) Stream(group uint16) *Stream {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[group]
	if s == nil {
		s = &Stream{mux: m, group: group, accept: make(chan net.Conn), done: make(chan struct{})}
		m.streams[group] = s
	}
	return s
}

// Close stops accepting, closes every served connection and waits for the
// accept loop and handshakes to end.
func (m *Mux) Close() error {
	m.mu.Lock()
	select {
	case <-m.closed:
		m.mu.Unlock()
		return nil
	default:
	}
	close(m.closed)
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	err := m.ln.Close()
	m.wg.Wait()
	return err
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.log.Error("internal port: accept failed", "err", err)
			time.Sleep(50 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		select {
		case m.slots <- struct{}{}:
		default:
			conn.Close() // too many connections still in their handshake
			continue
		}
		m.wg.Add(1)
		go m.serve(conn)
	}
}

func (m *Mux) serve(conn net.Conn) {
	defer m.wg.Done()
	kind, group, err := m.accept(conn)
	<-m.slots
	if err != nil {
		m.log.Warn("internal port: connection refused", "remote", conn.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	if kind == KindRaft {
		m.mu.Lock()
		s := m.streams[group]
		m.mu.Unlock()
		if s == nil { // a group this node does not hold (yet, or any more)
			conn.Close()
			return
		}
		select {
		case s.accept <- conn: // raft owns it now
		case <-s.done:
			conn.Close()
		case <-m.closed:
			conn.Close()
		}
		return
	}
	if !m.track(conn, true) {
		return
	}
	defer m.track(conn, false)
	m.mu.Lock()
	h := m.handlers[kind]
	m.mu.Unlock()
	h(conn, group)
}

// track adds or removes a served connection; adding fails once closed.
func (m *Mux) track(conn net.Conn, add bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !add {
		delete(m.conns, conn)
		conn.Close()
		return true
	}
	select {
	case <-m.closed:
		conn.Close()
		return false
	default:
		m.conns[conn] = struct{}{}
		return true
	}
}

// hello is the client's first message: magic, kind, group, nonce.
type hello [4 + 1 + 2 + 16]byte

func (m *Mux) proof(side string, h *hello, serverNonce []byte) []byte {
	mac := hmac.New(sha256.New, m.secret)
	mac.Write([]byte(side))
	mac.Write(h[:])
	mac.Write(serverNonce)
	return mac.Sum(nil)
}

// accept runs the server side of the handshake.
func (m *Mux) accept(conn net.Conn) (Kind, uint16, error) {
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	var h hello
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		return 0, 0, err
	}
	if [4]byte(h[:4]) != magic {
		return 0, 0, errors.New("not a cloudwallet peer (bad magic)")
	}
	kind, group := Kind(h[4]), binary.BigEndian.Uint16(h[5:7])
	nonce := make([]byte, 16)
	rand.Read(nonce)
	if _, err := conn.Write(nonce); err != nil {
		return 0, 0, err
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(conn, got); err != nil {
		return 0, 0, err
	}
	if !hmac.Equal(got, m.proof("client", &h, nonce)) {
		conn.Write([]byte{1})
		return 0, 0, ErrBadSecret
	}
	m.mu.Lock()
	_, served := m.handlers[kind]
	if kind == KindRaft {
		_, served = m.streams[group]
	}
	m.mu.Unlock()
	if !served {
		conn.Write([]byte{2})
		return 0, 0, fmt.Errorf("kind %d group %d: %w", kind, group, errRefused)
	}
	_, err := conn.Write(append([]byte{0}, m.proof("server", &h, nonce)...))
	return kind, group, err
}

// Dial opens an authenticated connection of a kind to another node's port.
func (m *Mux) Dial(addr string, kind Kind, group uint16, timeout time.Duration) (net.Conn, error) {
	select {
	case <-m.closed:
		return nil, ErrClosed
	default:
	}
	d := m.dialer
	d.Timeout = timeout
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := m.handshake(conn, kind, group, timeout); err != nil {
		conn.Close()
		return nil, fmt.Errorf("peer %s: %w", addr, err)
	}
	return conn, nil
}

func (m *Mux) handshake(conn net.Conn, kind Kind, group uint16, timeout time.Duration) error {
	conn.SetDeadline(time.Now().Add(max(timeout, handshakeTimeout)))
	defer conn.SetDeadline(time.Time{})
	var h hello
	copy(h[:], magic[:])
	h[4] = byte(kind)
	binary.BigEndian.PutUint16(h[5:7], group)
	rand.Read(h[7:])
	if _, err := conn.Write(h[:]); err != nil {
		return err
	}
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(conn, nonce); err != nil {
		return err
	}
	if _, err := conn.Write(m.proof("client", &h, nonce)); err != nil {
		return err
	}
	var status [1]byte
	if _, err := io.ReadFull(conn, status[:]); err != nil {
		return err
	}
	switch status[0] {
	case 0:
	case 1:
		return ErrBadSecret
	default:
		return errRefused
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(conn, got); err != nil {
		return err
	}
	if !hmac.Equal(got, m.proof("server", &h, nonce)) {
		return ErrBadSecret
	}
	return nil
}

// Stream is the raft.StreamLayer of one group on the port.
type Stream struct {
	mux    *Mux          // set when made, read-only after
	group  uint16        // set when made, read-only after
	accept chan net.Conn // the mux's serving goroutines send, Raft's Accept receives
	once   sync.Once
	done   chan struct{} // closed once, by Close
}

var _ raft.StreamLayer = (*Stream)(nil)

// Accept returns the next authenticated Raft connection of the group.
func (s *Stream) Accept() (net.Conn, error) {
	select {
	case c := <-s.accept:
		return c, nil
	case <-s.done:
		return nil, ErrClosed
	case <-s.mux.closed:
		return nil, ErrClosed
	}
}

// Close stops the group's Accept (the port stays open). The group's
// connections are refused from then on, until Stream is called for it
// again (the node holds the group again).
func (s *Stream) Close() error {
	s.once.Do(func() { close(s.done) })
	s.mux.mu.Lock()
	if s.mux.streams[s.group] == s {
		delete(s.mux.streams, s.group)
	}
	s.mux.mu.Unlock()
	return nil
}

// Addr is the advertised address of the port.
func (s *Stream) Addr() net.Addr { return advertised(s.mux.advertise) }

// Dial opens a Raft connection of the group to another node.
func (s *Stream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.mux.Dial(string(address), KindRaft, s.group, timeout)
}

type advertised string

func (a advertised) Network() string { return "tcp" }
func (a advertised) String() string  { return string(a) }

// FrameBytesMax bounds one frame on forward and call connections.
const FrameBytesMax = 16 << 20

// WriteFrame writes one length-prefixed frame.
func WriteFrame(w *bufio.Writer, payload []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(payload)))
	w.Write(n[:])
	w.Write(payload)
	return w.Flush()
}

// ReadFrame reads one frame into buf's storage (grown as needed).
func ReadFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > FrameBytesMax {
		return nil, fmt.Errorf("peer: frame of %d bytes exceeds %d", size, FrameBytesMax)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	_, err := io.ReadFull(r, buf)
	return buf, err
}
