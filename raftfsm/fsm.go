package raftfsm

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Applier is the state the FSM drives; the engine implements it.
type Applier interface {
	// Apply runs the commands in order (the engine may run commands on
	// disjoint partitions in parallel) and stores each one's result in res.
	Apply(ctxs []shard.Context, cmds []*shard.Command, res []shard.Result)
	// Freeze copies the state between two applies; see shard.Machine.Freeze.
	Freeze() *shard.Frozen
	// Restore replaces the whole state.
	Restore(m *shard.Machine)
}

// FSM implements raft.BatchingFSM over an Applier. Raft calls Apply,
// ApplyBatch, Snapshot and Restore from one goroutine, never concurrently.
type FSM struct {
	applier Applier
	lastMs  int64 // the greatest time stamp applied: time never goes back

	// scratch reused across batches (only the FSM goroutine touches it)
	ctxs []shard.Context
	cmds []*shard.Command
	res  []shard.Result
}

// New returns an FSM over a.
func New(a Applier) *FSM { return &FSM{applier: a} }

var _ raft.BatchingFSM = (*FSM)(nil)

// Apply applies one log; Raft uses ApplyBatch, this satisfies raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch decodes every command entry and applies all their commands as
// one schedule. The response for a command entry is its []shard.Result.
//
// A committed entry that does not decode is a broken invariant (the leader
// encoded it and the log store checksummed it): the node stops rather than
// diverge from its peers.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.ctxs, f.cmds = f.ctxs[:0], f.cmds[:0]
	type span struct{ log, from, to int }
	spans := make([]span, 0, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		e, err := DecodeEntry(l.Data)
		if err != nil {
			panic(fmt.Sprintf("raftfsm: committed log %d does not decode: %v", l.Index, err))
		}
		f.lastMs = max(f.lastMs, e.TimeMs)
		from := len(f.cmds)
		for j := range e.Commands {
			f.ctxs = append(f.ctxs, shard.Context{Seq: l.Index<<16 | uint64(j), TimeMs: f.lastMs})
			f.cmds = append(f.cmds, &e.Commands[j])
		}
		spans = append(spans, span{i, from, len(f.cmds)})
	}
	if len(f.cmds) > 0 {
		res := make([]shard.Result, len(f.cmds)) // handed to waiters: not reused
		f.applier.Apply(f.ctxs, f.cmds, res)
		for _, s := range spans {
			out[s.log] = res[s.from:s.to:s.to]
		}
		clear(f.cmds) // drop references to decoded commands
	}
	return out
}

// Snapshot freezes the state; Persist encodes it on Raft's snapshot goroutine.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{lastMs: f.lastMs, frozen: f.applier.Freeze()}, nil
}

// Restore replaces the state with a snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if len(data) < 8 {
		return fmt.Errorf("raftfsm: snapshot too short")
	}
	m, err := shard.ReadMachine(data[8:])
	if err != nil {
		return err
	}
	f.lastMs = int64(binary.LittleEndian.Uint64(data))
	f.applier.Restore(m)
	return nil
}

type snapshot struct {
	lastMs int64
	frozen *shard.Frozen
}

// Persist writes: lastMs u64le, then the machine's encoding.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(s.lastMs))
	_, err := w.Write(hdr[:])
	if err == nil {
		_, err = s.frozen.WriteTo(w)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
