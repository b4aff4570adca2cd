package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/cloudwallet/cloudwallet/topology"
)

// Placement: each shard group on R of the N nodes (Config.Replicas).
//
// The layout (shard.GroupLayout) says which nodes hold each group, its
// preferred leader first. It lives in the meta group, which every node
// holds (as a voter where the layout puts it, else as a non-voter), so
// every node reads the same layout and knows every node's address from
// the meta group's configuration. Three parts of the arranger, which runs
// on every node every arrangeEvery, make the cluster match it:
//
//   - The meta group's leader plans it (package topology) from the nodes
//     in the meta group's configuration, less those leaving, and sets a
//     new version when the plan differs: a node joined, or one is leaving.
//   - Each group's leader moves its own group toward it, one Raft
//     configuration change per round and only while it leads (so only
//     with a quorum): it adds a missing node as a non-voter, promotes it
//     once it has caught up, only then removes (or, in the meta group,
//     demotes) a node the layout dropped, and at last hands leadership to
//     the preferred leader. A group never has fewer voters during a move
//     than at either end of it.
//   - Each node opens a replica of every group the layout gives it, for
//     the group's leader to add, and closes and deletes its replica of a
//     group the layout took away once the group's leader has removed it.
//
// A node leaving (`cluster remove`) is planned out of every group; once no
// group holds it and the meta group has demoted it, the meta group's
// leader removes it from the meta group and forgets it.

// arrangeEvery is how often the arranger looks.
const arrangeEvery = 500 * time.Millisecond

// leaderMoveEvery spaces the hand-overs of one group's leadership to its
// preferred leader: a preferred leader that cannot take it (down, behind)
// is not asked every round.
const leaderMoveEvery = 5 * time.Second

// arranger is the arranger's memory between rounds, owned by its goroutine.
type arranger struct {
	caughtUpAt map[groupNode]uint64 // the leader's last index when it added a non-voter: promoted once it has applied that far
	movedAt    map[int]time.Time    // when each group's leadership was last handed to its preferred leader
}

type groupNode struct {
	group int
	node  raft.ServerID
}

// arrangeLoop runs the arranger until the node closes: often while the
// node has no layout yet (its readiness waits for one), then every
// arrangeEvery.
func (n *Node) arrangeLoop() {
	a := arranger{caughtUpAt: map[groupNode]uint64{}, movedAt: map[int]time.Time{}}
	n.every(func() time.Duration {
		if n.layoutNow().Version == 0 {
			return arrangeEvery / 10
		}
		return arrangeEvery
	}, func() { n.arrangeOnce(&a) })
}

// every runs fn after each wait of next() until the node closes (a
// background goroutine).
func (n *Node) every(next func() time.Duration, fn func()) {
	defer n.background.Done()
	t := time.NewTimer(next())
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return
		case <-t.C:
			fn()
			t.Reset(next())
		}
	}
}

func (n *Node) arrangeOnce(a *arranger) {
	n.readAddresses()
	meta := n.meta()
	if meta.leads() && meta.caughtUp.Load() {
		n.planLayout()
		n.forgetLeft()
	}
	for _, rp := range n.held() {
		rp.noteSuffrage()
	}
	layout := n.layoutNow()
	if layout.Version == 0 {
		return
	}
	for _, rp := range n.held() {
		if rp.leads() {
			n.conform(a, rp, layout)
		}
	}
	n.reconcile(layout)
}

// layoutNow is the layout as this node's meta replica has applied it.
func (n *Node) layoutNow() shard.GroupLayout {
	if l := n.layout.Load(); l != nil {
		return *l
	}
	return shard.GroupLayout{}
}

// addresses maps every node of the cluster (the meta group's
// configuration) to its internal address, as the arranger last read it
// (every round, so a call to a group held elsewhere reads no
// configuration). The map is never changed once stored.
func (n *Node) addresses() map[string]string {
	if m := n.addrs.Load(); m != nil {
		return *m
	}
	return n.readAddresses()
}

// readAddresses reads the addresses from the meta group's configuration
// and keeps them for addresses.
func (n *Node) readAddresses() map[string]string {
	servers := n.meta().servers()
	out := make(map[string]string, len(servers))
	for _, s := range servers {
		out[string(s.ID)] = string(s.Address)
	}
	n.addrs.Store(&out)
	return out
}

// servers is the replica's latest Raft configuration (nil if unknown).
func (rp *replica) servers() []raft.Server {
	cf := rp.raft.GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	return cf.Configuration().Servers
}

