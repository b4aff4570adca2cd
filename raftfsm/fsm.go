package raftfsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

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
	// Settle follows every ApplyBatch and Restore: the state now reflects
	// the log up to index, and tags[i] (zero if untagged) proposed the
	// command whose result is res[i]. Both slices are empty after a Restore
	// or a batch without commands.
	Settle(index uint64, tags []Tag, res []shard.Result)
}

// Observer is told what the FSM does, for metrics and logs. Any field may
// be nil. Calls come from Raft's FSM goroutine (Persisted: its snapshot
// goroutine) and must be quick.
type Observer struct {
	// Applied: one ApplyBatch of this many command entries and commands.
	Applied func(entries, commands int, took time.Duration)
	// Entry: one command entry of this many commands (the batch size the
	// proposer achieved).
	Entry func(commands int)
	// Frozen: Snapshot held the state (writes paused) for took.
	Frozen func(took time.Duration)
	// Persisted: a snapshot of this many bytes was written in took.
	Persisted func(bytes int64, took time.Duration, err error)
}

// FSM implements raft.BatchingFSM over an Applier. Raft calls Apply,
// ApplyBatch, Snapshot and Restore from one goroutine, never concurrently.
type FSM struct {
	applier Applier
	obs     Observer
	lastMs  int64             // the greatest time stamp applied: time never goes back
	index   uint64            // the last log index applied (commands and configurations)
	fenced  map[uint64]uint64 // origin → its highest sequence number fenced off

	// scratch reused across batches (only the FSM goroutine touches it)
	ctxs     []shard.Context
	cmds     []*shard.Command
	tags     []Tag
	skipping bool // the batch has a fence or a fenced command
}

// New returns an FSM over a that reports to obs.
func New(a Applier, obs Observer) *FSM {
	return &FSM{applier: a, obs: obs, fenced: map[uint64]uint64{}}
}

// Fences. A node whose forwarded commands' fate became unknown (the link to
// the leader broke before the answer) proposes a CmdFence with the highest
// sequence number it sent: from that point in the log, none of its
// commands up to it applies, wherever it may still be (a queue on the old
// leader, an entry a later leader commits). Every replica skips the same
// commands, and once the fence is applied the node knows each of them
// either applied before it (and was settled) or never will. The table is
// replicated state: snapshots carry it.

// fencedMarker marks a command skipped by a fence.
type fencedMarker struct{}

// Fenced is the result Settle gets for a command a fence skipped.
var Fenced = shard.Result{Value: fencedMarker{}}

// IsFenced reports whether r is the result of a command a fence skipped.
func IsFenced(r shard.Result) bool { _, ok := r.Value.(fencedMarker); return ok }

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
	start := time.Now()
	out := make([]any, len(logs))
	f.ctxs, f.cmds, f.tags, f.skipping = f.ctxs[:0], f.cmds[:0], f.tags[:0], false
	type span struct{ log, from, to int }
	spans := make([]span, 0, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		e, err := DecodeEntry(l.Data)
		if errors.Is(err, shard.ErrUnknownKind) {
			panic(fmt.Sprintf("raftfsm: committed log %d holds %v: every node of a cluster must run the same version; start this one on the version the others run", l.Index, err))
		}
		if err != nil {
			panic(fmt.Sprintf("raftfsm: committed log %d does not decode: %v", l.Index, err))
		}
		f.lastMs = max(f.lastMs, e.TimeMs)
		from := len(f.cmds)
		for j := range e.Commands {
			f.ctxs = append(f.ctxs, shard.Context{Seq: l.Index<<16 | uint64(j), TimeMs: f.lastMs})
			f.cmds = append(f.cmds, &e.Commands[j])
			var t Tag
			if e.Tags != nil {
				t = e.Tags[j]
			}
			f.tags = append(f.tags, t)
			if t.Origin != 0 && (e.Commands[j].Kind == shard.CmdFence || t.Seq <= f.fenced[t.Origin]) {
				f.skipping = true
			}
		}
		spans = append(spans, span{i, from, len(f.cmds)})
		if f.obs.Entry != nil {
			f.obs.Entry(len(e.Commands))
		}
	}
	var res []shard.Result
	if len(f.cmds) > 0 {
		res = make([]shard.Result, len(f.cmds)) // handed to waiters: not reused
		if f.skipping {
			f.applyFenced(res)
		} else {
			f.applier.Apply(f.ctxs, f.cmds, res)
		}
		for _, s := range spans {
			out[s.log] = res[s.from:s.to:s.to]
		}
		clear(f.cmds) // drop references to decoded commands
	}
	if len(logs) > 0 {
		f.index = logs[len(logs)-1].Index
		f.applier.Settle(f.index, f.tags, res)
	}
	if f.obs.Applied != nil && len(spans) > 0 {
		f.obs.Applied(len(spans), len(f.cmds), time.Since(start))
	}
	return out
}

