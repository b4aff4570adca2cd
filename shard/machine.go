package shard

import "fmt"

// Machine is the whole replicated state of a shard group: the meta partition
// and S shards. It is not safe for concurrent use, except that Apply calls for
// commands with disjoint Partitions may run concurrently (the engine does).
type Machine struct {
	Layout
	Meta   *Meta
	Shards []*Shard // Shards[i] has id Base+i
	// revoked holds the key pairs deleted as this group's log knows it:
	// their writes are refused when they apply. Written only by commands
	// that hold every partition (DeleteKeyPair, RevokeKeyPair); read by
	// any.
	revoked map[KeyPairID]struct{}
}

// Layout places a shard group's state among the cluster's. A data group
// holds S shards, ids Base .. Base+Count-1, and every data group holds as
// many. The meta group of a cluster holds the meta partition (projects,
// assets, key pairs, where the groups live) and no shard, so that its
// copies on every node (placement) apply none of the data's log. A machine
// alone (Single: tests, tools) holds the meta partition and every shard.
// Projects hash their data over the shards of their groups (Placement),
// so the layout is fixed when the cluster is created.
type Layout struct {
	Meta   bool   // holds the meta partition
	Base   uint16 // the first shard it holds
	Count  int    // the shards it holds: S, or 0 for the meta group
	Groups int    // G, the cluster's data groups
}

// Single is the layout of a machine alone: the meta partition and S shards,
// as one group.
func Single(shards int) Layout { return Layout{Meta: true, Count: shards, Groups: 1} }

// MetaGroup is the layout of the meta group of a cluster of groups data
// groups.
func MetaGroup(groups int) Layout { return Layout{Meta: true, Groups: groups} }

// DataGroup is the layout of data group g of a cluster of groups groups of
// shards shards each.
func DataGroup(g, groups, shards int) Layout {
	return Layout{Base: uint16(g * shards), Count: shards, Groups: groups}
}

// Partition is the partition of a shard id in this group, and whether the
// group holds it.
func (l Layout) Partition(id uint16) (int, bool) {
	if id < l.Base || int(id-l.Base) >= l.Count {
		return 0, false
	}
	return 1 + int(id-l.Base), true
}

// ClusterShards is G×S, the shards of the whole cluster (0 in the meta
// group's layout, which does not know S).
func (l Layout) ClusterShards() int { return l.Groups * l.Count }

// HoldsMeta reports whether the group holds the meta partition (projects,
// key pairs, assets).
func (l Layout) HoldsMeta() bool { return l.Meta }

// Valid reports whether the layout fits the id space: a data group's
// shards are the g-th S of G×S, and only a meta group holds none.
func (l Layout) Valid() bool {
	if l.Groups < 1 || l.Groups > ShardsMax {
		return false
	}
	if l.Count == 0 {
		return l.Meta && l.Base == 0
	}
	return l.Count >= 1 && l.Groups*l.Count <= ShardsMax && int(l.Base)%l.Count == 0 &&
		int(l.Base)+l.Count <= l.Groups*l.Count
}

// NewMachine returns an empty machine with the given number of shards: the
// only group of its cluster.
func NewMachine(shards int) *Machine { return NewGroupMachine(Single(shards)) }

// NewGroupMachine returns an empty machine for one group of a cluster.
func NewGroupMachine(l Layout) *Machine {
	if !l.Valid() {
		panic(fmt.Sprintf("shard: layout %+v is outside 1..%d shards", l, ShardsMax))
	}
	m := &Machine{Layout: l, Meta: newMeta(), Shards: make([]*Shard, l.Count), revoked: map[KeyPairID]struct{}{}}
	for i := range m.Shards {
		m.Shards[i] = newShard(l.Base + uint16(i))
	}
	return m
}

// ShardCount is S.
func (m *Machine) ShardCount() int { return len(m.Shards) }

// shard returns the shard with this id, or nil if this group does not hold it.
func (m *Machine) shard(id uint16) *Shard {
	if p, ok := m.Partition(id); ok {
		return m.Shards[p-1]
	}
	return nil
}

// Apply runs one command: its kind's apply function (kinds.go). It returns
// an operating error as a Result code and panics only on a broken
// invariant (a bug, or a command the decoder should have refused).
func (m *Machine) Apply(ctx Context, c *Command) Result {
	if !c.Kind.Valid() {
		panic("shard: Apply of unknown command kind " + c.Kind.String())
	}
	if c.ByKey != 0 {
		if _, gone := m.revoked[KeyPairID(c.ByKey-1)]; gone {
			return Result{Code: KeyPairNotFound}
		}
	}
	if kinds[c.Kind].home == homeMeta && !m.HoldsMeta() {
		return notHere // projects, assets, key pairs, the layout: the meta group's
	}
	return kinds[c.Kind].apply(m, ctx, c)
}

// Revoked reports whether the group's log has revoked the key pair.
func (m *Machine) Revoked(k KeyPairID) bool {
	_, gone := m.revoked[k]
	return gone
}

// revoke makes a key pair's writes fail from here on in the log.
func (m *Machine) revoke(k KeyPairID) { m.revoked[k] = struct{}{} }

// notHere answers a command routed to a group that does not hold its shard,
// or a meta command routed to a data group: a routing bug, refused without
// touching anything.
var notHere = Result{Code: ValidationError, Value: "the command's shard is not in this shard group"}
