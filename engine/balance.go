package engine

import (
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// balanceEvery is how often a node checks whether it leads more groups
// than its share.
const balanceEvery = 3 * time.Second

// balanceLoop spreads the leadership of the shard groups over the voters,
// so every node proposes for some groups instead of one node for all: a
// node that leads more than its share (G/N rounded up) hands one group a
// round to the voter that leads the fewest. Every node sees the same
// leaders, and only the over-loaded ones act, so transfers do not ping-pong.
func (n *Node) balanceLoop() { n.every(balanceEvery, n.balanceOnce) }

// every runs fn every d until the node closes (a background goroutine).
func (n *Node) every(d time.Duration, fn func()) {
	defer n.background.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return
		case <-t.C:
			fn()
		}
	}
}

func (n *Node) balanceOnce() {
	cf := n.groups[metaGroup].raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	leads := map[raft.ServerID]int{}
	addrs := map[raft.ServerID]raft.ServerAddress{}
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			leads[s.ID], addrs[s.ID] = 0, s.Address
		}
	}
	if len(leads) < 2 {
		return
	}
	var mine []*replica
	for _, rp := range n.groups {
		_, id := rp.raft.LeaderWithID()
		if _, voter := leads[id]; !voter {
			return // an election in progress, or a member still joining: look again later
		}
		leads[id]++
		if string(id) == n.id {
			mine = append(mine, rp)
		}
	}
	share := (len(n.groups) + len(leads) - 1) / len(leads)
	if len(mine) <= share {
		return
	}
	ids := make([]raft.ServerID, 0, len(leads))
	for id := range leads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	target := ids[0]
	for _, id := range ids {
		if leads[id] < leads[target] {
			target = id
		}
	}
	if leads[target] >= share {
		return
	}
	rp := mine[len(mine)-1]
	if !rp.hasVoter(target) {
		return // not yet a voter of this group
	}
	if err := rp.raft.LeadershipTransferToServer(target, addrs[target]).Error(); err != nil {
		rp.log.Warn("leadership balance: transfer failed", "to", string(target), "err", err)
		return
	}
	rp.log.Info("leadership balance: handed the group over", "to", string(target))
}

// hasVoter reports whether id is a voter of this group.
func (rp *replica) hasVoter(id raft.ServerID) bool {
	cf := rp.raft.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	for _, s := range cf.Configuration().Servers {
		if s.ID == id && s.Suffrage == raft.Voter {
			return true
		}
	}
	return false
}
