package shard

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The layout is set only in version order: a leader that planned from an
// old layout is refused, so it cannot undo a newer plan. A snapshot carries
// the layout, and a reader's copy never changes under it.
func TestSetLayoutInVersionOrder(t *testing.T) {
	m := NewGroupMachine(Layout{Meta: true, Base: 0, Count: 2, Groups: 2})
	seq := uint64(0)
	set := func(l GroupLayout) Result {
		seq++
		return m.Apply(Context{Seq: seq << 16}, &Command{Kind: CmdSetLayout, Layout: &l})
	}
	first := GroupLayout{Version: 1, Groups: [][]string{{"a", "b"}, {"b", "a"}}}
	if r := set(first); r.Code != OK {
		t.Fatalf("first layout: %s", r.Code)
	}
	held := m.Meta.Layout()
	if r := set(GroupLayout{Version: 1, Groups: [][]string{{"c"}, {"c"}}}); r.Code != ValidationError {
		t.Fatalf("a second version 1: %s, want VALIDATION_ERROR", r.Code)
	}
	if r := set(GroupLayout{Version: 3}); r.Code != ValidationError {
		t.Fatalf("version 3 after 1: %s, want VALIDATION_ERROR", r.Code)
	}
	second := GroupLayout{Version: 2, Groups: [][]string{{"b", "c"}, {"c", "b"}}, Leaving: []string{"a"}}
	if r := set(second); r.Code != OK {
		t.Fatalf("version 2: %s", r.Code)
	}
	if d := cmp.Diff(first, held); d != "" {
		t.Fatalf("the layout read before the change changed (-want +got):\n%s", d)
	}
	if !second.Holds(1, "b") || second.Holds(0, "a") || !second.IsLeaving("a") {
		t.Fatal("Holds or IsLeaving misread the layout")
	}
	restored, err := ReadMachine(snapshotBytes(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(second, restored.Meta.Layout()); d != "" {
		t.Fatalf("the snapshot lost the layout (-want +got):\n%s", d)
	}
}
