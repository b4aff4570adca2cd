package engine

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwallet/cloudwallet/peer"
)

// Reads and writes of groups held elsewhere travel on one multiplexed
// stream per holder (a KindGroup connection): many calls in flight at once,
// each request and answer carrying the call's id. Each side has one writer
// goroutine that encodes whatever is queued and flushes once the queue is
// empty, so concurrent calls share write syscalls and wake-ups instead of
// paying a round trip each on a pooled connection of their own (which cost
// a third of a node's CPU in a six-node cluster). The holder answers each
// request on its own goroutine as it completes, so a slow write does not
// hold back a read behind it.

// streamInFlightMax bounds the calls in flight on one stream, both ways:
// a caller beyond it waits for room; a holder reads no further request
// until an answer leaves.
const streamInFlightMax = 4096

// streamDeadAfter is how long a stream may stay silent while a call waits
// before that call's timeout ends the stream (a var: tests shorten it).
var streamDeadAfter = callTimeout

// errStreamBroken: the stream a call was sent on broke before its answer.
var errStreamBroken = errors.New("engine: group stream broke")

// groupStreams keeps one stream per holder address.
type groupStreams struct {
	mux *peer.Mux // set at start, read-only after

	mu      sync.Mutex // guards following
	streams map[string]*groupStream
	dialing map[string]chan struct{} // closed when the dial to that address ends
	closed  bool
}

// groupStream is one multiplexed connection to a holder. The writer
// goroutine owns enc; the reader goroutine owns dec.
type groupStream struct {
	conn  net.Conn
	queue chan *streamCall // to the writer; one more than slots, for the reader's wake-up
	slots chan struct{}    // one per call in flight
	heard atomic.Int64     // when the last answer came (Unix ns), set by the reader

	mu     sync.Mutex // guards following
	calls  map[uint64]*streamCall
	next   uint64
	broken error
}

// streamCall is one call in flight: its request, then its answer or error.
type streamCall struct {
	req  groupRequest
	ans  groupAnswer
	err  error
	sent bool          // the writer encoded it: set under the stream's mu, only while the call is live; its caller reads it after done or under mu
	done chan struct{} // closed once ans or err is set
}

// call sends req to addr on its stream and waits up to timeout for the
// answer. A call that never left (no connection, or the stream broke
// before it was written) is errNotSent; one that left and got no answer
// is errStreamBroken or a deadline error.
func (s *groupStreams) call(addr string, req groupRequest, timeout time.Duration) (groupAnswer, error) {
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	st, err := s.stream(addr, timeout)
	if err != nil {
		return groupAnswer{}, fmt.Errorf("%w: %w", errNotSent, err)
	}
	select {
	case st.slots <- struct{}{}:
	case <-timer.C:
		return groupAnswer{}, fmt.Errorf("%w: the stream to %s stayed full", errNotSent, addr)
	}
	defer func() { <-st.slots }()
	c := &streamCall{req: req, done: make(chan struct{})}
	st.mu.Lock()
	if st.broken != nil {
		st.mu.Unlock()
		return groupAnswer{}, fmt.Errorf("%w: %w", errNotSent, st.broken)
	}
	st.next++
	c.req.ID = st.next
	st.calls[c.req.ID] = c
	st.mu.Unlock()
	st.queue <- c // room: a slot is held, and the queue holds as many as there are slots
	select {
	case <-c.done:
		if c.err != nil && !c.sent {
			return groupAnswer{}, fmt.Errorf("%w: %w", errNotSent, c.err)
		}
		return c.ans, c.err
	case <-timer.C:
		st.mu.Lock()
		delete(st.calls, c.req.ID) // its answer, if it comes, is dropped
		sent := c.sent
		st.mu.Unlock()
		if !sent {
			return groupAnswer{}, fmt.Errorf("%w: not written in %v", errNotSent, timeout)
		}
		if timeout >= streamDeadAfter && st.heard.Load() < start.UnixNano() {
			// Nothing came back on the stream for all that while, though
			// a holder answers within its apply timeout: the stream is
			// dead (a partition). Its calls end, and the next call dials
			// anew. (A call that ran out of its caller's shorter time, or
			// on a stream that answers others, leaves the stream be.)
			s.drop(addr, st, os.ErrDeadlineExceeded)
		}
		return groupAnswer{}, os.ErrDeadlineExceeded
	}
}

