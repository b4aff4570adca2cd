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

// Layout places a shard group's shards among the cluster's: the group holds
// shard ids Base .. Base+Count-1 of Total, and every group holds Count.
// Projects hash their data over the shards of their groups (Placement),
// so the layout is fixed when the cluster is created.
type Layout struct {
	Base  uint16
	Count int
	Total int
}

// Single is the layout of a cluster with one shard group of S shards.
func Single(shards int) Layout { return Layout{Count: shards, Total: shards} }

// Partition is the partition of a shard id in this group, and whether the
// group holds it.
func (l Layout) Partition(id uint16) (int, bool) {
	if id < l.Base || int(id-l.Base) >= l.Count {
		return 0, false
	}
	return 1 + int(id-l.Base), true
}

// HoldsMeta reports whether the group holds the meta partition (projects,
// key pairs, assets): group 0, the one whose shards start at 0.
func (l Layout) HoldsMeta() bool { return l.Base == 0 }

// Valid reports whether the layout fits the id space.
func (l Layout) Valid() bool {
	return l.Count >= 1 && l.Total <= ShardsMax && int(l.Base)+l.Count <= l.Total &&
		l.Total%l.Count == 0 && int(l.Base)%l.Count == 0
}

// Groups is G, the number of shard groups of the cluster.
func (l Layout) Groups() int { return l.Total / l.Count }

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
	return kinds[c.Kind].apply(m, ctx, c)
}

// Revoked reports whether the group's log has revoked the key pair.
func (m *Machine) Revoked(k KeyPairID) bool {
	_, gone := m.revoked[k]
	return gone
}

// revoke makes a key pair's writes fail from here on in the log.
func (m *Machine) revoke(k KeyPairID) { m.revoked[k] = struct{}{} }

// notHere answers a command routed to a group that does not hold its shard:
// a routing bug, refused without touching anything.
var notHere = Result{Code: ValidationError, Value: "the command's shard is not in this shard group"}
