package engine

import (
	"bufio"
	"encoding/gob"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/peer"
)

// serveEcho answers each group request on its stream, out of order: after
// Group milliseconds (none at all for a negative Group), with Leader set
// to the request's Group and the process's tag.
func serveEcho(t *testing.T, addr string, secret []byte, tag string) *peer.Mux {
	t.Helper()
	m, err := peer.Listen(addr, "", secret, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	m.Handle(peer.KindGroup, func(conn net.Conn, _ uint16) {
		w := bufio.NewWriter(conn)
		enc, dec := gob.NewEncoder(w), gob.NewDecoder(bufio.NewReader(conn))
		var mu sync.Mutex
		for {
			var req groupRequest
			if dec.Decode(&req) != nil {
				return
			}
			if req.Group < 0 {
				continue // never answered
			}
			go func() {
				time.Sleep(time.Duration(req.Group) * time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				enc.Encode(&groupAnswer{ID: req.ID, Leader: tag + strconv.Itoa(req.Group)})
				w.Flush()
			}()
		}
	})
	return m
}

func streamClient(t *testing.T, secret []byte) *groupStreams {
	t.Helper()
	client, err := peer.Listen("127.0.0.1:0", "", secret, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	s := &groupStreams{mux: client}
	t.Cleanup(func() { s.close(); client.Close() })
	return s
}

// Many calls in flight on one stream, answered out of order, each get
// their own answer; after the holder restarts at the same address, calls
// go on (a new stream); a call the holder never answers ends at its
// deadline, and the next call works on a new stream.
func TestGroupStreamMultiplexesAndRecovers(t *testing.T) {
	secret := []byte("a-cluster-secret-of-enough-length")
	server := serveEcho(t, "127.0.0.1:0", secret, "a")
	addr := server.Addr()
	s := streamClient(t, secret)

	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 400 {
		wg.Go(func() {
			delay := (i * 7) % 20 // later calls often answered first
			ans, err := s.call(addr, groupRequest{Group: delay}, 5*time.Second)
			if err != nil || ans.Leader != "a"+strconv.Itoa(delay) {
				errs <- errors.Join(err, errors.New("got "+ans.Leader+", want a"+strconv.Itoa(delay)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s.mu.Lock()
	streams := len(s.streams)
	s.mu.Unlock()
	if streams != 1 {
		t.Fatalf("%d streams to one holder, want 1", streams)
	}

	server.Close()
	server = serveEcho(t, addr, secret, "b")
	defer server.Close()
	var ans groupAnswer
	var err error
	for range 50 { // the old stream's reader sees the close and drops it
		if ans, err = s.call(addr, groupRequest{Group: 1}, 5*time.Second); err == nil {
			break
		}
		if !errors.Is(err, errNotSent) && !errors.Is(err, errStreamBroken) {
			t.Fatalf("a call after the holder restarted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || ans.Leader != "b1" {
		t.Fatalf("after the holder restarted: %v %+v", err, ans)
	}

	current := func() *groupStream {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.streams[addr]
	}
	// A call that runs out of its own (short) time leaves the stream be:
	// the holder may just be slow for it.
	before := current()
	if _, err := s.call(addr, groupRequest{Group: -1}, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an unanswered call: %v, want its deadline", err)
	}
	if current() != before {
		t.Fatal("a call's own short deadline ended the stream")
	}
	// A stream silent for longer than a holder may take is dead: the call
	// that waited that long ends it, and the next call dials anew.
	defer func(d time.Duration) { streamDeadAfter = d }(streamDeadAfter)
	streamDeadAfter = 100 * time.Millisecond
	if _, err := s.call(addr, groupRequest{Group: -1}, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an unanswered call: %v, want its deadline", err)
	}
	if current() != nil {
		t.Fatal("a silent stream was kept")
	}
	if ans, err := s.call(addr, groupRequest{Group: 2}, 5*time.Second); err != nil || ans.Leader != "b2" || current() == before {
		t.Fatalf("the call after a dead stream: %v %+v", err, ans)
	}
}

// A call in flight when its stream breaks ends with errStreamBroken (it
// left: a write's outcome is unknown), not errNotSent.
func TestGroupStreamBreakFailsCallsInFlight(t *testing.T) {
	secret := []byte("a-cluster-secret-of-enough-length")
	server := serveEcho(t, "127.0.0.1:0", secret, "a")
	addr := server.Addr()
	s := streamClient(t, secret)
	done := make(chan error, 1)
	go func() {
		_, err := s.call(addr, groupRequest{Group: -1}, 10*time.Second)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	server.Close()
	select {
	case err := <-done:
		if !errors.Is(err, errStreamBroken) || errors.Is(err, errNotSent) {
			t.Fatalf("a call in flight on a broken stream: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call in flight did not end when its stream broke")
	}
}

// gatedConn is a connection whose writes wait for gate, even after Close
// (as a write stuck in a full socket buffer does), and whose reads end at
// Close.
type gatedConn struct {
	net.Conn               // nil: only the methods below are used
	writing  chan struct{} // gets a value when a write starts waiting
	gate     chan struct{} // closed to let writes through
	closed   chan struct{}
	once     sync.Once
}

func newGatedConn() *gatedConn {
	return &gatedConn{writing: make(chan struct{}, 1), gate: make(chan struct{}), closed: make(chan struct{})}
}

func (c *gatedConn) Write(p []byte) (int, error) {
	select {
	case c.writing <- struct{}{}:
	default:
	}
	<-c.gate
	return len(p), nil
}
func (c *gatedConn) Read([]byte) (int, error)         { <-c.closed; return 0, net.ErrClosed }
func (c *gatedConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *gatedConn) SetWriteDeadline(time.Time) error { return nil }

// A call queued behind a write that is stuck, on a stream that breaks
// before the writer reaches it, never left: it ends with errNotSent (so a
// write can safely go elsewhere), while the call being written ends with
// errStreamBroken. The writer, once unstuck, passes over the ended call
// without touching it (under -race, marking it afterwards was a data race
// with its caller, which reads the mark without the stream's lock).
func TestGroupStreamCallEndedBeforeItsWriteIsNotSent(t *testing.T) {
	conn := newGatedConn()
	st := &groupStream{conn: conn, queue: make(chan *streamCall, streamInFlightMax+1),
		slots: make(chan struct{}, streamInFlightMax), calls: map[uint64]*streamCall{}}
	s := &groupStreams{streams: map[string]*groupStream{"holder": st}}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		st.write(func(err error) { s.drop("holder", st, err) })
	}()

	first, second := make(chan error, 1), make(chan error, 1)
	go func() { // larger than the writer's buffer: its encoding waits in Write
		_, err := s.call("holder", groupRequest{Group: 1, Propose: make([]byte, 64<<10)}, 10*time.Second)
		first <- err
	}()
	<-conn.writing
	go func() {
		_, err := s.call("holder", groupRequest{Group: 2}, 10*time.Second)
		second <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); len(st.queue) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second call was never queued")
		}
	}
	s.drop("holder", st, errors.New("cut"))
	close(conn.gate) // the writer goes on while the second call's caller looks at its end
	if err := <-second; !errors.Is(err, errNotSent) {
		t.Fatalf("a call the writer never reached: %v, want errNotSent", err)
	}
	if err := <-first; !errors.Is(err, errStreamBroken) || errors.Is(err, errNotSent) {
		t.Fatalf("the call being written when the stream broke: %v, want errStreamBroken", err)
	}
	<-writerDone
}
