package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/peer"
	"github.com/cloudwallet/cloudwallet/wal"
)

// Cluster membership and the calls between nodes.
//
// A node started on an empty data dir without JoinAddr bootstraps a
// one-node cluster and generates the cluster secret. A node with JoinAddr
// asks any member to add it: the leader adds it as a non-voter (it receives
// the log but does not count for quorum), the node waits until it has
// applied the log up to the leader's commit index at that moment, then
// asks to be promoted to voter. Both steps are idempotent, so a restarted
// node simply asks again.

// cluster call operations
const (
	opReadIndex = "readIndex" // leader: a linearizable read index
	opInfo      = "info"      // any node: the cluster's fixed shape
	opJoin      = "join"      // leader: add NodeID at Addr as a non-voter
	opPromote   = "promote"   // leader: make NodeID a voter
	opRemove    = "remove"    // leader: take NodeID out
	opStatus    = "status"    // any node: its own view
)

type callRequest struct {
	Op      string `json:"op"`
	Group   int    `json:"group,omitempty"` // the shard group a group call is about
	NodeID  string `json:"nodeId,omitempty"`
	Addr    string `json:"addr,omitempty"`
	Proxied bool   `json:"proxied,omitempty"` // already passed on once by a follower
}

type callAnswer struct {
	Err    string      `json:"err,omitempty"`
	Code   string      `json:"code,omitempty"` // Err's sentinel (errors.go wireErrors)
	Index  uint64      `json:"index,omitempty"`
	Shards int         `json:"shards,omitempty"`        // info: S per group
	Groups int         `json:"groups,omitempty"`        // info: G
	Token  string      `json:"operatorToken,omitempty"` // info: the operator token`
	Status *NodeStatus `json:"status,omitempty"`
}

const (
	callTimeout     = 5 * time.Second
	membershipWait  = 30 * time.Second // how long a membership change may take
	callIdleMax     = 4                // idle call connections kept per peer
	callIdleTimeout = 10 * time.Minute // a call connection idle this long is closed
)

// callClient makes calls over KindCall connections, reusing idle ones.
// close cuts the calls in flight too, so a node stops at once even while
// a join call waits on a slow leader.
type callClient struct {
	mux    *peer.Mux
	mu     sync.Mutex
	idle   map[string][]net.Conn
	busy   map[net.Conn]struct{}
	closed bool
}

type callConn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// do makes one call. Every call is idempotent (reads, and membership
// changes that are no-ops when already made), so one that fails at once on
// an idle connection — the peer may have restarted since — is made again
// on a new one (not one that timed out: that would double the wait).
func (c *callClient) do(addr string, req callRequest, ans *callAnswer, timeout time.Duration) error {
	reused, err := c.once(addr, req, ans, timeout)
	if err != nil && reused && !errors.Is(err, os.ErrDeadlineExceeded) {
		_, err = c.once(addr, req, ans, timeout)
	}
	return err
}