// planLayout sets a new layout when the plan for the nodes now in the
// cluster differs from the current one (meta leader only).
func (n *Node) planLayout() {
	prev := n.layoutNow()
	var nodes []string
	for _, s := range n.meta().servers() {
		if !prev.IsLeaving(string(s.ID)) {
			nodes = append(nodes, string(s.ID))
		}
	}
	if len(nodes) == 0 {
		return
	}
	plan, err := planGroups(prev.Groups, nodes, n.Groups(), n.replicas)
	if err != nil {
		n.log.Error("placement: no plan", "err", err)
		return
	}
	if slices.EqualFunc(plan, prev.Groups, slices.Equal) {
		return
	}
	next := shard.GroupLayout{Version: prev.Version + 1, Groups: plan, Leaving: prev.Leaving}
	if err := n.setLayout(next); err != nil {
		n.log.Warn("placement: setting the layout failed; will plan again", "err", err)
		return
	}
	n.log.Info("placement: new layout", "version", next.Version, "groups", fmt.Sprint(next.Groups), "leaving", fmt.Sprint(next.Leaving))
}

// planGroups is where the groups go on nodes, r replicas each: the data
// groups 0 .. groups-1, balanced among themselves, then the meta group,
// planned on its own. Its log carries projects, key pairs and layouts, a
// trickle beside the data's, so a voter of it must not count as a data
// replica: the plan would give its nodes one data group fewer.
func planGroups(prev [][]string, nodes []string, groups, r int) ([][]string, error) {
	var prevData, prevMeta [][]string
	if len(prev) == groups+1 {
		prevData, prevMeta = prev[:groups], prev[groups:]
	}
	data, err := topology.Plan(topology.Layout{Groups: prevData}, nodes, groups, r)
	if err != nil {
		return nil, err
	}
	meta, err := topology.Plan(topology.Layout{Groups: prevMeta}, nodes, 1, r)
	if err != nil {
		return nil, err
	}
	return append(data.Groups, meta.Groups...), nil
}

// errLayoutMoved: the layout changed between reading and setting it.
var errLayoutMoved = errors.New("engine: the layout changed meanwhile")

// setLayout proposes a layout to the meta group.
func (n *Node) setLayout(l shard.GroupLayout) error {
	ctx, cancel := context.WithTimeout(n.life, n.cfg.ApplyTimeout)
	defer cancel()
	r, err := n.metaGroup().propose(ctx, &shard.Command{Kind: shard.CmdSetLayout, Layout: &l})
	if err != nil {
		return err
	}
	if r.Code != shard.OK {
		return errLayoutMoved
	}
	return nil
}

// conform makes one change that brings a group this node leads closer to
// the layout: the first of the planner's steps from the group as it
// stands to the layout (topology.Moves: new replicas first, then the
// leadership, then the replicas it loses).
func (n *Node) conform(a *arranger, rp *replica, layout shard.GroupLayout) {
	g := rp.group
	if g >= len(layout.Groups) || len(layout.Groups[g]) == 0 {
		return
	}
	want := layout.Groups[g]
	servers := rp.servers()
	if servers == nil {
		return
	}
	// The group as it stands, in the planner's terms: its voters, this
	// node (the leader) first. A non-voter counts as not there yet: adding
	// one is adding it and then promoting it.
	suffrage := map[string]raft.ServerSuffrage{}
	have := []string{n.id}
	for _, s := range servers {
		suffrage[string(s.ID)] = s.Suffrage
		if s.Suffrage == raft.Voter && string(s.ID) != n.id {
			have = append(have, string(s.ID))
		}
	}
	from, to := topology.Layout{Groups: make([][]string, g+1)}, topology.Layout{Groups: make([][]string, g+1)}
	from.Groups[g], to.Groups[g] = have, want
	addrs := n.addresses()
	for _, step := range topology.Moves(from, to) {
		id := step.Node
		switch step.Kind {
		case topology.AddReplica:
			n.addReplica(a, rp, id, addrs[id], suffrage[id])
			return
		case topology.TransferLeader:
			if n.handTo(a, rp, id, addrs[id], false) {
				return
			}
			// The preferred leader cannot take it now: go on with the
			// replicas the group loses.
		case topology.RemoveReplica:
			switch {
			case id == n.id:
				n.handTo(a, rp, want[0], addrs[want[0]], true)
			case rp.layout.HoldsMeta(): // every node keeps the meta group
				rp.changed("demote", id, rp.raft.DemoteVoter(raft.ServerID(id), 0, membershipWait))
			default:
				rp.changed("remove", id, rp.raft.RemoveServer(raft.ServerID(id), 0, membershipWait))
			}
			return
		}
	}
	if rp.layout.HoldsMeta() {
		return
	}
	for _, s := range servers { // added, then planned elsewhere before its promotion
		if s.Suffrage == raft.Nonvoter && !slices.Contains(want, string(s.ID)) {
			rp.changed("remove", string(s.ID), rp.raft.RemoveServer(s.ID, 0, membershipWait))
			return
		}
	}
}

