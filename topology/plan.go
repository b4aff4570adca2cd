package topology

import (
	"fmt"
	"slices"
)

// Layout is where each group lives: Groups[g] lists the nodes holding a
// replica of group g, its preferred leader first.
type Layout struct {
	Groups [][]string
}

// Clone is a deep copy.
func (l Layout) Clone() Layout {
	c := Layout{Groups: make([][]string, len(l.Groups))}
	for g, rs := range l.Groups {
		c.Groups[g] = slices.Clone(rs)
	}
	return c
}

// Plan is the layout of groups shards groups over nodes, r replicas each
// (every node, when there are no more than r): every group keeps the
// replicas it has on live nodes where the balance allows, gets the missing
// ones on the nodes that hold the fewest, and then replicas move one at a
// time from the most to the least loaded node until no two nodes differ by
// more than one. Leaders are then spread the same way among each group's
// replicas, keeping the previous leader where the balance allows. Ties go
// to the node listed first. prev may be empty (a new cluster) or have
// fewer groups than groups.
func Plan(prev Layout, nodes []string, groups, r int) (Layout, error) {
	if len(nodes) == 0 || groups < 1 || r < 1 {
		return Layout{}, fmt.Errorf("topology: plan needs nodes, groups and replicas (have %d, %d, %d)", len(nodes), groups, r)
	}
	rank := make(map[string]int, len(nodes))
	for i, n := range nodes {
		if _, dup := rank[n]; dup {
			return Layout{}, fmt.Errorf("topology: node %q listed twice", n)
		}
		rank[n] = i
	}
	want := min(r, len(nodes))
	p := planner{nodes: nodes, rank: rank, load: make([]int, len(nodes)), leads: make([]int, len(nodes))}
	p.groups = make([][]int, groups)
	for g := range groups {
		if g < len(prev.Groups) {
			for _, n := range prev.Groups[g] {
				if i, live := rank[n]; live && !slices.Contains(p.groups[g], i) {
					p.groups[g] = append(p.groups[g], i)
					p.load[i]++
				}
			}
		}
	}
	for g := range groups {
		for len(p.groups[g]) > want {
			p.drop(g, p.mostLoaded(p.groups[g][1:])) // keep the preferred leader
		}
		for len(p.groups[g]) < want {
			p.add(g, p.leastLoaded(func(i int) bool { return !slices.Contains(p.groups[g], i) }))
		}
	}
	p.balanceReplicas()
	p.balanceLeaders()
	out := Layout{Groups: make([][]string, groups)}
	for g, rs := range p.groups {
		for _, i := range rs {
			out.Groups[g] = append(out.Groups[g], nodes[i])
		}
	}
	return out, nil
}

// planner works on node indexes (their place in nodes, which is also the
// tie-break order).
type planner struct {
	nodes  []string
	rank   map[string]int
	groups [][]int // per group, node indexes; the first is the preferred leader
	load   []int   // replicas per node
	leads  []int   // preferred leaderships per node
}

func (p *planner) add(g, i int) {
	p.groups[g] = append(p.groups[g], i)
	p.load[i]++
}

func (p *planner) drop(g, i int) {
	p.groups[g] = slices.DeleteFunc(p.groups[g], func(j int) bool { return j == i })
	p.load[i]--
}

// mostLoaded is the node of among with the most replicas (the last listed
// on a tie, so that the first listed keep theirs).
func (p *planner) mostLoaded(among []int) int {
	best := among[0]
	for _, i := range among[1:] {
		if p.load[i] > p.load[best] || p.load[i] == p.load[best] && i > best {
			best = i
		}
	}
	return best
}

// leastLoaded is the node allowed by ok with the fewest replicas (the
// first listed on a tie).
func (p *planner) leastLoaded(ok func(i int) bool) int {
	best := -1
	for i := range p.nodes {
		if ok(i) && (best < 0 || p.load[i] < p.load[best]) {
			best = i
		}
	}
	return best
}

