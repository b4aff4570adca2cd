package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudwallet/cloudwallet/internal/bin"
	"github.com/cloudwallet/cloudwallet/peer"
	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Forwarding: a node that does not lead sends its proposals to the leader
// over one KindForward connection, a batch (an encoded entry of tagged
// commands) per frame, several frames in flight. The leader feeds them to
// its proposer, which packs them with its own into log entries, and answers
// each batch with one status per command once its entries are settled. The
// results themselves are not sent back: the forwarding node applies the
// same log and learns them from its own state machine (pending.settle).
//
// Request frame: batch id u64, then the entry. Answer frame: batch id u64,
// count, then per command a status byte and the entry's log index.

type forwardStatus byte

const (
	fwdApplied     forwardStatus = iota // committed and applied at index
	fwdUnavailable                      // never appended: safe to retry
	fwdOverloaded                       // the leader's queue was full: never appended
	fwdUnknown                          // appended at index (0: unknown), not confirmed
	fwdBroken                           // (metrics only) the link broke before the answer
	fwdStatusCount
)

var fwdStatusNames = [fwdStatusCount]string{"applied", "unavailable", "overloaded", "unknown", "broken"}

func (st forwardStatus) String() string { return fwdStatusNames[st] }

// remoteBatch is, on the leader, one frame of forwarded commands.
type remoteBatch struct {
	id     uint64                              // set when made, read-only after
	served *[fwdStatusCount]prometheus.Counter // set when made, read-only after
	answer func(b []byte)                      // set when made, read-only after

	mu       sync.Mutex // guards following: each proposal of the batch ends on its own goroutine
	statuses []forwardStatus
	indexes  []uint64
	left     int
}

func (rb *remoteBatch) settle(slot int, st forwardStatus, index uint64) {
	rb.served[st].Inc()
	rb.mu.Lock()
	rb.statuses[slot], rb.indexes[slot] = st, index
	rb.left--
	last := rb.left == 0
	rb.mu.Unlock()
	if !last {
		return
	}
	b := binary.BigEndian.AppendUint64(nil, rb.id)
	b = bin.AppendUvarint(b, uint64(len(rb.statuses)))
	for i, st := range rb.statuses {
		b = append(b, byte(st))
		b = bin.AppendUvarint(b, rb.indexes[i])
	}
	rb.answer(b)
}

// finish ends a proposal that will not be (or was not) confirmed by its
// entry's future: a local one through pending, a forwarded one by status.
func (rp *replica) finish(p *proposal, err error, index uint64) {
	if p.remote == nil {
		if err == ErrOutcomeUnknown && index > 0 {
			rp.markLost(p.tag.Seq, index, p.term)
			return
		}
		rp.pend.complete(p.tag.Seq, shard.Result{}, err)
		return
	}
	st := fwdUnknown
	switch err {
	case ErrUnavailable:
		st = fwdUnavailable
	case ErrOverloaded:
		st = fwdOverloaded
	}
	p.remote.settle(p.slot, st, index)
}

// serveForward hands a forwarding connection to its group.
func (n *Node) serveForward(conn net.Conn, group uint16) {
	var rp *replica
	if int(group) < len(n.groups) {
		rp = n.groups[group].replica()
	}
	if rp == nil { // a group this node does not hold (any more): the forwarder finds the leader again
		conn.Close()
		return
	}
	rp.serveForward(conn)
}

// serveForward runs on the leader for one forwarding node's connection.
func (rp *replica) serveForward(conn net.Conn) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	var wmu sync.Mutex
	answer := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(callTimeout))
		if peer.WriteFrame(w, b) != nil {
			conn.Close() // the forwarding node sees the break and stops waiting
		}
	}
	for {
		frame, err := peer.ReadFrame(r, nil) // commands point into it: not reused
		if err != nil {
			return
		}
		if len(frame) < 8 {
			rp.log.Warn("forwarded batch too short; closing", "remote", conn.RemoteAddr().String())
			return
		}
		e, err := raftfsm.DecodeEntry(frame[8:])
		if err == nil && len(e.Commands) > 0 && e.Tags == nil {
			err = fmt.Errorf("untagged commands")
		}
		if err != nil {
			rp.log.Warn("forwarded batch does not decode; closing", "remote", conn.RemoteAddr().String(), "err", err)
			return
		}
		rb := &remoteBatch{
			id: binary.BigEndian.Uint64(frame), answer: answer, left: len(e.Commands), served: &rp.metrics.forwardServed,
			statuses: make([]forwardStatus, len(e.Commands)), indexes: make([]uint64, len(e.Commands)),
		}
		if len(e.Commands) == 0 {
			answer(bin.AppendUvarint(binary.BigEndian.AppendUint64(nil, rb.id), 0))
			continue
		}
		leading := rp.raft.State() == raft.Leader
		for i := range e.Commands {
			p := &proposal{cmd: &e.Commands[i], tag: e.Tags[i], remote: rb, slot: i}
			if !leading || p.tag == (raftfsm.Tag{}) {
				rb.settle(i, fwdUnavailable, 0)
				continue
			}
			select {
			case rp.proposals <- p:
			default:
				rb.settle(i, fwdOverloaded, 0)
			}
		}
	}
}

// forwarder keeps the connection to the leader on a forwarding node.
type forwarder struct {
	rp *replica // set at start, read-only after

	mu   sync.Mutex // guards conn: the link now in use, replaced when it breaks or the leader changes
	conn *fwdConn
}

type fwdConn struct {
	addr string   // set when dialled, read-only after
	conn net.Conn // set when dialled; its reads belong to the link's reader goroutine

	mu      sync.Mutex // guards following
	w       *bufio.Writer
	next    uint64
	waiting map[uint64]*fwdWait
	dead    bool
}