func (c *callClient) once(addr string, req callRequest, ans *callAnswer, timeout time.Duration) (reused bool, err error) {
	conn, reused, err := c.take(addr, timeout)
	if err != nil {
		return false, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	b, _ := json.Marshal(req)
	var frame []byte
	if err = peer.WriteFrame(conn.w, b); err == nil {
		frame, err = peer.ReadFrame(conn.r, nil)
	}
	if err == nil {
		*ans = callAnswer{}
		err = json.Unmarshal(frame, ans)
	}
	if err != nil {
		c.put(addr, conn, false)
		return reused, fmt.Errorf("engine: %s call to %s: %w", req.Op, addr, err)
	}
	conn.SetDeadline(time.Time{})
	c.put(addr, conn, true)
	if ans.Err != "" {
		return false, fromWire(ans.Code, ans.Err)
	}
	return false, nil
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
		return callAnswer{Shards: n.shardsPerGroup, Groups: len(n.groups), Token: n.cfg.OperatorToken}
	}
	if req.Group < 0 || req.Group >= len(n.groups) {
		return callAnswer{Err: fmt.Sprintf("no shard group %d", req.Group)}
	}
	return n.groups[req.Group].answer(req)
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
	case opJoin, opPromote, opRemove:
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

// changeMembership runs a join, promote or remove on the leader.
func (rp *replica) changeMembership(req callRequest) callAnswer {
	if req.NodeID == "" || (req.Op != opRemove && req.Addr == "") {
		return callAnswer{Err: "a membership change needs nodeId and addr"}
	}
	id, addr := raft.ServerID(req.NodeID), raft.ServerAddress(req.Addr)
	var f raft.IndexFuture
	switch req.Op {
	case opJoin:
		f = rp.raft.AddNonvoter(id, addr, 0, membershipWait)
	case opPromote:
		f = rp.raft.AddVoter(id, addr, 0, membershipWait)
	case opRemove:
		cf := rp.raft.GetConfiguration()
		if err := cf.Error(); err != nil {
			return fail(err)
		}
		known := false
		for _, s := range cf.Configuration().Servers {
			known = known || s.ID == id
		}
		if !known {
			return fail(fmt.Errorf("%w: %s", ErrNoSuchNode, req.NodeID))
		}
		f = rp.raft.RemoveServer(id, 0, membershipWait)
	}
	if err := f.Error(); err != nil {
		return fail(err)
	}
	rp.log.Info("membership changed", "op", req.Op, "node", req.NodeID, "addr", req.Addr)
	return callAnswer{Index: rp.raft.CommitIndex()}
}

// joinLoop asks the cluster at cfg.JoinAddr to add this node, waits until
// it has caught up, and asks to be promoted, retrying until it is done or
// the node closes.
func (rp *replica) joinLoop() {
	defer rp.proposer.Done()
	me := callRequest{NodeID: rp.n.id, Addr: rp.n.mux.Addr(), Group: rp.group}
	ask := func(op string) (callAnswer, bool) {
		for retry := joinRetry.start(); ; {
			me.Op = op
			var ans callAnswer
			err := rp.n.calls.do(rp.n.cfg.JoinAddr, me, &ans, membershipWait+2*callTimeout)
			if err == nil {
				return ans, true
			}
			rp.log.Warn("cluster join: retrying", "step", op, "via", rp.n.cfg.JoinAddr, "err", err)
			if !retry.wait(context.Background(), rp.closing) {
				return ans, false
			}
		}
	}
	ans, ok := ask(opJoin)
	if !ok {
		return
	}
	rp.log.Info("cluster join: added as non-voter; catching up", "commitIndex", ans.Index)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-rp.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := rp.applied.wait(ctx, ans.Index)
	cancel()
	if err != nil {
		return
	}
	if _, ok := ask(opPromote); ok {
		rp.log.Info("cluster join: promoted to voter")
	}
}

// askInfo learns S and G (and the operator token) from a member before
// this node's data dir is made.
func askInfo(calls *callClient, addr string, closing <-chan struct{}) (callAnswer, error) {
	var last error
	for retry := infoRetry.start(); ; {
		var ans callAnswer
		if last = calls.do(addr, callRequest{Op: opInfo}, &ans, callTimeout); last == nil {
			return ans, nil
		}
		if errors.Is(last, peer.ErrBadSecret) {
			break
		}
		if !retry.wait(context.Background(), closing) {
			select {
			case <-closing:
				return callAnswer{}, ErrUnavailable
			default: // tries used up
			}
			break
		}
	}
	return callAnswer{}, fmt.Errorf("engine: cannot reach the cluster at %s: %w", addr, last)
}

// ClusterOperatorToken is the operator token learnt when this node first
// joined ("" if it bootstrapped or already had a data dir).
func (n *Node) ClusterOperatorToken() string { return n.joinToken }

// NodeStatus is one node's own view of its group.
type NodeStatus struct {
	ID           string `json:"id"`
	Addr         string `json:"addr"`
	Suffrage     string `json:"suffrage"`
	Reachable    bool   `json:"reachable"`
	Error        string `json:"error,omitempty"`
	State        string `json:"state,omitempty"`
	Term         uint64 `json:"term,omitempty"`
	Leader       string `json:"leader,omitempty"`
	CommitIndex  uint64 `json:"commitIndex,omitempty"`
	AppliedIndex uint64 `json:"appliedIndex,omitempty"`
	LastIndex    uint64 `json:"lastIndex,omitempty"`
}

// GroupStatus is a shard group and its replicas.
type GroupStatus struct {
	Group  int          `json:"group"`
	Shards int          `json:"shards"`
	Leader string       `json:"leader"`
	Term   uint64       `json:"term"`
	Nodes  []NodeStatus `json:"nodes"`
}

// ClusterStatus is what `cloudwallet cluster status` shows.
type ClusterStatus struct {
	Node   string        `json:"node"` // the node that answered
	Groups []GroupStatus `json:"groups"`
}

func (rp *replica) localStatus() NodeStatus {
	_, leader := rp.raft.LeaderWithID()
	return NodeStatus{
		ID: rp.n.id, Addr: rp.n.mux.Addr(), Reachable: true,
		State: rp.raft.State().String(), Term: rp.raft.CurrentTerm(), Leader: string(leader),
		CommitIndex: rp.raft.CommitIndex(), AppliedIndex: rp.applied.get(), LastIndex: rp.raft.LastIndex(),
	}
}

// Status asks every node in each group's configuration for its view.
func (n *Node) Status() (ClusterStatus, error) {
	st := ClusterStatus{Node: n.id}
	for _, rp := range n.groups {
		g, err := rp.status()
		if err != nil {
			return ClusterStatus{}, fmt.Errorf("group %d: %w", rp.group, err)
		}
		st.Groups = append(st.Groups, g)
	}
	return st, nil
}

// status asks every node in this group's configuration for its view.
func (rp *replica) status() (GroupStatus, error) {
	cf := rp.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return GroupStatus{}, err
	}
	servers := cf.Configuration().Servers
	nodes := make([]NodeStatus, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st NodeStatus
			if string(s.ID) == rp.n.id {
				st = rp.localStatus()
			} else {
				var ans callAnswer
				if err := rp.n.calls.do(string(s.Address), callRequest{Op: opStatus, Group: rp.group}, &ans, 2*time.Second); err != nil {
					st.Error = err.Error()
				} else {
					st = *ans.Status
				}
			}
			st.ID, st.Addr, st.Suffrage = string(s.ID), string(s.Address), s.Suffrage.String()
			nodes[i] = st
		}()
	}
	wg.Wait()
	g := GroupStatus{Group: rp.group, Shards: rp.layout.Count}
	for _, st := range nodes {
		if st.State == raft.Leader.String() && st.Term >= g.Term {
			g.Leader, g.Term = st.ID, st.Term
		}
	}
	g.Nodes = nodes
	return g, nil
}

