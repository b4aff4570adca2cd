package engine

import (
	"context"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Scopes: the groups a read touches, so that a linearizable read confirms
// only those (one read-index round each, in parallel), and the catch-up a
// node does when it meets a key or project it has not seen yet.

// Scope is a set of shard groups a read needs up to date: bit g is group g
// (GroupsMax fits).
type Scope uint64

// MetaScope is the meta group: projects, key pairs, assets.
func (n *Node) MetaScope() Scope { return 1 << n.metaGroup().group }

// ShardScope is the group of a shard (none for a shard the cluster does
// not have: the read finds nothing).
func (n *Node) ShardScope(s uint16) Scope {
	if sg := n.groupOf(s); sg != nil {
		return 1 << sg.group
	}
	return 0
}

// CustomerScope is the group of a customer's shard.
func (n *Node) CustomerScope(p shard.ProjectID, id string) Scope {
	if pl, ok := n.keys.placement(p); ok {
		return n.ShardScope(pl.CustomerShard(p, id))
	}
	return 0
}

// ProjectScope is every group the project lives in.
func (n *Node) ProjectScope(p shard.ProjectID) Scope {
	var s Scope
	if pl, ok := n.keys.placement(p); ok {
		for _, g := range pl.Groups {
			s |= 1 << g
		}
	}
	return s
}

// Confirm waits until this node's state reflects every write acknowledged
// (by any node) before the call in each group of the scope that this node
// holds: one read-index round per group, the groups in parallel. Reads of
// those groups that follow it are linearizable; reads of a group it does
// not hold are confirmed by the holder that serves them (remotequery.go).
// It fails with ErrUnavailable when a group's leader does not answer
// within ctx (at most ReadTimeout).
func (n *Node) Confirm(ctx context.Context, s Scope) error {
	var todo []*shardGroup
	for _, sg := range n.groups {
		if s&(1<<sg.group) != 0 && sg.serving() != nil {
			todo = append(todo, sg)
		}
	}
	return each(todo, func(_ int, sg *shardGroup) error { return sg.linearize(ctx) })
}

// CatchUpMeta brings this node's meta group up to date: a key pair or a
// project not known here may have just been made through another node.
func (n *Node) CatchUpMeta(ctx context.Context) error {
	return n.meta().linearize(ctx)
}
