package topology

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// Any sequence of joins and removes, with any group count and replica
// count: every group on exactly min(R, N) distinct live nodes, no node
// holding two replicas more than another, leaderships spread the same way
// among each group's replicas, planning again changes nothing, a join
// moves no more replicas than the new node's share, and the steps from
// one layout to the next lead there without a group ever having fewer
// replicas than at both ends.
func TestPlanAfterJoinsAndRemoves(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		groups := rapid.IntRange(1, 12).Draw(t, "groups")
		r := rapid.IntRange(1, 5).Draw(t, "replicas")
		nodes := []string{"n0"}
		next := 1
		l, err := Plan(Layout{}, nodes, groups, r)
		if err != nil {
			t.Fatal(err)
		}
		check(t, l, nodes, groups, r)
		for range rapid.IntRange(1, 20).Draw(t, "changes") {
			prev := l
			joined := len(nodes) == 1 || rapid.IntRange(0, 2).Draw(t, "join or remove") > 0
			if joined {
				nodes = append(nodes, fmt.Sprintf("n%d", next))
				next++
			} else {
				i := rapid.IntRange(0, len(nodes)-1).Draw(t, "removed")
				nodes = slices.Delete(slices.Clone(nodes), i, i+1)
			}
			if l, err = Plan(prev, nodes, groups, r); err != nil {
				t.Fatal(err)
			}
			check(t, l, nodes, groups, r)
			if again, _ := Plan(l, nodes, groups, r); !equal(again, l) {
				t.Fatalf("planning again moved replicas:\n%v\n%v", l, again)
			}
			if joined {
				share := (groups*min(r, len(nodes)) + len(nodes) - 1) / len(nodes)
				if moved := replicasMoved(prev, l); moved > share {
					t.Fatalf("a join moved %d replicas, more than the new node's share %d:\n%v\n%v", moved, share, prev, l)
				}
			}
			replay(t, prev, l)
		}
	})
}

// With no more nodes than replicas, every node holds every group.
func TestPlanFewNodesHoldEverything(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	l, err := Plan(Layout{}, nodes, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	for g, rs := range l.Groups {
		if !sameSet(rs, nodes) {
			t.Fatalf("group %d on %v, want every node", g, rs)
		}
	}
	// Leaders: 4 groups over 3 nodes, no node leading two more than another.
	check(t, l, nodes, 4, 3)
}

func TestPlanRefusesBadInput(t *testing.T) {
	for name, run := range map[string]func() error{
		"no nodes":    func() error { _, err := Plan(Layout{}, nil, 3, 3); return err },
		"no groups":   func() error { _, err := Plan(Layout{}, []string{"a"}, 0, 3); return err },
		"no replicas": func() error { _, err := Plan(Layout{}, []string{"a"}, 3, 0); return err },
		"a node twice": func() error {
			_, err := Plan(Layout{}, []string{"a", "a"}, 3, 3)
			return err
		},
	} {
		if run() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

type fataler interface {
	Fatalf(format string, args ...any)
}

func check(t fataler, l Layout, nodes []string, groups, r int) {
	if len(l.Groups) != groups {
		t.Fatalf("%d groups, want %d", len(l.Groups), groups)
	}
	load, leads := map[string]int{}, map[string]int{}
	for g, rs := range l.Groups {
		if len(rs) != min(r, len(nodes)) {
			t.Fatalf("group %d on %d nodes %v, want %d", g, len(rs), rs, min(r, len(nodes)))
		}
		for i, n := range rs {
			if !slices.Contains(nodes, n) || slices.Contains(rs[:i], n) {
				t.Fatalf("group %d on %v: %q is not live or is there twice (live: %v)", g, rs, n, nodes)
			}
			load[n]++
		}
		leads[rs[0]]++
	}
	if lo, hi := spread(load, nodes); hi-lo > 1 {
		t.Fatalf("replicas per node from %d to %d: %v", lo, hi, l)
	}
	if lo, hi := spread(leads, nodes); hi-lo > 1 {
		t.Fatalf("leaderships per node from %d to %d: %v", lo, hi, l)
	}
}

func spread(count map[string]int, nodes []string) (lo, hi int) {
	lo = count[nodes[0]]
	for _, n := range nodes {
		lo, hi = min(lo, count[n]), max(hi, count[n])
	}
	return lo, hi
}

// replay applies the steps from prev to next one at a time, checking each
// group never has fewer replicas than at both ends, and that it ends at next.
func replay(t fataler, prev, next Layout) {
	cur := prev.Clone()
	for len(cur.Groups) < len(next.Groups) {
		cur.Groups = append(cur.Groups, nil)
	}
	for _, s := range Moves(prev, next) {
		rs := cur.Groups[s.Group]
		switch s.Kind {
		case AddReplica:
			rs = append(rs, s.Node)
		case TransferLeader:
			at := slices.Index(rs, s.Node)
			if at < 0 {
				t.Fatalf("leadership of group %d to %s, not a replica: %v", s.Group, s.Node, rs)
			}
			rs[0], rs[at] = rs[at], rs[0]
		case RemoveReplica:
			rs = slices.DeleteFunc(rs, func(n string) bool { return n == s.Node })
			var had int
			if s.Group < len(prev.Groups) {
				had = len(prev.Groups[s.Group])
			}
			if len(rs) < min(had, len(next.Groups[s.Group])) {
				t.Fatalf("group %d down to %d replicas mid-move", s.Group, len(rs))
			}
		}
		cur.Groups[s.Group] = rs
	}
	for g := range next.Groups {
		if !sameSet(cur.Groups[g], next.Groups[g]) || cur.Groups[g][0] != next.Groups[g][0] {
			t.Fatalf("group %d after the steps: %v, want %v", g, cur.Groups[g], next.Groups[g])
		}
	}
}

// replicasMoved counts the replicas next has that prev did not.
func replicasMoved(prev, next Layout) int {
	n := 0
	for g, rs := range next.Groups {
		for _, x := range rs {
			if g >= len(prev.Groups) || !slices.Contains(prev.Groups[g], x) {
				n++
			}
		}
	}
	return n
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func equal(a, b Layout) bool {
	return slices.EqualFunc(a.Groups, b.Groups, func(x, y []string) bool { return slices.Equal(x, y) })
}
