package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/cloudwallet/cloudwallet/wal"
)

// replica is this node's member of one shard group: Raft, the log stores,
// the FSM and its partition workers, and the proposer.
//
// Owners: the fields down to observer are set while the replica opens and
// read-only after. The proposer goroutine owns lastMs; the FSM goroutine
// owns restored. pend, applied, fwd and the rounds guard themselves; the
// atomics are written where their comments say.
type replica struct {
	n         *Node // config, id, tag origin, internal port, calls, key cache
	group     int
	layout    shard.Layout
	parts     *group
	fsm       *raftfsm.FSM
	raft      *raft.Raft
	transport *raft.NetworkTransport
	logs      raft.LogStore // what Raft appends to; read by the lost-entry probe's answers
	closers   []io.Closer
	log       *slog.Logger
	metrics   *metrics
	observer  *raft.Observer

	proposals  chan *proposal
	inflight   chan struct{}
	closing    chan struct{}
	proposer   sync.WaitGroup
	lastMs     int64 // greatest time stamp proposed (proposer goroutine only)
	pend       *pending
	applied    appliedIndex
	restored   bool          // a snapshot was just restored (FSM goroutine only)
	restoredAt atomic.Uint64 // the index of the last snapshot restored
	fwd        forwarder

	localReads  rounds        // read indexes this node serves as leader
	remoteReads rounds        // read indexes asked of the leader
	readyTerm   atomic.Uint64 // the term whose marker entry is applied
	marking     atomic.Bool
	probing     atomic.Bool // a lost-entry probe is running (lostprobe.go)
	// noLeaderSince is when this replica lost its leader (Unix ns; 0 while
	// it knows one). Written by the leader watcher.
	noLeaderSince atomic.Int64
	caughtUp      atomic.Bool // the log as it stood at start has been applied
	// voter: this node is a voter in the replica's latest configuration
	// (shardGroup.serving); set at open, then by the arranger each round.
	voter atomic.Bool
}

// openReplica starts this node's replica of a group. bootstrap makes it
// the group's first voter (a new cluster's first node); otherwise it waits
// for a leader to add it, or carries on from the state it has.
func (n *Node) openReplica(sg *shardGroup, bootstrap bool) (*replica, error) {
	g, layout := sg.group, sg.layout
	rp := &replica{
		n: n, group: g, layout: layout, log: n.log.With("group", g),
		proposals: make(chan *proposal, n.cfg.ProposalQueueMax),
		inflight:  make(chan struct{}, n.cfg.EntriesInFlightMax),
		closing:   make(chan struct{}),
		pend:      newPending(),
	}
	rp.fwd.rp = rp
	rp.parts = newGroup(shard.NewGroupMachine(layout))
	rp.metrics = sg.metrics
	rp.localReads.fn, rp.remoteReads.fn = rp.leaderReadIndex, rp.askLeaderReadIndex
	rp.localReads.counted, rp.remoteReads.counted = rp.metrics.readRounds("leader"), rp.metrics.readRounds("asked")
	rp.fsm = raftfsm.New(rp, rp.fsmObserver())
	if err := rp.startRaft(bootstrap); err != nil {
		rp.closeStores()
		rp.parts.close()
		return nil, err
	}
	rp.noteSuffrage()
	rp.watchLeader()
	rp.proposer.Add(1)
	go rp.proposeLoop()
	return rp, nil
}

// noteSuffrage records whether this node is a voter of the group, as the
// replica's latest configuration says.
func (rp *replica) noteSuffrage() {
	voter := false
	for _, s := range rp.servers() {
		voter = voter || (string(s.ID) == rp.n.id && s.Suffrage == raft.Voter)
	}
	rp.voter.Store(voter)
}

// watchLeader counts and logs leader changes.
func (rp *replica) watchLeader() {
	ch := make(chan raft.Observation, 16)
	rp.observer = raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	rp.raft.RegisterObserver(rp.observer)
	rp.proposer.Add(1)
	go func() {
		defer rp.proposer.Done()
		for {
			select {
			case o := <-ch:
				lo := o.Data.(raft.LeaderObservation)
				rp.metrics.leaderChanges.Inc()
				rp.log.Info("leader changed", "leader", string(lo.LeaderID), "leaderAddr", string(lo.LeaderAddr))
				rp.fwd.leaderIs(string(lo.LeaderAddr))
				if lo.LeaderID == "" {
					rp.noLeaderSince.CompareAndSwap(0, time.Now().UnixNano())
				} else {
					rp.noLeaderSince.Store(0)
				}
				if string(lo.LeaderID) == rp.n.id {
					rp.ensureMarked()
				}
			case <-rp.closing:
				return
			}
		}
	}()
}