// applyFenced applies a batch that holds fences or fenced commands, in log
// order: a fence raises its origin's mark (its result is OK), a command at
// or below its origin's mark gets Fenced and no apply, the rest apply.
func (f *FSM) applyFenced(res []shard.Result) {
	var ctxs []shard.Context
	var cmds []*shard.Command
	var at []int
	for i, c := range f.cmds {
		t := f.tags[i]
		switch {
		case t.Origin != 0 && c.Kind == shard.CmdFence:
			f.fenced[t.Origin] = max(f.fenced[t.Origin], c.Fence)
		case t.Origin != 0 && t.Seq <= f.fenced[t.Origin]:
			res[i] = Fenced
		default:
			ctxs, cmds, at = append(ctxs, f.ctxs[i]), append(cmds, c), append(at, i)
		}
	}
	if len(cmds) == 0 {
		return
	}
	sub := make([]shard.Result, len(cmds))
	f.applier.Apply(ctxs, cmds, sub)
	for j, i := range at {
		res[i] = sub[j]
	}
}

// Snapshot freezes the state; Persist encodes it on Raft's snapshot goroutine.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	start := time.Now()
	s := &snapshot{lastMs: f.lastMs, index: f.index, fenced: maps.Clone(f.fenced), frozen: f.applier.Freeze(), persisted: f.obs.Persisted}
	if f.obs.Frozen != nil {
		f.obs.Frozen(time.Since(start))
	}
	return s, nil
}

// Restore replaces the state with a snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	var lastMs int64
	var index uint64
	fenced := map[uint64]uint64{}
	switch {
	case len(data) >= snapshotHeaderBytes+4 && [4]byte(data[:4]) == snapshotMagic:
		lastMs = int64(binary.LittleEndian.Uint64(data[4:]))
		index = binary.LittleEndian.Uint64(data[12:])
		n := int(binary.LittleEndian.Uint32(data[snapshotHeaderBytes:]))
		data = data[snapshotHeaderBytes+4:]
		if n > len(data)/16 {
			return fmt.Errorf("raftfsm: snapshot fence table: %d entries in %d bytes", n, len(data))
		}
		for range n {
			fenced[binary.LittleEndian.Uint64(data)] = binary.LittleEndian.Uint64(data[8:])
			data = data[16:]
		}
	case len(data) >= snapshotHeaderBytes && [4]byte(data[:4]) == snapshotMagicV2:
		lastMs = int64(binary.LittleEndian.Uint64(data[4:]))
		index = binary.LittleEndian.Uint64(data[12:])
		data = data[snapshotHeaderBytes:]
	case len(data) >= 8: // version 1: lastMs only; the index is learnt from the log tail
		lastMs = int64(binary.LittleEndian.Uint64(data))
		data = data[8:]
	default:
		return fmt.Errorf("raftfsm: snapshot too short")
	}
	m, err := shard.ReadMachine(data)
	if err != nil {
		return err
	}
	f.lastMs, f.index, f.fenced = lastMs, index, fenced
	f.applier.Restore(m)
	f.applier.Settle(f.index, nil, nil)
	return nil
}

// A snapshot starts with a header: magic, lastMs u64le, applied index
// u64le; then (version 3) the fence table: a count u32le and per origin
// the origin and its mark, u64le each.
const snapshotHeaderBytes = 4 + 8 + 8

var (
	snapshotMagic   = [4]byte{'C', 'W', 'S', '3'}
	snapshotMagicV2 = [4]byte{'C', 'W', 'S', '2'} // no fence table
)

type snapshot struct {
	lastMs    int64
	index     uint64
	fenced    map[uint64]uint64
	frozen    *shard.Frozen
	persisted func(bytes int64, took time.Duration, err error)
}

// Persist writes the header, then the machine's encoding.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	w := bufio.NewWriterSize(sink, 1<<20)
	var hdr [snapshotHeaderBytes]byte
	copy(hdr[:], snapshotMagic[:])
	binary.LittleEndian.PutUint64(hdr[4:], uint64(s.lastMs))
	binary.LittleEndian.PutUint64(hdr[12:], s.index)
	b := binary.LittleEndian.AppendUint32(hdr[:], uint32(len(s.fenced)))
	for origin, mark := range s.fenced {
		b = binary.LittleEndian.AppendUint64(b, origin)
		b = binary.LittleEndian.AppendUint64(b, mark)
	}
	size, err := w.Write(b)
	var n int64
	if err == nil {
		n, err = s.frozen.WriteTo(w)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		sink.Cancel()
	} else {
		err = sink.Close()
	}
	if s.persisted != nil {
		s.persisted(int64(size)+n, time.Since(start), err)
	}
	return err
}

func (s *snapshot) Release() {}
