package shard

import "slices"

// Placement is where a project's data lives: the shards of the shard groups
// the project was given at creation (project affinity). Its customers (with
// their wallets), its system wallets and its referenceIds hash over these
// shards only, so a project in one group runs every transaction as one
// command in that group. Transactions never span projects.
//
// A project's placement is fixed at creation; a placement over every group
// of the cluster hashes exactly as a cluster without affinity did.
type Placement struct {
	Groups   []uint16 // the project's groups, ascending
	PerGroup int      // S, the shards of each group
}

// Shards is the number of shards the project hashes over (K × S).
func (pl Placement) Shards() int { return len(pl.Groups) * pl.PerGroup }

// shardOf maps a hash to one of the placement's shards.
func (pl Placement) shardOf(h uint32) uint16 {
	i := int(h % uint32(pl.Shards()))
	return pl.Groups[i/pl.PerGroup]*uint16(pl.PerGroup) + uint16(i%pl.PerGroup)
}

// CustomerShard is the shard that holds a customer and its wallets.
func (pl Placement) CustomerShard(p ProjectID, customerID string) uint16 {
	return pl.shardOf(hashKey(p, customerID))
}

// ReferenceShard is the shard that holds the record of a referenceId.
func (pl Placement) ReferenceShard(p ProjectID, referenceID string) uint16 {
	return pl.shardOf(hashKey(p, referenceID))
}

// SystemShard is the n-th of the placement's shards, round robin: where a
// new system wallet goes.
func (pl Placement) SystemShard(n uint32) uint16 { return pl.shardOf(n) }

// Placed reports whether a kind's home shard comes from its project's
// placement (Home): a customer's, a referenceId's.
func (k Kind) Placed() bool {
	h := kinds[k].home
	return h == homeCustomer || h == homeReference
}

// Home sets c.Shard, for a command whose home the proposer picks, to its
// shard in the project's placement: a customer's, a referenceId's. The
// log carries the shard, so a group applies the command without knowing
// the project's placement.
func (pl Placement) Home(c *Command) {
	switch kinds[c.Kind].home {
	case homeCustomer:
		c.Shard = pl.CustomerShard(c.Project, c.Customer)
	case homeReference:
		c.Shard = pl.ReferenceShard(c.Project, c.ReferenceID)
	}
}

// hashKey is FNV-1a over a project and a client-chosen key; it places
// customers and referenceIds on shards. It must never change: the placement
// of existing data depends on it.
func hashKey(p ProjectID, key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < 4; i++ {
		h ^= uint32(byte(p >> (8 * uint(i))))
		h *= 16777619
	}
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h
}

// chooseGroups picks k of the groups for a new project: those holding the
// fewest projects so far (load[g]); on a tie, those near[g] marks first (the
// groups whose preferred leader took the request, so a client that keeps
// talking to that node writes without a hop), then the lowest-numbered. It
// runs at apply time, so every replica picks the same. near may be nil.
func chooseGroups(load []int, near []bool, k int) []uint16 {
	order := make([]uint16, len(load))
	for g := range order {
		order[g] = uint16(g)
	}
	// rank orders by load, and a near group before a far one of the same load.
	rank := func(g uint16) int {
		if int(g) < len(near) && near[g] {
			return 2 * load[g]
		}
		return 2*load[g] + 1
	}
	slices.SortStableFunc(order, func(a, b uint16) int { return rank(a) - rank(b) })
	chosen := order[:k]
	slices.Sort(chosen)
	return chosen
}
