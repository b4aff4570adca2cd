package raftfsm

import (
	"bytes"
	"encoding/binary"
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
	old = append(old, sink.Bytes()[snapshotHeaderBytes:]...)
	b3 := &machineApplier{}
	if err := New(b3, Observer{}).Restore(io.NopCloser(bytes.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if len(b3.settled) != 1 || b3.settled[0] != 0 || len(b3.m.Meta.Projects()) != 2 {
		t.Fatalf("old snapshot: settled %v", b3.settled)
	}
}
