package shard

import (
	"fmt"
	"slices"
	"testing"
)

// New projects go to the least loaded groups, and a snapshot keeps the
// choice: a restored replica places the next project exactly as the one
// that never stopped.
func TestProjectsBalanceOverGroupsAndSurviveRestore(t *testing.T) {
	const groups, perGroup = 3, 2
	m := NewGroupMachine(Layout{Meta: true, Count: perGroup, Groups: groups})
	seq := uint64(0)
	create := func(m *Machine, k int) []uint16 {
		t.Helper()
		seq++
		r := m.Apply(Context{Seq: seq << 16, TimeMs: 1}, &Command{Kind: CmdCreateProject, Name: "p", GroupCount: k})
		if r.Code != OK {
			t.Fatalf("create with %d groups: %s", k, r.Code)
		}
		return r.Value.(ProjectView).Groups
	}
	for i, c := range []struct {
		k    int
		want []uint16
	}{
		{0, []uint16{0, 1, 2}}, // the default project: every group
		{1, []uint16{0}},
		{1, []uint16{1}},
		{1, []uint16{2}},
		{2, []uint16{0, 1}},
		{1, []uint16{2}},
		{1, []uint16{0}}, // the loads are uneven now: 4, 3, 3
	} {
		if got := create(m, c.k); !slices.Equal(got, c.want) {
			t.Fatalf("project %d (%d groups): placed in %v, want %v", i, c.k, got, c.want)
		}
	}
	restored, err := ReadMachine(snapshotBytes(t, m))
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= groups; k++ {
		a, b := create(m, k), create(restored, k)
		if !slices.Equal(a, b) {
			t.Fatalf("after restore, a project of %d groups goes to %v, and to %v without it", k, b, a)
		}
	}
	for _, k := range []int{-1, groups + 1} {
		seq++
		if r := m.Apply(Context{Seq: seq << 16}, &Command{Kind: CmdCreateProject, Name: "p", GroupCount: k}); r.Code != ValidationError {
			t.Fatalf("%d groups of %d: %s, want VALIDATION_ERROR", k, groups, r.Code)
		}
	}
}

// A project made near a node goes to the groups that node is the preferred
// leader of, as long as they are among the least loaded: balance comes
// first, nearness breaks ties. So one client per node, each making its own
// project, writes to a group its node leads.
func TestProjectsGoNearTheNodeThatMadeThemOnATie(t *testing.T) {
	const groups = 3
	m := NewGroupMachine(Layout{Meta: true, Count: 1, Groups: groups})
	seq := uint64(0)
	apply := func(c Command) Result {
		t.Helper()
		seq++
		r := m.Apply(Context{Seq: seq << 16, TimeMs: 1}, &c)
		if r.Code != OK {
			t.Fatalf("%s: %s", c.Kind, r.Code)
		}
		return r
	}
	apply(Command{Kind: CmdSetLayout, Layout: &GroupLayout{Version: 1, Groups: [][]string{
		{"node-a", "node-b", "node-c"}, {"node-c", "node-a", "node-b"}, {"node-b", "node-c", "node-a"}}}})
	create := func(near string, k int) []uint16 {
		t.Helper()
		return apply(Command{Kind: CmdCreateProjectNear, Name: "p", GroupCount: k, Near: near}).Value.(ProjectView).Groups
	}
	for i, c := range []struct {
		near string
		k    int
		want []uint16
	}{
		{"node-b", 1, []uint16{2}},    // node-b leads group 2
		{"node-c", 1, []uint16{1}},    // node-c leads group 1
		{"node-c", 1, []uint16{0}},    // group 1 has more projects now: balance wins
		{"node-a", 2, []uint16{0, 1}}, // loads 1, 1, 1: node-a's group 0, then the lowest
		{"node-x", 1, []uint16{2}},    // a node that leads nothing: the least loaded
		{"", 1, []uint16{0}},          // no node: the lowest of the least loaded
	} {
		if got := create(c.near, c.k); !slices.Equal(got, c.want) {
			t.Fatalf("project %d near %q (%d groups): placed in %v, want %v", i, c.near, c.k, got, c.want)
		}
	}
}

// A project's customers, referenceIds and system wallets land only on the
// shards of its groups, and spread over all of them.
func TestPlacementKeepsAProjectInItsGroups(t *testing.T) {
	pl := Placement{Groups: []uint16{1, 3}, PerGroup: 4}
	used := map[uint16]bool{}
	for i := range 2000 {
		key := fmt.Sprintf("key-%d", i)
		for _, s := range []uint16{pl.CustomerShard(7, key), pl.ReferenceShard(7, key), pl.SystemShard(uint32(i))} {
			if g := s / 4; g != 1 && g != 3 {
				t.Fatalf("%s: shard %d is in group %d, outside the project's groups %v", key, s, g, pl.Groups)
			}
			used[s] = true
		}
	}
	if len(used) != pl.Shards() {
		t.Fatalf("keys used %d shards, want all %d of the project's", len(used), pl.Shards())
	}
	c := Command{Kind: CmdUpsertCustomer, Project: 7, Customer: "alice"}
	pl.Home(&c)
	if c.Shard != pl.CustomerShard(7, "alice") {
		t.Fatalf("Home put a customer on shard %d, want %d", c.Shard, pl.CustomerShard(7, "alice"))
	}
}
