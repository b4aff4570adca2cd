package raftfsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/shard"
)

// machineApplier runs commands on a shard.Machine and records Settle calls.
type machineApplier struct {
	m       *shard.Machine
	settled []uint64
	tags    []Tag
}

func (a *machineApplier) Apply(ctxs []shard.Context, cmds []*shard.Command, res []shard.Result) {
	for i, c := range cmds {
		res[i] = a.m.Apply(ctxs[i], c)
	}
}
func (a *machineApplier) Freeze() *shard.Frozen    { return a.m.Freeze() }
func (a *machineApplier) Restore(m *shard.Machine) { a.m = m }
func (a *machineApplier) Settle(index uint64, tags []Tag, res []shard.Result) {
	a.settled = append(a.settled, index)
	a.tags = append(a.tags, tags...)
}

type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

// Settle follows every batch with its last index (configuration entries
// included) and the commands' tags; a snapshot carries the index, so a
// restored node knows how far its state reaches.
func TestSettleAndSnapshotIndex(t *testing.T) {
	a := &machineApplier{m: shard.NewMachine(2)}
	f := New(a, Observer{})
	var b EntryBuilder
	b.Add(Tag{Origin: 7, Seq: 1}, &shard.Command{Kind: shard.CmdCreateProject, Name: "p"})
	b.Add(Tag{}, &shard.Command{Kind: shard.CmdCreateProject, Name: "q"})
	out := f.ApplyBatch([]*raft.Log{
		{Index: 10, Type: raft.LogCommand, Data: b.Entry(1)},
		{Index: 11, Type: raft.LogConfiguration},
	})
	if res := out[0].([]shard.Result); len(res) != 2 || res[0].Code != shard.OK {
		t.Fatalf("results: %+v", out)
	}
	if len(a.settled) != 1 || a.settled[0] != 11 || len(a.tags) != 2 || a.tags[0] != (Tag{7, 1}) || a.tags[1] != (Tag{}) {
		t.Fatalf("settle: indexes %v tags %v", a.settled, a.tags)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	b2 := &machineApplier{}
	if err := New(b2, Observer{}).Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if len(b2.settled) != 1 || b2.settled[0] != 11 || len(b2.m.Meta.Projects()) != 2 {
		t.Fatalf("restored: settled %v, %d projects", b2.settled, len(b2.m.Meta.Projects()))
	}
	// A snapshot from before the index was kept (lastMs, then the machine)
	// still restores, with index 0 until the log tail moves it.
	old := binary.LittleEndian.AppendUint64(nil, 5)
	old = append(old, sink.Bytes()[snapshotHeaderBytes+4:]...) // v3: an empty fence table
	b3 := &machineApplier{}
	if err := New(b3, Observer{}).Restore(io.NopCloser(bytes.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if len(b3.settled) != 1 || b3.settled[0] != 0 || len(b3.m.Meta.Projects()) != 2 {
		t.Fatalf("old snapshot: settled %v", b3.settled)
	}
}

// A fence stops every command of its origin up to its mark from applying,
// from its place in the log on, in the same batch and later ones, and
// after a snapshot restore; other origins and later commands apply.
func TestFencedCommandsNeverApply(t *testing.T) {
	a := &machineApplier{m: shard.NewMachine(1)}
	f := New(a, Observer{})
	project := func(name string) *shard.Command { return &shard.Command{Kind: shard.CmdCreateProject, Name: name} }
	index := uint64(0)
	apply := func(f *FSM, cmds ...any) []shard.Result {
		var b EntryBuilder
		for i := 0; i < len(cmds); i += 2 {
			b.Add(cmds[i].(Tag), cmds[i+1].(*shard.Command))
		}
		index++
		return f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: b.Entry(1)}})[0].([]shard.Result)
	}
	apply(f, Tag{7, 1}, project("before the fence"))
	res := apply(f,
		Tag{7, 3}, project("sent before, applied before the fence"),
		Tag{7, 10}, &shard.Command{Kind: shard.CmdFence, Fence: 5},
		Tag{7, 4}, project("fenced, same entry"),
		Tag{7, 6}, project("above the mark"),
		Tag{8, 2}, project("another node"))
	if IsFenced(res[0]) || !IsFenced(res[2]) || IsFenced(res[3]) || IsFenced(res[4]) {
		t.Fatalf("fenced: %v %v %v %v", IsFenced(res[0]), IsFenced(res[2]), IsFenced(res[3]), IsFenced(res[4]))
	}
	if res := apply(f, Tag{7, 5}, project("fenced, later entry")); !IsFenced(res[0]) {
		t.Fatal("a later entry's fenced command applied")
	}
	snap, _ := f.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	b := &machineApplier{}
	g := New(b, Observer{})
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if res := apply(g, Tag{7, 2}, project("fenced, after restore"), Tag{7, 11}, project("after")); !IsFenced(res[0]) || IsFenced(res[1]) {
		t.Fatal("the fence did not survive the snapshot")
	}
	want := []string{"before the fence", "sent before, applied before the fence", "above the mark", "another node", "after"}
	var got []string
	for _, p := range b.m.Meta.Projects() {
		got = append(got, p.Name)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("projects %q, want %q", got, want)
	}
}