// stream returns the stream to addr, dialing it if there is none. Calls
// that find a dial under way wait for it rather than dial too: a burst of
// first calls makes one connection, not one each.
func (s *groupStreams) stream(addr string, timeout time.Duration) (*groupStream, error) {
	deadline := time.Now().Add(timeout)
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return nil, ErrUnavailable
		}
		if st := s.streams[addr]; st != nil {
			s.mu.Unlock()
			return st, nil
		}
		wait, busy := s.dialing[addr]
		if !busy {
			break
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-time.After(time.Until(deadline)):
			return nil, fmt.Errorf("the dial to %s took too long", addr)
		}
		s.mu.Lock()
	}
	if s.dialing == nil {
		s.dialing, s.streams = map[string]chan struct{}{}, map[string]*groupStream{}
	}
	dialed := make(chan struct{})
	s.dialing[addr] = dialed
	s.mu.Unlock()
	conn, err := s.mux.Dial(addr, peer.KindGroup, 0, time.Until(deadline))
	s.mu.Lock()
	delete(s.dialing, addr)
	close(dialed)
	if err == nil && s.closed {
		conn.Close()
		err = ErrUnavailable
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	st := &groupStream{conn: conn, queue: make(chan *streamCall, streamInFlightMax+1),
		slots: make(chan struct{}, streamInFlightMax), calls: map[uint64]*streamCall{}}
	s.streams[addr] = st
	s.mu.Unlock()
	go st.write(func(err error) { s.drop(addr, st, err) })
	go st.read(func(err error) { s.drop(addr, st, err) })
	return st, nil
}

// drop ends a broken stream: its calls fail, and the next call dials anew.
func (s *groupStreams) drop(addr string, st *groupStream, err error) {
	s.mu.Lock()
	if s.streams[addr] == st {
		delete(s.streams, addr)
	}
	s.mu.Unlock()
	st.fail(err)
}

// close cuts every stream, failing the calls in flight.
func (s *groupStreams) close() {
	s.mu.Lock()
	s.closed = true
	streams := s.streams
	s.streams = nil
	s.mu.Unlock()
	for _, st := range streams {
		st.fail(ErrUnavailable)
	}
}

// fail breaks the stream once: the connection closes and every call in
// flight ends with err.
func (st *groupStream) fail(err error) {
	st.mu.Lock()
	if st.broken != nil {
		st.mu.Unlock()
		return
	}
	st.broken = fmt.Errorf("%w: %w", errStreamBroken, err)
	calls := st.calls
	st.calls = map[uint64]*streamCall{}
	st.mu.Unlock()
	st.conn.Close()
	for _, c := range calls {
		c.err = st.broken
		close(c.done)
	}
}

// write encodes queued calls and flushes when none is left waiting.
func (st *groupStream) write(broke func(error)) {
	w := bufio.NewWriter(st.conn)
	enc := gob.NewEncoder(w)
	for c := range st.queue {
		for {
			st.mu.Lock()
			live := st.broken == nil && st.calls[c.req.ID] == c // not timed out, not failed
			if live {
				// Only while live: a call that failed or timed out has
				// been handed back to its caller, who reads sent after
				// done without the lock (the close of done, or the lock
				// taken by the timeout, orders this write before that).
				c.sent = true
			}
			st.mu.Unlock()
			if live {
				st.conn.SetWriteDeadline(time.Now().Add(callTimeout))
				if err := enc.Encode(&c.req); err != nil {
					broke(err)
					return
				}
			}
			select {
			case c = <-st.queue:
				continue
			default:
			}
			break
		}
		if err := w.Flush(); err != nil {
			broke(err)
			return
		}
		st.mu.Lock()
		done := st.broken != nil
		st.mu.Unlock()
		if done {
			return
		}
	}
}

// read hands each answer to its call.
func (st *groupStream) read(broke func(error)) {
	dec := gob.NewDecoder(bufio.NewReader(st.conn))
	for {
		var ans groupAnswer
		if err := dec.Decode(&ans); err != nil {
			broke(err)
			select {
			case st.queue <- &streamCall{}: // wake the writer so it sees the break and ends
			default: // it is busy, and sees the break after its flush
			}
			return
		}
		st.heard.Store(time.Now().UnixNano())
		st.mu.Lock()
		c := st.calls[ans.ID]
		delete(st.calls, ans.ID)
		st.mu.Unlock()
		if c != nil {
			c.ans = ans
			close(c.done)
		}
	}
}

// serveGroupCalls answers the reads and writes of one KindGroup stream:
// each request on its own goroutine, the answers written by one writer
// that flushes once none is waiting.
func (n *Node) serveGroupCalls(conn net.Conn, _ uint16) {
	defer conn.Close()
	answers := make(chan groupAnswer, streamInFlightMax)
	slots := make(chan struct{}, streamInFlightMax)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() {
		defer close(writerDone)
		w := bufio.NewWriter(conn)
		enc := gob.NewEncoder(w)
		for {
			var ans groupAnswer
			select {
			case ans = <-answers:
			case <-stop:
				return
			}
			for {
				conn.SetWriteDeadline(time.Now().Add(callTimeout))
				if enc.Encode(&ans) != nil {
					conn.Close()
					return
				}
				<-slots
				select {
				case ans = <-answers:
					continue
				default:
				}
				break
			}
			if w.Flush() != nil {
				conn.Close()
				return
			}
		}
	})
	defer writer.Wait()
	defer close(stop)
	dec := gob.NewDecoder(bufio.NewReader(conn))
	for {
		conn.SetReadDeadline(time.Now().Add(callIdleTimeout))
		var req groupRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		select {
		case slots <- struct{}{}:
		case <-writerDone:
			return
		case <-n.closing:
			return
		}
		go func() {
			ans := n.answerGroup(req)
			ans.ID = req.ID
			answers <- ans // room: a slot is held per answer not yet written
		}()
	}
}
