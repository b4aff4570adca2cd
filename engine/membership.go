package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/peer"
)

// Cluster membership.
//
// A node started on an empty data dir without JoinAddr bootstraps a
// one-node cluster and generates the cluster secret. A node with JoinAddr
// asks any member to add it: the leader adds it as a non-voter (it receives
// the log but does not count for quorum), the node waits until it has
// applied the log up to the leader's commit index at that moment, then
// asks to be promoted to voter. Both steps are idempotent, so a restarted
// node simply asks again. `cluster remove` takes a node out of every group,
// and SIGTERM hands leadership over first (Handoff).

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
