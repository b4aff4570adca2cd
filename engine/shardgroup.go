package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/cloudwallet/cloudwallet/shard"
)

// shardGroup is this node's handle on one shard group of the cluster,
// whether it holds a replica of it or not. With more nodes than replicas
// per group (Config.Replicas) a node holds only the groups the layout
// gives it (placement.go); every other group it reaches through a node
// that holds one (remote.go). The meta group (group 0) is held by every
// node, as a voter or a non-voter, so every node reads projects, key pairs
// and the layout from its own replica.
//
// Owners: group, layout and metrics are set at start and read-only after.
// local is swapped by the arranger (placement.go) under mu, and read by
// anyone without it: a reader may get a replica that is closing, whose
// calls then fail with ErrUnavailable, as at shutdown. leader is a hint,
// written by whoever learns where the group's leader is.
type shardGroup struct {
	n       *Node
	group   int
	layout  shard.Layout // the group's shards
	metrics *metrics     // for the node's life: replicas come and go

	mu     sync.Mutex // serialises opening and closing the replica
	local  atomic.Pointer[replica]
	leader atomic.Pointer[string] // the internal address of a holder that answered last (the leader, as it said)
}

// replica returns this node's replica of the group, nil if it holds none.
func (sg *shardGroup) replica() *replica { return sg.local.Load() }

// serving returns this node's replica of the group if it serves the
// group's reads and writes, else nil: the layout places the group here
// and the replica is one of its voters. A replica on its way in (being
// added, catching up) or out (the layout moved the group away) would
// make its callers wait for a log it does not get yet, or any more; they
// go through a holder instead.
//
// The meta group's replica always serves: every node holds it, and a
// non-voter gets its whole log as a voter does.
func (sg *shardGroup) serving() *replica {
	rp := sg.local.Load()
	if sg.isMeta() {
		return rp
	}
	if rp == nil || !rp.voter.Load() {
		return nil
	}
	if l := sg.n.layout.Load(); l != nil && l.Version > 0 && !l.Holds(sg.group, sg.n.id) {
		return nil
	}
	return rp
}

// propose submits a command to the group and waits for its result: through
// this node's replica if it serves the group, else through a node that does.
func (sg *shardGroup) propose(ctx context.Context, cmd *shard.Command) (shard.Result, error) {
	if rp := sg.serving(); rp != nil {
		return rp.propose(ctx, cmd)
	}
	return sg.n.proposeRemote(ctx, sg, cmd)
}

// step proposes one step of a protocol (two-phase commit, a revocation),
// again while it is definitely not proposed (ErrUnavailable,
// ErrOverloaded) and ctx allows: every step is idempotent, and nothing of
// a refused one happened.
func (sg *shardGroup) step(ctx context.Context, cmd *shard.Command) (shard.Result, error) {
	retry := stepRetry.start()
	for {
		r, err := sg.propose(ctx, cmd)
		if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrOverloaded) {
			return r, err
		}
		if !retry.wait(ctx, sg.n.closing) {
			return r, err
		}
	}
}

// linearize makes reads of this node's replica linearizable (Confirm);
// a group read through another node is confirmed there.
func (sg *shardGroup) linearize(ctx context.Context) error {
	if rp := sg.serving(); rp != nil {
		return rp.linearize(ctx)
	}
	return nil
}

// held lists the node's replicas, in group order.
func (n *Node) held() []*replica {
	out := make([]*replica, 0, len(n.groups))
	for _, sg := range n.groups {
		if rp := sg.replica(); rp != nil {
			out = append(out, rp)
		}
	}
	return out
}

// isMeta reports whether this is the meta group.
func (sg *shardGroup) isMeta() bool { return sg.layout.HoldsMeta() }

// metaGroup is the handle on the meta group: group G, after the data
// groups 0 .. G-1.
func (n *Node) metaGroup() *shardGroup { return n.groups[len(n.groups)-1] }

// dataGroups are the handles on the groups that hold shards, in order.
func (n *Node) dataGroups() []*shardGroup { return n.groups[:len(n.groups)-1] }

// meta is this node's replica of the meta group, which every node holds
// from Open to Close.
func (n *Node) meta() *replica { return n.metaGroup().replica() }