// RemoveNode takes a node out of every group (through their leaders).
func (n *Node) RemoveNode(id string) error {
	var errs []error
	gone := 0 // groups that do not (any more) hold the node
	for _, rp := range n.groups {
		ans := rp.answer(callRequest{Op: opRemove, NodeID: id, Group: rp.group})
		switch err := fromWire(ans.Code, ans.Err); {
		case ans.Err == "":
		case errors.Is(err, ErrNoSuchNode):
			gone++
		default:
			errs = append(errs, fmt.Errorf("group %d: %w", rp.group, err))
		}
	}
	if gone == len(n.groups) {
		return fmt.Errorf("%w: %s", ErrNoSuchNode, id)
	}
	return errors.Join(errs...)
}

// Handoff transfers leadership of every group this node leads to another
// voter, so a planned stop does not wait out an election timeout.
func (n *Node) Handoff() error {
	var errs []error
	for _, rp := range n.groups {
		errs = append(errs, rp.handoff())
	}
	return errors.Join(errs...)
}

func (rp *replica) handoff() error {
	if rp.raft.State() != raft.Leader {
		return nil
	}
	cf := rp.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	voters := 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters < 2 {
		return nil
	}
	err := rp.raft.LeadershipTransfer().Error()
	if err == nil {
		rp.log.Info("leadership handed over before stopping")
	}
	return err
}

// loadSecret returns the cluster secret: the one in the data dir, else the
// configured one (saved), else a new one if this node bootstraps.
func loadSecret(dir, configured string, joining bool) (string, error) {
	path := filepath.Join(dir, "cluster.secret")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		stored := strings.TrimSpace(string(b))
		if configured != "" && configured != stored {
			return "", fmt.Errorf("engine: %s holds a different cluster secret than the one given: this data dir belongs to another cluster", path)
		}
		return stored, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	secret := configured
	if secret == "" {
		if joining {
			return "", errors.New("engine: joining a cluster needs its secret (--cluster-secret or --cluster-secret-file; the first node keeps it in DATA_DIR/cluster.secret)")
		}
		secret = RandomToken(32)
	}
	if len(secret) < peer.SecretBytesMin {
		return "", fmt.Errorf("engine: the cluster secret must be at least %d characters", peer.SecretBytesMin)
	}
	return secret, wal.WriteFileAtomic(path, []byte(secret+"\n"), 0o600)
}