// balanceReplicas moves one replica at a time from the most loaded node
// to the least loaded one until no two differ by more than one. A node
// with more replicas than another always holds a group the other does
// not, so a move exists; each one lowers the sum of squared loads, so it
// ends.
func (p *planner) balanceReplicas() {
	for {
		hi, lo := 0, 0
		for i := range p.nodes {
			if p.load[i] > p.load[hi] {
				hi = i
			}
			if p.load[i] < p.load[lo] {
				lo = i
			}
		}
		if p.load[hi]-p.load[lo] <= 1 {
			return
		}
		// The group to move: one hi holds and lo does not, preferring one
		// hi does not lead.
		move := -1
		for g, rs := range p.groups {
			if slices.Contains(rs, hi) && !slices.Contains(rs, lo) {
				if move < 0 || p.groups[move][0] == hi && rs[0] != hi {
					move = g
				}
			}
		}
		at := slices.Index(p.groups[move], hi)
		p.groups[move][at] = lo // lo takes hi's place, leadership included
		p.load[hi]--
		p.load[lo]++
	}
}

// balanceLeaders makes each group's preferred leader (its first replica)
// the one of its replicas that leads the fewest groups so far, keeping the
// current one while it leads fewer than its share (G/N rounded up); then,
// while a node leads two groups more than another it can reach, hands
// leaderships along a chain: the first node gives one of its groups to a
// replica of that group, which gives one of its own on, and so on, until
// a node leading at least two fewer than the first takes one. Nodes in
// the middle keep their count; each chain lowers the sum of squared
// leads, so it ends.
func (p *planner) balanceLeaders() {
	share := (len(p.groups) + len(p.nodes) - 1) / len(p.nodes)
	for g, rs := range p.groups {
		lead := rs[0]
		if p.leads[lead] >= share {
			for _, i := range rs[1:] {
				if p.leads[i] < p.leads[lead] {
					lead = i
				}
			}
		}
		p.setLeader(g, lead)
		p.leads[lead]++
	}
	for p.leaderChain() {
	}
}

// leaderChain finds and hands over one chain of leaderships (see
// balanceLeaders), from the node leading the most; it reports whether it
// found one.
func (p *planner) leaderChain() bool {
	for _, a := range p.byLeadsDescending() {
		// Breadth first from a: via[y] is the group whose leadership y
		// would take over, from that group's current leader.
		via := make([]int, len(p.nodes))
		for i := range via {
			via[i] = -1
		}
		queue, seen := []int{a}, map[int]bool{a: true}
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for g, rs := range p.groups {
				if rs[0] != x {
					continue
				}
				for _, y := range rs[1:] {
					if seen[y] {
						continue
					}
					seen[y], via[y] = true, g
					if p.leads[y] <= p.leads[a]-2 {
						for node := y; node != a; {
							g := via[node]
							from := p.groups[g][0]
							p.setLeader(g, node)
							node = from
						}
						p.leads[a]--
						p.leads[y]++
						return true
					}
					queue = append(queue, y)
				}
			}
		}
	}
	return false
}

// byLeadsDescending lists the nodes from the one leading the most (the
// first listed on a tie).
func (p *planner) byLeadsDescending() []int {
	order := make([]int, len(p.nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return p.leads[b] - p.leads[a] })
	return order
}

// setLeader puts node i first among group g's replicas.
func (p *planner) setLeader(g, i int) {
	rs := p.groups[g]
	at := slices.Index(rs, i)
	rs[0], rs[at] = rs[at], rs[0]
}

// StepKind is one kind of membership step.
type StepKind uint8

const (
	AddReplica     StepKind = iota + 1 // add the node to the group (as a non-voter, promoted once caught up)
	TransferLeader                     // hand the group's leadership to the node
	RemoveReplica                      // take the node out of the group
)

func (k StepKind) String() string {
	switch k {
	case AddReplica:
		return "add"
	case TransferLeader:
		return "lead"
	case RemoveReplica:
		return "remove"
	}
	return "unknown"
}

// Step is one membership change of one group.
type Step struct {
	Group int
	Kind  StepKind
	Node  string
}

// Moves lists the steps from one layout to the next, one change at a time:
// per group, its new replicas first, then its leadership if the preferred
// leader changed, then the replicas it loses, so a group never has fewer
// replicas during the move than at either end of it.
func Moves(from, to Layout) []Step {
	var steps []Step
	for g, want := range to.Groups {
		var have []string
		if g < len(from.Groups) {
			have = from.Groups[g]
		}
		for _, n := range want {
			if !slices.Contains(have, n) {
				steps = append(steps, Step{g, AddReplica, n})
			}
		}
		if len(want) > 0 && (len(have) == 0 || have[0] != want[0]) {
			steps = append(steps, Step{g, TransferLeader, want[0]})
		}
		for _, n := range have {
			if !slices.Contains(want, n) {
				steps = append(steps, Step{g, RemoveReplica, n})
			}
		}
	}
	return steps
}
