package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/peer"
)

// Calls between nodes: small JSON frames over KindCall connections of the
// internal port, one call at a time per connection, connections pooled.
// An error crosses as a code beside its text (errors.go).

// cluster call operations
const (
	opReadIndex = "readIndex" // leader: a linearizable read index
	opInfo      = "info"      // any node: the cluster's fixed shape
	opJoin      = "join"      // meta leader: add NodeID at Addr as a non-voter
	opStatus    = "status"    // any node: its own view
	opCommitted = "committed" // leader: commit index and the terms of entries (lostprobe.go)
	opMembers   = "members"   // holder: the group's configuration (placement.go)
	opGroup     = "group"     // holder: the group's status, every replica asked (status.go)
)

type callRequest struct {
	Op      string   `json:"op"`
	Group   int      `json:"group,omitempty"` // the shard group a group call is about
	NodeID  string   `json:"nodeId,omitempty"`
	Addr    string   `json:"addr,omitempty"`
	Proxied bool     `json:"proxied,omitempty"` // already passed on once by a follower
	Indexes []uint64 `json:"indexes,omitempty"` // committed: the entries asked about
}

type callAnswer struct {
	Err      string        `json:"err,omitempty"`
	Code     string        `json:"code,omitempty"` // Err's sentinel (errors.go wireErrors)
	Index    uint64        `json:"index,omitempty"`
	Shards   int           `json:"shards,omitempty"`        // info: S per group
	Groups   int           `json:"groups,omitempty"`        // info: G
	Replicas int           `json:"replicas,omitempty"`      // info: R
	Token    string        `json:"operatorToken,omitempty"` // info: the operator token`
	Status   *NodeStatus   `json:"status,omitempty"`
	Terms    []uint64      `json:"terms,omitempty"`   // committed: the term at each index asked (0: unknown)
	Body     []byte        `json:"body,omitempty"`    // propose: the result; query: the answer (gob)
	Leader   string        `json:"leader,omitempty"`  // propose, query: the group's leader as the holder knows it
	Members  []raft.Server `json:"members,omitempty"` // members: the group's configuration
	Group    *GroupStatus  `json:"group,omitempty"`   // group: its status
}

const (
	callTimeout     = 5 * time.Second
	membershipWait  = 30 * time.Second // how long a membership change may take
	callIdleMax     = 256              // idle call connections kept per peer
	callIdleTimeout = 10 * time.Minute // a call connection idle this long is closed
)

// callClient makes calls over KindCall connections (JSON frames), reusing
// idle ones. close
// cuts the calls in flight too, so a node stops at once even while a join
// call waits on a slow leader.
type callClient struct {
	mux *peer.Mux // set at start, read-only after

	mu     sync.Mutex // guards following
	idle   map[string][]net.Conn
	busy   map[net.Conn]struct{}
	closed bool
}

// callConn is one pooled connection; only the goroutine that took it uses
// it.
type callConn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// exchange runs one call on a pooled connection to addr: fn writes the
// request and reads the answer. A connection that could not be had is
// errNotSent; one that fails in fn is closed. When an idle one fails, the
// others idle beside it are closed too: the peer most likely restarted,
// and each of them would fail one more call.
func (c *callClient) exchange(addr string, timeout time.Duration, fn func(conn *callConn) error) (reused bool, err error) {
	conn, reused, err := c.take(addr, timeout)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errNotSent, err)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	if err := fn(conn); err != nil {
		c.put(addr, conn, false)
		if reused {
			c.dropIdle(addr)
		}
		return reused, err
	}
	conn.SetDeadline(time.Time{})
	c.put(addr, conn, true)
	return reused, nil
}

// retried runs an idempotent call: one that fails at once on an idle
// connection — the peer may have restarted since — is made again on a new
// one (not one that timed out: that would double the wait).
func (c *callClient) retried(addr string, timeout time.Duration, fn func(conn *callConn) error) error {
	reused, err := c.exchange(addr, timeout, fn)
	if err != nil && reused && !errors.Is(err, os.ErrDeadlineExceeded) {
		_, err = c.exchange(addr, timeout, fn)
	}
	return err
}

// do makes one call. Every call is idempotent (reads, and membership
// changes that are no-ops when already made): retried.
func (c *callClient) do(addr string, req callRequest, ans *callAnswer, timeout time.Duration) error {
	err := c.retried(addr, timeout, func(conn *callConn) error {
		b, _ := json.Marshal(req)
		if err := peer.WriteFrame(conn.w, b); err != nil {
			return err
		}
		frame, err := peer.ReadFrame(conn.r, nil)
		if err != nil {
			return err
		}
		*ans = callAnswer{}
		return json.Unmarshal(frame, ans)
	})
	if err != nil {
		return fmt.Errorf("engine: %s call to %s: %w", req.Op, addr, err)
	}
	if ans.Err != "" {
		return fromWire(ans.Code, ans.Err)
	}
	return nil
}