// addReplica adds a node the layout names to the group: as a non-voter
// once it has opened its replica (else Raft could not reach it), and as
// a voter once that has caught up.
func (n *Node) addReplica(a *arranger, rp *replica, id, addr string, suffrage raft.ServerSuffrage) {
	switch {
	case addr == "":
		// not in the meta group's configuration yet: nothing to dial
	case suffrage == raft.Nonvoter:
		if n.caughtUp(a, rp, id, addr) {
			rp.changed("promote", id, rp.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipWait))
		}
	case n.holdsReplica(addr, rp.group):
		a.caughtUpAt[groupNode{rp.group, raft.ServerID(id)}] = rp.raft.LastIndex()
		rp.changed("add non-voter", id, rp.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipWait))
	}
}

// changed logs the end of a membership change.
func (rp *replica) changed(what, node string, f raft.IndexFuture) {
	if err := f.Error(); err != nil {
		rp.log.Warn("placement: change failed; will try again", "change", what, "node", node, "err", err)
		return
	}
	rp.log.Info("placement: membership changed", "change", what, "node", node)
}

// holdsReplica reports whether the node at addr has a replica of group g
// open (the layout reached it).
func (n *Node) holdsReplica(addr string, g int) bool {
	var ans callAnswer
	return n.calls.do(addr, callRequest{Op: opStatus, Group: g}, &ans, time.Second) == nil
}

// caughtUp reports whether a non-voter has applied the group's log as far
// as it stood when the non-voter was added (or first seen).
func (n *Node) caughtUp(a *arranger, rp *replica, id, addr string) bool {
	key := groupNode{rp.group, raft.ServerID(id)}
	target, known := a.caughtUpAt[key]
	if !known {
		a.caughtUpAt[key] = rp.raft.LastIndex()
		return false
	}
	var ans callAnswer
	if err := n.calls.do(addr, callRequest{Op: opStatus, Group: rp.group}, &ans, callTimeout); err != nil || ans.Status == nil {
		return false
	}
	if ans.Status.AppliedIndex < target {
		return false
	}
	delete(a.caughtUpAt, key)
	return true
}

// handTo hands the group's leadership to a node (now, when this node must
// go; else at most every leaderMoveEvery), and reports whether it did.
//
// Only to a node that answers that it holds the group and is not
// stopping: while a transfer is under way the group takes no writes, and
// one to a node that is down or going down would hold them up for an
// election timeout for nothing.
func (n *Node) handTo(a *arranger, rp *replica, id, addr string, now bool) (handed bool) {
	if addr == "" || (!now && time.Since(a.movedAt[rp.group]) < leaderMoveEvery) {
		return false
	}
	a.movedAt[rp.group] = time.Now()
	var ans callAnswer
	if err := n.calls.do(addr, callRequest{Op: opStatus, Group: rp.group}, &ans, time.Second); err != nil || ans.Status == nil {
		// It does not hold the group, or does not answer: said, since a
		// group whose leader must leave waits for this.
		rp.log.Warn("placement: the preferred leader cannot take the group now; will try again", "to", id, "err", err)
		return false
	}
	if ans.Status.Stopping {
		return false // it is going away
	}
	if err := rp.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error(); err != nil {
		rp.log.Warn("placement: handing leadership over failed; will try again", "to", id, "err", err)
		return false
	}
	rp.log.Info("placement: handed leadership over", "to", id)
	return true
}

// reconcile opens a replica of each group the layout gives this node, and
// closes and deletes its replica of each group the layout took away once
// the group no longer counts it.
func (n *Node) reconcile(layout shard.GroupLayout) {
	for _, sg := range n.dataGroups() {
		want := layout.Holds(sg.group, n.id)
		rp := sg.replica()
		switch {
		case want && rp == nil:
			if err := n.openHeld(sg); err != nil {
				n.log.Error("placement: opening a replica failed; will try again", "group", sg.group, "err", err)
			}
		case !want && rp != nil && n.removedFrom(sg):
			if err := n.dropHeld(sg); err != nil {
				n.log.Error("placement: deleting a replica failed", "group", sg.group, "err", err)
			}
		}
	}
}