// dataDir is where this group's Raft stores live: the data dir itself for
// the meta group, group-G beside it for data group G.
func (rp *replica) dataDir() (string, error) {
	if rp.layout.HoldsMeta() {
		return rp.n.cfg.DataDir, nil
	}
	dir := groupDir(rp.n.cfg.DataDir, rp.group)
	return dir, wal.MkdirAllDurable(dir, 0o700)
}

// groupDir is where data group g's stores live in a data dir.
func groupDir(dataDir string, g int) string {
	return filepath.Join(dataDir, fmt.Sprintf("group-%d", g))
}

func (rp *replica) startRaft(bootstrap bool) error {
	dir, err := rp.dataDir()
	if err != nil {
		return err
	}
	logger := newRaftLogger(rp.log, rp.n.cfg.RaftLogLevel)
	stable, err := wal.NewBoltStore(filepath.Join(dir, "raft-stable.db"))
	if err != nil {
		return fmt.Errorf("engine: stable store: %w", err)
	}
	rp.closers = append(rp.closers, stable)
	var logs raft.LogStore
	if rp.n.cfg.LogStore == "bolt" {
		b, err := wal.NewBoltStore(filepath.Join(dir, "raft-log.db"))
		if err != nil {
			return fmt.Errorf("engine: bolt log store: %w", err)
		}
		rp.closers, logs = append(rp.closers, b), b
	} else {
		logs = rp.n.log1.Group(uint32(rp.group)) // the node's one log; the node closes it
	}
	if err := wal.MkdirAllDurable(filepath.Join(dir, "snapshots"), 0o700); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "snapshots"), rp.n.cfg.SnapshotsRetained, logger)
	if err != nil {
		return err
	}
	// The stores may have just made their files (bolt does not fsync the
	// directory that names its file): make the names durable before any
	// write is acknowledged.
	if err := wal.SyncDir(dir); err != nil {
		return err
	}
	rp.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: rp.n.mux.Stream(uint16(rp.group)), MaxPool: 3, Timeout: 10 * time.Second, Logger: logger,
		// One AppendEntries in flight per follower: no pipeline. In
		// hashicorp/raft 1.7's pipeline, the decoder stops at a rejected
		// append or a newer term, and a send racing that stop parks for
		// good (its channels are unbuffered at the default of 2 in
		// flight): the follower gets no more entries while heartbeats
		// keep it from calling an election, and Shutdown of the group
		// waits forever. Seen here as a six-node cluster whose arranger
		// hung closing a moved group (goroutine dump: pipelineSend parked
		// in netPipeline.AppendEntries). Entries carry batches of
		// commands, so the pipeline bought little (hashicorp/raft#541).
		MaxRPCsInFlight: 1,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(rp.n.id)
	rc.Logger = logger
	rc.HeartbeatTimeout = rp.n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = rp.n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = rp.n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = rp.n.cfg.CommitTimeout
	rc.SnapshotThreshold = rp.n.cfg.SnapshotThreshold
	rc.SnapshotInterval = rp.n.cfg.SnapshotInterval
	rc.TrailingLogs = rp.n.cfg.TrailingLogs
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	logs = meteredLogStore{LogStore: logs, m: rp.metrics}
	rp.logs = logs
	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return err
	}
	if !existing && bootstrap {
		conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: rp.transport.LocalAddr()}}}
		if err := raft.BootstrapCluster(rc, logs, stable, snaps, rp.transport, conf); err != nil {
			return fmt.Errorf("engine: bootstrap: %w", err)
		}
	}
	rp.raft, err = raft.NewRaft(rc, rp.fsm, logs, stable, snaps, rp.transport)
	if err != nil {
		rp.transport.Close()
		return fmt.Errorf("engine: raft: %w", err)
	}
	return nil
}

// waitReady waits until a leader answers and this replica has applied the
// log up to the leader's commit index: its state is then current.
func (rp *replica) waitReady(ctx context.Context) error {
	index, err := rp.ReadIndex(ctx)
	if err != nil {
		return fmt.Errorf("engine: group %d: no leader answered: %w", rp.group, err)
	}
	if err := rp.applied.wait(ctx, index); err != nil {
		return fmt.Errorf("engine: group %d: replaying the log up to %d: %w", rp.group, index, err)
	}
	rp.caughtUp.Store(true)
	return nil
}

// checks reports what readiness needs of this group: a known leader, and
// the log applied up to where it stood when the node started.
func (rp *replica) checks() []Check {
	name := func(what string) string {
		if len(rp.n.groups) == 1 {
			return what
		}
		return fmt.Sprintf("%s (group %d)", what, rp.group)
	}
	var checks []Check
	addr, id := rp.raft.LeaderWithID()
	if id == "" {
		checks = append(checks, Check{name("leader"), false, "no leader known"})
	} else {
		checks = append(checks, Check{name("leader"), true, fmt.Sprintf("%s at %s", id, addr)})
	}
	applied := fmt.Sprintf("applied index %d, commit index %d", rp.applied.get(), rp.raft.CommitIndex())
	if rp.caughtUp.Load() {
		checks = append(checks, Check{name("applied"), true, "caught up: " + applied})
	} else {
		checks = append(checks, Check{name("applied"), false, "replaying the log: " + applied})
	}
	return checks
}

