package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/peer"
)

// Cluster membership.
//
// A node started on an empty data dir without JoinAddr bootstraps a
// one-node cluster and generates the cluster secret. A node with JoinAddr
// asks any member to add it to the meta group as a non-voter (it receives
// the log but does not count for quorum). From there the arranger
// (placement.go) takes over: the meta group's leader plans the node into
// the layout, and each group's leader adds it, promotes it once caught up,
// and moves replicas off other nodes. Joining is idempotent, so a
// restarted node simply asks again. `cluster remove` plans a node out of
// every group and waits until it is gone (RemoveNode); SIGTERM hands
// leadership over first (Handoff).

// changeMembership adds a joining node to the meta group as a non-voter
// (on the leader; a no-op for a node already in it).
func (rp *replica) changeMembership(req callRequest) callAnswer {
	if req.NodeID == "" || req.Addr == "" {
		return callAnswer{Err: "a join needs nodeId and addr"}
	}
	if err := rp.raft.AddNonvoter(raft.ServerID(req.NodeID), raft.ServerAddress(req.Addr), 0, membershipWait).Error(); err != nil {
		return fail(err)
	}
	rp.log.Info("membership changed", "op", req.Op, "node", req.NodeID, "addr", req.Addr)
	return callAnswer{Index: rp.raft.CommitIndex()}
}

// joinLoop asks the cluster at cfg.JoinAddr to add this node to the meta
// group, retrying until it is done or the node closes; the group's leader
// promotes it if the layout makes it a voter (placement.go).
func (rp *replica) joinLoop() {
	defer rp.proposer.Done()
	me := callRequest{Op: opJoin, NodeID: rp.n.id, Addr: rp.n.mux.Addr(), Group: rp.group}
	for retry := joinRetry.start(); ; {
		var ans callAnswer
		err := rp.n.calls.do(rp.n.cfg.JoinAddr, me, &ans, membershipWait+2*callTimeout)
		if err == nil {
			rp.log.Info("cluster join: added to the cluster; catching up", "commitIndex", ans.Index)
			return
		}
		rp.log.Warn("cluster join: retrying", "via", rp.n.cfg.JoinAddr, "err", err)
		if !retry.wait(context.Background(), rp.closing) {
			return
		}
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

// removeProgressEvery is how often RemoveNode logs what it waits for.
const removeProgressEvery = 10 * time.Second

// RemoveNode takes a node out of the cluster: it is planned out of every
// group, its replicas move to other nodes (a dead node's are made again
// from the survivors), and then it leaves the meta group. It waits for
// that until ctx ends; the removal goes on without it, and calling it
// again waits again.
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	known := func() bool {
		return slices.ContainsFunc(n.meta().servers(), func(s raft.Server) bool { return string(s.ID) == id })
	}
	if err := n.CatchUpMeta(ctx); err != nil {
		return err
	}
	if !known() {
		return fmt.Errorf("%w: %s", ErrNoSuchNode, id)
	}
	if !slices.ContainsFunc(n.meta().servers(), func(s raft.Server) bool {
		return string(s.ID) != id && !n.layoutNow().IsLeaving(string(s.ID))
	}) {
		return ErrLastNode
	}
	for {
		l := n.layoutNow()
		if l.IsLeaving(id) {
			break
		}
		next := l.Clone()
		next.Version++
		next.Leaving = append(next.Leaving, id)
		err := n.setLayout(next)
		if err == nil {
			n.log.Info("cluster remove: the node is leaving; moving its replicas", "node", id)
			break
		}
		if !errors.Is(err, errLayoutMoved) {
			return err
		}
		if err := n.CatchUpMeta(ctx); err != nil {
			return err
		}
	}
	tick := time.NewTicker(arrangeEvery)
	defer tick.Stop()
	progress := time.Now()
	for {
		if err := n.CatchUpMeta(ctx); err == nil && !known() && !n.layoutNow().IsLeaving(id) {
			n.log.Info("cluster remove: the node left the cluster", "node", id)
			return nil
		}
		if time.Since(progress) >= removeProgressEvery {
			progress = time.Now()
			n.log.Info("cluster remove: waiting for the node's replicas to move", "node", id)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the node %s is still leaving (its replicas are moving); ask again to wait for it", ErrUnavailable, id)
		case <-n.closing:
			return ErrUnavailable
		case <-tick.C:
		}
	}
}

// Handoff transfers leadership of every group this node leads to another
// voter, so a planned stop does not wait out an election timeout.
//
// From then on the node tells the groups' leaders it is stopping, so none
// hands a leadership back to it as its preferred leader (placement.go).
func (n *Node) Handoff() error {
	n.stopping.Store(true)
	var errs []error
	for _, rp := range n.held() {
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