// take returns an idle connection to addr (reused) or a new one.
func (c *callClient) take(addr string, timeout time.Duration) (conn *callConn, reused bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrUnavailable
	}
	if list := c.idle[addr]; len(list) > 0 {
		conn := list[len(list)-1].(*callConn)
		c.idle[addr] = list[:len(list)-1]
		c.busy[conn] = struct{}{}
		c.mu.Unlock()
		return conn, true, nil
	}
	c.mu.Unlock()
	raw, err := c.mux.Dial(addr, peer.KindCall, 0, timeout)
	if err != nil {
		return nil, false, err
	}
	conn = &callConn{Conn: raw, r: bufio.NewReader(raw), w: bufio.NewWriter(raw)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		raw.Close()
		return nil, false, ErrUnavailable
	}
	if c.busy == nil {
		c.busy, c.idle = map[net.Conn]struct{}{}, map[string][]net.Conn{}
	}
	c.busy[conn] = struct{}{}
	return conn, false, nil
}

// put returns a connection after a call; broken ones are closed.
func (c *callClient) put(addr string, conn *callConn, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.busy, conn)
	if !ok || c.closed || len(c.idle[addr]) >= callIdleMax {
		conn.Close()
		return
	}
	c.idle[addr] = append(c.idle[addr], conn)
}

// dropIdle closes the idle connections to addr.
func (c *callClient) dropIdle(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.idle[addr] {
		conn.Close()
	}
	delete(c.idle, addr)
}

func (c *callClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, list := range c.idle {
		for _, conn := range list {
			conn.Close()
		}
	}
	for conn := range c.busy {
		conn.Close()
	}
}

// serveCalls answers the calls of one connection, one at a time.
func (n *Node) serveCalls(conn net.Conn, _ uint16) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	var buf []byte
	for {
		conn.SetReadDeadline(time.Now().Add(callIdleTimeout))
		frame, err := peer.ReadFrame(r, buf)
		if err != nil {
			return
		}
		buf = frame
		var req callRequest
		var ans callAnswer
		if err := json.Unmarshal(frame, &req); err != nil {
			ans.Err = "bad call: " + err.Error()
		} else {
			ans = n.answer(req)
		}
		b, _ := json.Marshal(ans)
		conn.SetWriteDeadline(time.Now().Add(callTimeout))
		if peer.WriteFrame(w, b) != nil {
			return
		}
	}
}

// answer answers a call: about the node, or about one of its groups.
func (n *Node) answer(req callRequest) callAnswer {
	if req.Op == opInfo {
		return callAnswer{Shards: n.shardsPerGroup, Groups: n.Groups(), Replicas: n.replicas, Token: n.cfg.OperatorToken}
	}
	if req.Group < 0 || req.Group >= len(n.groups) {
		return callAnswer{Err: fmt.Sprintf("no shard group %d", req.Group)}
	}
	rp := n.groups[req.Group].replica()
	if rp == nil {
		return fail(ErrNotHeld)
	}
	return rp.answer(req)
}

func (rp *replica) answer(req callRequest) callAnswer {
	switch req.Op {
	case opReadIndex:
		if rp.raft.State() != raft.Leader {
			return fail(raft.ErrNotLeader)
		}
		ctx, cancel := context.WithTimeout(context.Background(), rp.n.cfg.ReadTimeout)
		defer cancel()
		index, err := rp.localReads.do(ctx)
		if err != nil {
			return fail(err)
		}
		return callAnswer{Index: index}
	case opStatus:
		s := rp.localStatus()
		return callAnswer{Status: &s}
	case opMembers:
		return rp.answerMembers(req)
	case opGroup:
		g, err := rp.status()
		if err != nil {
			return fail(err)
		}
		return callAnswer{Group: &g}
	case opCommitted:
		return rp.answerCommitted(req.Indexes)
	case opJoin:
		if rp.raft.State() != raft.Leader {
			if req.Proxied {
				return fail(raft.ErrNotLeader)
			}
			addr, _ := rp.raft.LeaderWithID()
			if addr == "" {
				return fail(ErrNoLeader)
			}
			req.Proxied = true
			var ans callAnswer
			if err := rp.n.calls.do(string(addr), req, &ans, membershipWait+callTimeout); err != nil {
				return fail(err)
			}
			return ans
		}
		return rp.changeMembership(req)
	}
	return fail(fmt.Errorf("unknown call %q", req.Op))
}

// fail is the answer of a call that failed with err.
func fail(err error) callAnswer { return callAnswer{Err: err.Error(), Code: wireCode(err)} }
