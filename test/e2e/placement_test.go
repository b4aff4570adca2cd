package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Clusters with more nodes than replicas per group: each group lives on R
// of the N nodes (--replicas), and a node reaches the groups it does not
// hold through one that does.

// waitLeadersPlaced waits until every group is led by the node the layout
// prefers, and returns that status.
func (c *cluster) waitLeadersPlaced() clusterStatus {
	c.t.Helper()
	var st clusterStatus
	c.poll("every group led by its preferred leader", 60*time.Second, func() error {
		var err error
		if st, err = c.status(c.nodes[0]); err != nil {
			return err
		}
		for g, group := range append(st.Groups, st.MetaGroup) {
			if len(group.Placed) == 0 || group.Leader != group.Placed[0] {
				return fmt.Errorf("group %d: leader %q, placed on %v", g, group.Leader, group.Placed)
			}
		}
		return nil
	})
	return st
}

// requireSpread checks the layout: every group on exactly R nodes, every
// node holding groups/N·R of the data groups' replicas, give or take one,
// and leading groups/N of them, give or take one. The meta group is placed
// on its own (its log is a trickle beside the data's): on R live nodes.
func (c *cluster) requireSpread(st clusterStatus, nodes []string) {
	c.t.Helper()
	if len(st.MetaGroup.Placed) != min(c.r, len(nodes)) || slices.ContainsFunc(st.MetaGroup.Placed, func(id string) bool { return !slices.Contains(nodes, id) }) {
		c.t.Fatalf("the meta group is placed on %v, not on %d of the live nodes %v", st.MetaGroup.Placed, c.r, nodes)
	}
	held, leads := map[string]int{}, map[string]int{}
	for g, group := range st.Groups {
		if len(group.Placed) != min(c.r, len(nodes)) {
			c.t.Fatalf("group %d is placed on %v, not on %d nodes", g, group.Placed, c.r)
		}
		for _, id := range group.Placed {
			if !slices.Contains(nodes, id) {
				c.t.Fatalf("group %d is placed on %s, which is not a live node", g, id)
			}
			held[id]++
		}
		leads[group.Leader]++
	}
	replicas := len(st.Groups) * min(c.r, len(nodes))
	for _, id := range nodes {
		if h := held[id]; h < replicas/len(nodes) || h > (replicas+len(nodes)-1)/len(nodes) {
			c.t.Fatalf("node %s holds %d groups of %d replicas over %d nodes: %v", id, h, replicas, len(nodes), held)
		}
		if l := leads[id]; l < len(st.Groups)/len(nodes) || l > (len(st.Groups)+len(nodes)-1)/len(nodes) {
			c.t.Fatalf("node %s leads %d of %d groups: %v", id, l, len(st.Groups), leads)
		}
	}
}

// liveIDs are the ids of the cluster's nodes but those named.
func (c *cluster) liveIDs(except ...int) []string {
	var ids []string
	for i := range c.nodes {
		if !slices.Contains(except, i) {
			ids = append(ids, c.ids[i])
		}
	}
	return ids
}