// openHeld opens a new replica of a group, on clean stores, for the
// group's leader to add.
func (n *Node) openHeld(sg *shardGroup) error {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	if sg.replica() != nil {
		return nil
	}
	if err := n.wipeGroup(sg.group); err != nil {
		return err
	}
	rp, err := n.openReplica(sg, false)
	if err != nil {
		return err
	}
	sg.local.Store(rp)
	n.log.Info("placement: holding a replica of the group; waiting for its leader to add it", "group", sg.group)
	return nil
}

// dropHeld closes this node's replica of a group and deletes its stores.
func (n *Node) dropHeld(sg *shardGroup) error {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	rp := sg.local.Swap(nil)
	if rp == nil {
		return nil
	}
	err := rp.close()
	if err := n.wipeGroup(sg.group); err != nil {
		return err
	}
	n.log.Info("placement: the group moved away; its replica here is deleted", "group", sg.group)
	return err
}

// wipeGroup deletes what a data dir holds of a group (not the meta group):
// its entries in the node's log first, then its directory, so a crash in
// between leaves a directory with no log, which is opened as a replica
// that is behind and deleted again.
func (n *Node) wipeGroup(g int) error {
	if n.log1 != nil {
		gs := n.log1.Group(uint32(g))
		first, err := gs.FirstIndex()
		if err != nil {
			return err
		}
		last, err := gs.LastIndex()
		if err != nil {
			return err
		}
		if last > 0 {
			if err := gs.DeleteRange(first, last); err != nil {
				return err
			}
		}
	}
	return os.RemoveAll(groupDir(n.cfg.DataDir, g))
}

// removedFrom reports whether the group's leader no longer counts this
// node (as its holders answer).
func (n *Node) removedFrom(sg *shardGroup) bool {
	ans, err := n.askGroup(sg, callRequest{Op: opMembers}, callTimeout)
	if err != nil || len(ans.Members) == 0 {
		return false
	}
	return !slices.ContainsFunc(ans.Members, func(s raft.Server) bool { return string(s.ID) == n.id })
}

// answerMembers answers the group's configuration, from its leader.
func (rp *replica) answerMembers(req callRequest) callAnswer {
	if rp.raft.State() != raft.Leader {
		addr := rp.leaderAddr()
		if req.Proxied || addr == "" {
			return fail(ErrNoLeader)
		}
		req.Proxied = true
		var ans callAnswer
		if err := rp.n.calls.do(addr, req, &ans, callTimeout); err != nil {
			return fail(err)
		}
		return ans
	}
	return callAnswer{Members: rp.servers(), Leader: rp.leaderAddr()}
}

// forgetLeft removes from the meta group each leaving node that no other
// group counts any more and that the meta group has demoted, and drops
// from the layout the leaving nodes the meta group no longer has (meta
// leader only).
func (n *Node) forgetLeft() {
	layout := n.layoutNow()
	if len(layout.Leaving) == 0 {
		return
	}
	meta := n.meta()
	suffrage := map[string]raft.ServerSuffrage{}
	for _, s := range meta.servers() {
		suffrage[string(s.ID)] = s.Suffrage
	}
	var gone []string
	for _, id := range layout.Leaving {
		s, in := suffrage[id]
		switch {
		case !in:
			gone = append(gone, id)
		case s == raft.Nonvoter && n.inNoGroup(id):
			if err := meta.raft.RemoveServer(raft.ServerID(id), 0, membershipWait).Error(); err != nil {
				meta.log.Warn("placement: removing a node that left failed; will try again", "node", id, "err", err)
				continue
			}
			meta.log.Info("placement: the node left the cluster", "node", id)
		}
	}
	if len(gone) > 0 {
		next := layout.Clone()
		next.Version++
		next.Leaving = slices.DeleteFunc(next.Leaving, func(id string) bool { return slices.Contains(gone, id) })
		if err := n.setLayout(next); err != nil {
			n.log.Warn("placement: forgetting nodes that left failed; will try again", "err", err)
		}
	}
}

// inNoGroup reports whether no group but the meta group counts the node.
func (n *Node) inNoGroup(id string) bool {
	for _, sg := range n.dataGroups() {
		var members []raft.Server
		if rp := sg.replica(); rp != nil && rp.leads() {
			members = rp.servers()
		} else {
			ans, err := n.askGroup(sg, callRequest{Op: opMembers}, callTimeout)
			if err != nil {
				return false
			}
			members = ans.Members
		}
		if slices.ContainsFunc(members, func(s raft.Server) bool { return string(s.ID) == id }) {
			return false
		}
	}
	return true
}