type fwdWait struct {
	batch []*proposal   // set when sent, read-only after
	done  chan struct{} // closed once, by whoever answers the batch
}

// get returns a live connection to addr, dialing if needed.
func (f *forwarder) get(addr string) (*fwdConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.conn; c != nil {
		c.mu.Lock()
		live := !c.dead && c.addr == addr
		c.mu.Unlock()
		if live {
			return c, nil
		}
		c.conn.Close()
	}
	conn, err := f.rp.n.mux.Dial(addr, peer.KindForward, uint16(f.rp.group), callTimeout)
	if err != nil {
		return nil, err
	}
	c := &fwdConn{addr: addr, conn: conn, w: bufio.NewWriterSize(conn, 64<<10), waiting: map[uint64]*fwdWait{}}
	f.conn = c
	go f.rp.readAnswers(c)
	return c, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		f.conn.conn.Close()
	}
}

// send writes one batch; the answer arrives on the connection's reader.
func (c *fwdConn) send(entry []byte, batch []*proposal) (*fwdWait, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return nil, ErrUnavailable
	}
	c.next++
	wt := &fwdWait{batch: batch, done: make(chan struct{})}
	c.waiting[c.next] = wt
	frame := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(entry)), c.next)
	c.conn.SetWriteDeadline(time.Now().Add(callTimeout))
	if err := peer.WriteFrame(c.w, append(frame, entry...)); err != nil {
		delete(c.waiting, c.next)
		c.dead = true
		c.conn.Close()
		return nil, err
	}
	return wt, nil
}

// readAnswers applies the leader's answers until the connection breaks;
// then every batch still waiting is released, and a fence settles the fate
// of its proposals (they stay pending until then: their entries may yet
// commit).
func (rp *replica) readAnswers(c *fwdConn) {
	r := bufio.NewReader(c.conn)
	var buf []byte
	defer func() {
		var mark uint64
		c.mu.Lock()
		c.dead = true
		for id, wt := range c.waiting {
			delete(c.waiting, id)
			rp.metrics.forwarded[fwdBroken].Add(float64(len(wt.batch)))
			for _, p := range wt.batch {
				mark = max(mark, p.tag.Seq)
			}
			close(wt.done)
		}
		c.mu.Unlock()
		c.conn.Close()
		if mark > 0 {
			go rp.fence(mark)
		}
	}()
	for {
		frame, err := peer.ReadFrame(r, buf)
		if err != nil || len(frame) < 8 {
			return
		}
		buf = frame
		id := binary.BigEndian.Uint64(frame)
		c.mu.Lock()
		wt := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if wt == nil {
			return // an answer to nothing: the stream is confused
		}
		rd := bin.NewReader(frame[8:])
		if count := rd.Count(raftfsm.CommandsPerEntryMax, 2); count == len(wt.batch) {
			for _, p := range wt.batch {
				st, index := forwardStatus(rd.Byte()), rd.Uvarint()
				if rd.Err() != nil || st >= fwdBroken {
					break
				}
				rp.metrics.forwarded[st].Inc()
				switch st {
				case fwdUnavailable:
					rp.pend.complete(p.tag.Seq, shard.Result{}, ErrUnavailable)
				case fwdOverloaded:
					rp.pend.complete(p.tag.Seq, shard.Result{}, ErrOverloaded)
				case fwdUnknown:
					if index > 0 {
						rp.markLost(p.tag.Seq, index, 0) // another node led: the fence settles it
					}
				}
			}
		}
		close(wt.done)
	}
}

// forwardBatch sends this node's proposals to the leader and holds an
// in-flight slot until the leader has answered (or the link broke).
func (rp *replica) forwardBatch(batch []*proposal, entry []byte) {
	defer func() { <-rp.inflight }()
	addr, _ := rp.raft.LeaderWithID()
	failAll := func(err error) {
		for _, p := range batch {
			rp.pend.complete(p.tag.Seq, shard.Result{}, err)
		}
	}
	if addr == "" {
		failAll(ErrUnavailable)
		return
	}
	c, err := rp.fwd.get(string(addr))
	if err != nil {
		failAll(ErrUnavailable) // nothing was sent
		return
	}
	wt, err := c.send(entry, batch)
	if err != nil {
		return // maybe partly sent: the proposals wait for settle or time out
	}
	select {
	case <-wt.done:
	case <-rp.closing:
	}
}

// fence proposes, through whoever leads now, that none of this node's
// commands up to mark may apply from here on, and once it has applied ends
// every proposal up to mark still waiting with ErrUnavailable: each either
// applied before the fence (and was settled) or never will. It retries
// until the fence applies or the node closes; a proposal's own wait
// (ApplyTimeout) still bounds what its client sees.
func (rp *replica) fence(mark uint64) {
	for retry := fenceRetry.start(); ; {
		ctx, cancel := context.WithTimeout(context.Background(), rp.n.cfg.ApplyTimeout)
		_, err := rp.propose(ctx, &shard.Command{Kind: shard.CmdFence, Fence: mark})
		cancel()
		if err == nil {
			rp.metrics.fences.Inc()
			if n := rp.pend.fenced(mark); n > 0 {
				rp.log.Info("forward link broke: fenced off the writes it left unanswered", "writes", n)
			}
			return
		}
		if !retry.wait(context.Background(), rp.closing) {
			return
		}
	}
}

// leaderIs drops the link to a leader that no longer leads, so the writes
// it left unanswered are fenced now rather than when it times out.
func (f *forwarder) leaderIs(addr string) {
	if addr == "" {
		return // an election under way: the old leader may yet answer
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil && f.conn.addr != addr {
		f.conn.conn.Close()
	}
}