// close stops the replica: no new proposals, Raft shut down, stores
// closed. Proposals in flight end with ErrOutcomeUnknown.
func (rp *replica) close() error {
	close(rp.closing)
	rp.proposer.Wait()
	rp.raft.DeregisterObserver(rp.observer)
	// Shutdown waits for Raft's goroutines, and the stores below must
	// outlive them, so there is no giving up; a wait that goes on says so,
	// or a stuck close (the arranger waits behind it) would be silent.
	err := awaitSaying(func() error { return rp.raft.Shutdown().Error() }, closeSlowAfter, func(waited time.Duration) {
		rp.log.Warn("Raft has not shut down yet; closing the replica waits for it", "waited", waited.Round(time.Second).String())
	})
	rp.transport.Close()
	rp.fwd.close()
	rp.closeStores()
	rp.parts.close()
	return err
}

// closeSlowAfter is how long closing a replica waits between its warnings.
const closeSlowAfter = 10 * time.Second

// awaitSaying runs fn and waits for it, calling say with the time waited so
// far each time every passes without an end.
func awaitSaying(fn func() error, every time.Duration, say func(waited time.Duration)) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			say(time.Since(start))
		}
	}
}

func (rp *replica) closeStores() {
	for i := len(rp.closers) - 1; i >= 0; i-- {
		rp.closers[i].Close()
	}
	rp.closers = nil
}

// --- raftfsm.Applier ---

// Apply runs a schedule on the partition workers and keeps the key cache in
// step, before any waiter learns the result: a deleted key pair stops
// working the moment its delete is acknowledged.
func (rp *replica) Apply(ctxs []shard.Context, cmds []*shard.Command, res []shard.Result) {
	rp.parts.apply(ctxs, cmds, res)
	for i, c := range cmds {
		rp.metrics.countHeld(c, res[i])
		if res[i].Code != shard.OK {
			continue
		}
		switch c.Kind.Keys() {
		case shard.KeysPair:
			rp.n.keys.put(res[i].Value.(shard.KeyPair))
		case shard.KeysProject:
			rp.n.keys.addProject(res[i].Value.(shard.ProjectView))
		case shard.KeysLayout:
			l := res[i].Value.(shard.GroupLayout)
			rp.n.layout.Store(&l)
		case shard.KeysRevoked:
			// A group revokes only after the meta group deleted the key
			// pair; this node's meta replica may not have applied that
			// yet, and a read confirmed on this group must not accept it.
			rp.n.keys.revoke(c.KeyPair)
		}
	}
}

// Freeze copies the state while every partition is held.
func (rp *replica) Freeze() *shard.Frozen {
	var f *shard.Frozen
	rp.parts.readAll(func(m *shard.Machine) { f = m.Freeze() })
	return f
}

// Restore replaces the state with a snapshot's.
func (rp *replica) Restore(m *shard.Machine) {
	rp.restored = true
	rp.parts.restore(m)
	if rp.layout.HoldsMeta() {
		rp.n.keys.reset(m.Meta)
		l := m.Meta.Layout()
		rp.n.layout.Store(&l)
	}
	rp.metrics.recount(m)
}

// Settle hands this node's proposals their results and moves the applied
// index (which linearizable reads wait on).
func (rp *replica) Settle(index uint64, tags []raftfsm.Tag, res []shard.Result) {
	if rp.restored {
		rp.restoredAt.Store(index)
		rp.restored = false
	}
	rp.pend.settle(rp.n.origin, index, tags, res, rp.restoredAt.Load())
	rp.applied.set(index)
}

// markLost: a proposal's entry sits at index, unconfirmed (pending.lostAt).
// applied is read before restoredAt: Settle stores restoredAt before it
// moves applied, so an applied index that includes a restore is never
// paired with the restoredAt from before it.
//
// term is the term this node led in when it proposed the entry (0 if
// another node led). It is kept only if this node's log still holds an
// entry of that term at index: then that entry is the proposal's own (one
// leader per term), and the lost-entry probe may ask about it.
func (rp *replica) markLost(seq, index, term uint64) {
	if term != 0 {
		var e raft.Log
		if rp.logs.GetLog(index, &e) != nil || e.Term != term {
			term = 0
		}
	}
	applied := rp.applied.get()
	if rp.pend.lostAt(seq, index, term, applied, rp.restoredAt.Load()) {
		rp.ensureProbing()
	}
}

// --- writes ---

// leads reports whether this node leads the group.
func (rp *replica) leads() bool { return rp.raft.State() == raft.Leader }