// verifyReplicas checks, after verify, that every replica of each wallet's
// group holds the same wallet and entries: a stale read is served by the
// node's own replica.
func (l *clusterLoad) verifyReplicas(t *testing.T) {
	t.Helper()
	st, err := l.c.status(l.c.nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range l.ws {
		g := walletGroup(t, w)
		var first string
		holders := 0
		for _, nd := range st.Groups[g].Nodes {
			i := l.c.indexOf(nd.Addr)
			if i < 0 || nd.Suffrage != "Voter" {
				continue
			}
			s := l.c.nodes[i]
			got := string(s.expect(s.ak("GET", "/wallets/"+w+"?consistency=stale", nil), 200, "").raw) +
				string(s.expect(s.ak("GET", "/wallets/"+w+"/entries?consistency=stale&page=0&pageSize=1000", nil), 200, "").raw)
			if holders == 0 {
				first = got
			} else if got != first {
				t.Fatalf("wallet %s differs between the replicas of group %d:\n%s\n%s", w, g, first, got)
			}
			holders++
		}
		if holders != l.c.r {
			t.Fatalf("group %d of wallet %s has %d voters, want %d: %+v", g, w, holders, l.c.r, st.Groups[g])
		}
	}
}

// Six nodes, six groups of two shards, three replicas each: every group
// sits on three voters exactly as the layout says, with replicas and
// leaderships spread (three groups and one leadership per node).
// Transfers through every node, most of them touching groups that node
// does not hold and many spanning groups, get definite answers. A node
// holding replicas of several groups is killed -9 under that load and
// comes back with its command line: every answered transaction is there
// exactly once with its outcome, money is conserved, no balance is
// negative, and the replicas of each group hold the same wallets and
// entries.
func TestPlacementSixNodesKill9UnderLoad(t *testing.T) {
	c := startCluster(t, 6, false, "--groups", "6", "--shards", "2", "--replicas", "3")
	st := c.waitLeadersPlaced()
	c.requireSpread(st, c.liveIDs())
	victim := 1 // holds three groups and leads one (requireSpread)
	l := startClusterLoad(t, c, 12)
	time.Sleep(1500 * time.Millisecond)
	c.killUnderLoad(l, victim, func(*server) { time.Sleep(3 * time.Second) })
	l.verify(t)
	l.verifyReplicas(t)
}

// Four nodes, four groups, three replicas each, under load through the
// first four nodes: a fifth node joins and receives replicas (added as a
// non-voter, caught up, promoted, and only then does the group drop a
// replica elsewhere) until replicas and leaderships are balanced again.
// Then `cluster remove` takes out a node that holds several groups: its
// replicas move to the others first, then it leaves. Then a node is killed
// -9 and removed for good: its groups are made again from the survivors.
// Writes go on through every move, and at the end every answered
// transaction is there exactly once, money is conserved, and the replicas
// of each group hold the same wallets and entries.
func TestPlacementJoinAndRemoveUnderLoad(t *testing.T) {
	c := startCluster(t, 4, false, "--groups", "4", "--shards", "2", "--replicas", "3")
	c.waitLeadersPlaced()
	l := startClusterLoad(t, c, 8)
	time.Sleep(time.Second)

	before, joinStart := len(l.snapshot()), time.Now()
	c.addNode()
	c.waitVoters(5)
	st := c.waitLeadersPlaced()
	c.requireSpread(st, c.liveIDs())
	if dataGroups(st, c.ids[4]) == 0 {
		t.Fatalf("the new node holds no group but the meta group: %v", st.NodeGroups)
	}
	if during := len(l.snapshot()) - before; during < 10 {
		t.Fatalf("only %d transactions answered while the node joined", during)
	}
	t.Logf("join: %d transactions answered in %v; the longest time without an answer %v",
		len(l.snapshot())-before, time.Since(joinStart).Round(time.Millisecond), l.longestGap(joinStart, time.Now()).Round(time.Millisecond))

	leaving := 1
	id := c.ids[leaving]
	if dataGroups(st, id) == 0 {
		t.Fatalf("node %s holds no group but the meta group: %v", id, st.NodeGroups)
	}
	before, removeStart := len(l.snapshot()), time.Now()
	n1 := c.nodes[0]
	if out, err := cli(t, "cluster", "remove", id, "--server", n1.url, "--token", n1.operator); err != nil {
		t.Fatalf("cluster remove: %v %s", err, out)
	}
	if during := len(l.snapshot()) - before; during < 10 {
		t.Fatalf("only %d transactions answered while the node left", during)
	}
	t.Logf("remove: %d transactions answered in %v; the longest time without an answer %v",
		len(l.snapshot())-before, time.Since(removeStart).Round(time.Millisecond), l.longestGap(removeStart, time.Now()).Round(time.Millisecond))
	st, err := c.status(n1)
	if err != nil {
		t.Fatal(err)
	}
	if groups, in := st.NodeGroups[id]; in {
		t.Fatalf("the removed node is still in groups %v", groups)
	}
	c.nodes[leaving].stop()
	time.Sleep(time.Second) // the load goes on without it
	c.forget(leaving)
	c.waitVoters(4)

	// A node dead for good: killed, then removed. Its groups are made
	// again on the three left from the survivors' replicas.
	dead := 1
	id = c.ids[dead]
	c.nodes[dead].kill()
	before, removeStart = len(l.snapshot()), time.Now()
	if out, err := cli(t, "cluster", "remove", id, "--server", n1.url, "--token", n1.operator); err != nil {
		t.Fatalf("cluster remove of a dead node: %v %s", err, out)
	}
	t.Logf("remove of a dead node: %d transactions answered in %v; the longest time without an answer %v",
		len(l.snapshot())-before, time.Since(removeStart).Round(time.Millisecond), l.longestGap(removeStart, time.Now()).Round(time.Millisecond))
	l.wait(t)
	c.forget(dead)
	c.waitVoters(3)
	c.requireSpread(c.waitLeadersPlaced(), c.liveIDs())
	c.waitConverged(n1)
	l.verify(t)
	l.verifyReplicas(t)
}

// forget drops a node that left the cluster from the test's lists (its
// process is stopped).
func (c *cluster) forget(i int) {
	c.nodes = slices.Delete(c.nodes, i, i+1)
	c.args = slices.Delete(c.args, i, i+1)
	c.ids = map[int]string{}
}

// dataGroups counts the groups but the meta group whose configuration
// counts the node.
func dataGroups(st clusterStatus, id string) int {
	return len(slices.DeleteFunc(slices.Clone(st.NodeGroups[id]), func(g int) bool { return g == st.MetaGroup.Group }))
}
