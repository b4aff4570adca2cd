package shard

import "testing"

// A cluster's meta group holds the meta partition and no shard, so its
// copies on every node apply none of the data's log; a data group holds
// its S shards and no meta. Each refuses what belongs to the other, and a
// snapshot keeps which one it is.
func TestMetaGroupAndDataGroupsHoldApart(t *testing.T) {
	meta, data := MetaGroup(3), DataGroup(1, 3, 2)
	if !meta.Valid() || !data.Valid() {
		t.Fatalf("valid layouts refused: %+v %+v", meta, data)
	}
	for _, bad := range []Layout{{Groups: 3}, {Meta: true, Base: 2, Groups: 3}, {Base: 1, Count: 2, Groups: 3}, {Base: 6, Count: 2, Groups: 3}} {
		if bad.Valid() {
			t.Errorf("%+v counted as valid", bad)
		}
	}
	if !meta.HoldsMeta() || data.HoldsMeta() {
		t.Fatal("HoldsMeta: only the meta group holds it")
	}
	if _, held := meta.Partition(0); held {
		t.Fatal("the meta group claims shard 0")
	}
	if p, held := data.Partition(3); !held || p != 2 {
		t.Fatalf("data group 1 of 2 shards each: shard 3 is partition %d (%v), want 2", p, held)
	}

	m, d := NewGroupMachine(meta), NewGroupMachine(data)
	seq := uint64(0)
	apply := func(m *Machine, c Command) Result {
		seq++
		return m.Apply(Context{Seq: seq << 16, TimeMs: 1000}, &c)
	}
	r := apply(m, Command{Kind: CmdCreateProject, Name: "p", GroupCount: 2})
	if r.Code != OK {
		t.Fatalf("create project in the meta group: %s", r.Code)
	}
	if got := r.Value.(ProjectView).Groups; len(got) != 2 || got[1] >= 3 {
		t.Fatalf("the project got groups %v of the 3 data groups", got)
	}
	if r := apply(d, Command{Kind: CmdCreateProject, Name: "p"}); r.Code != ValidationError {
		t.Fatalf("create project in a data group: %s, want it refused", r.Code)
	}
	if r := apply(m, Command{Kind: CmdUpsertCustomer, Customer: "c", Shard: 0}); r.Code != ValidationError {
		t.Fatalf("a customer in the meta group: %s, want it refused", r.Code)
	}
	if r := apply(d, Command{Kind: CmdUpsertCustomer, Customer: "c", Shard: 3}); r.Code != OK {
		t.Fatalf("a customer in its data group: %s", r.Code)
	}
	restored, err := ReadMachine(snapshotBytes(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if restored.Layout != meta || len(restored.Shards) != 0 || restored.Meta.Project(0) == nil {
		t.Fatalf("the meta group's snapshot restored as %+v with %d shards", restored.Layout, len(restored.Shards))
	}
}
