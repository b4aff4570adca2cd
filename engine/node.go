package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/cloudwallet/cloudwallet/transport/peer"
	"github.com/cloudwallet/cloudwallet/wal"
)

// Operating errors of the engine. The transport maps them to HTTP.
var (
	// ErrUnavailable: the command was not proposed (no leader, shutting
	// down, queue full). Nothing happened; a retry is safe.
	ErrUnavailable = errors.New("engine: unavailable")
	// ErrOverloaded: the proposal queue is full. Nothing happened; retry
	// after a pause.
	ErrOverloaded = errors.New("engine: overloaded")
	// ErrOutcomeUnknown: the command was proposed but its fate is not known
	// in time (leadership lost, shutdown, timeout). It may yet apply; a retry
	// with the same referenceId finds the one true outcome.
	ErrOutcomeUnknown = errors.New("engine: outcome unknown")
)

// Node is one member of a shard group: Raft, the log stores, the FSM and
// its partition workers, and the proposer.
type Node struct {
	cfg       Config
	id        string
	origin    uint64 // this node's tag origin: a hash of id
	group     *group
	fsm       *raftfsm.FSM
	raft      *raft.Raft
	mux       *peer.Mux
	transport *raft.NetworkTransport
	closers   []io.Closer
	keys      keyCache
	log       *slog.Logger
	metrics   *metrics
	observer  *raft.Observer

	proposals  chan *proposal
	inflight   chan struct{}
	closing    chan struct{}
	closeOnce  sync.Once
	proposer   sync.WaitGroup
	lastMs     int64 // greatest time stamp proposed (proposer goroutine only)
	pend       *pending
	applied    appliedIndex
	restored   bool          // a snapshot was just restored (FSM goroutine only)
	restoredAt atomic.Uint64 // the index of the last snapshot restored
	fwd        forwarder
	calls      callClient

	localReads  rounds        // read indexes this node serves as leader
	remoteReads rounds        // read indexes asked of the leader
	readyTerm   atomic.Uint64 // the term whose marker entry is applied
	marking     atomic.Bool
	caughtUp    atomic.Bool // the log as it stood at start has been applied
	joinToken   string      // the operator token the cluster gave on first join
	systemRR    atomic.Uint32
}

// proposal is one command on its way into the log. A local one waits in
// pending for its result; one forwarded by another node (remote) is
// answered with a status in its batch.
type proposal struct {
	cmd    *shard.Command
	tag    raftfsm.Tag
	remote *remoteBatch
	slot   int // index in remote
	res    shard.Result
	err    error
	done   chan struct{}
}

// identity is what the data dir remembers about this node.
type identity struct {
	NodeID string `json:"nodeId"`
	Shards int    `json:"shards"`
}

// Open starts a node on cfg.DataDir, bootstrapping a one-node cluster on an
// empty data dir. Call WaitReady before serving.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		proposals: make(chan *proposal, cfg.ProposalQueueMax),
		inflight:  make(chan struct{}, cfg.EntriesInFlightMax),
		closing:   make(chan struct{}),
		pend:      newPending(),
	}
	n.log = cfg.Logger
	if n.log == nil {
		n.log = slog.Default()
	}
	secret, err := loadSecret(cfg.DataDir, cfg.ClusterSecret, cfg.JoinAddr != "")
	if err != nil {
		return nil, err
	}
	if n.mux, err = peer.Listen(cfg.PeerAddr, cfg.Advertise, []byte(secret), n.log); err != nil {
		return nil, err
	}
	n.calls.mux, n.fwd.n = n.mux, n
	id, err := n.loadIdentity()
	if err != nil {
		n.mux.Close()
		return nil, err
	}
	n.id, n.cfg.Shards = id.NodeID, id.Shards
	n.origin = originOf(id.NodeID)
	n.group = newGroup(shard.NewMachine(id.Shards))
	n.metrics = newMetrics()
	n.localReads.fn, n.remoteReads.fn = n.leaderReadIndex, n.askLeaderReadIndex
	n.localReads.counted, n.remoteReads.counted = n.metrics.readRounds("leader"), n.metrics.readRounds("asked")
	n.keys.reset(nil)
	n.fsm = raftfsm.New(n, n.fsmObserver())
	if err := n.startRaft(); err != nil {
		n.mux.Close()
		n.closeStores()
		n.group.close()
		return nil, err
	}
	n.mux.Handle(peer.KindCall, n.serveCalls)
	n.mux.Handle(peer.KindForward, n.serveForward)
	n.watchLeader()
	n.proposer.Add(1)
	go n.proposeLoop()
	if cfg.JoinAddr != "" {
		n.proposer.Add(1)
		go n.joinLoop()
	}
	if cfg.Metrics != nil {
		if err := n.registerMetrics(cfg.Metrics); err != nil {
			n.Close()
			return nil, fmt.Errorf("engine: metrics: %w", err)
		}
	}
	return n, nil
}

// watchLeader counts and logs leader changes.
func (n *Node) watchLeader() {
	ch := make(chan raft.Observation, 16)
	n.observer = raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(n.observer)
	n.proposer.Add(1)
	go func() {
		defer n.proposer.Done()
		for {
			select {
			case o := <-ch:
				lo := o.Data.(raft.LeaderObservation)
				n.metrics.leaderChanges.Inc()
				n.log.Info("leader changed", "leader", string(lo.LeaderID), "leaderAddr", string(lo.LeaderAddr))
				if string(lo.LeaderID) == n.id {
					n.ensureMarked()
				}
			case <-n.closing:
				return
			}
		}
	}()
}

// loadIdentity reads the node's identity, or makes one: with S from the
// flags when bootstrapping, from the cluster when joining.
func (n *Node) loadIdentity() (identity, error) {
	dir, shards := n.cfg.DataDir, n.cfg.Shards
	path := filepath.Join(dir, "node.json")
	b, err := os.ReadFile(path)
	if err == nil {
		var id identity
		if err := json.Unmarshal(b, &id); err != nil || id.NodeID == "" || id.Shards < 1 || id.Shards > shard.ShardsMax {
			return identity{}, fmt.Errorf("engine: %s is damaged", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return identity{}, err
	}
	if n.cfg.JoinAddr != "" {
		info, err := askInfo(&n.calls, n.cfg.JoinAddr, n.closing)
		if err != nil {
			return identity{}, err
		}
		shards, n.joinToken = info.Shards, info.Token
	}
	id := identity{NodeID: "node-" + RandomToken(6), Shards: shards}
	b, _ = json.Marshal(id)
	return id, wal.WriteFileAtomic(path, b, 0o600)
}

func (n *Node) startRaft() error {
	dir := n.cfg.DataDir
	logger := newRaftLogger(n.log, n.cfg.RaftLogLevel)
	stable, err := wal.NewBoltStore(filepath.Join(dir, "raft-stable.db"))
	if err != nil {
		return fmt.Errorf("engine: stable store: %w", err)
	}
	n.closers = append(n.closers, stable)
	var logs raft.LogStore
	if n.cfg.LogStore == "bolt" {
		b, err := wal.NewBoltStore(filepath.Join(dir, "raft-log.db"))
		if err != nil {
			return fmt.Errorf("engine: bolt log store: %w", err)
		}
		n.closers, logs = append(n.closers, b), b
	} else {
		w, err := wal.Open(filepath.Join(dir, "raft-log"), wal.Options{
			OnRepair: func(seg string, off, dropped int64) {
				n.log.Warn("log tail repaired", "segment", seg, "offsetBytes", off, "droppedBytes", dropped)
			},
		})
		if err != nil {
			return err
		}
		n.closers, logs = append(n.closers, w), w
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "snapshots"), n.cfg.SnapshotsRetained, logger)
	if err != nil {
		return err
	}
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: n.mux.Stream(0), MaxPool: 3, Timeout: 10 * time.Second, Logger: logger,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.id)
	rc.Logger = logger
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	logs = meteredLogStore{LogStore: logs, m: n.metrics}
	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return err
	}
	if !existing && n.cfg.JoinAddr == "" {
		conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: n.transport.LocalAddr()}}}
		if err := raft.BootstrapCluster(rc, logs, stable, snaps, n.transport, conf); err != nil {
			return fmt.Errorf("engine: bootstrap: %w", err)
		}
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, stable, snaps, n.transport)
	if err != nil {
		n.transport.Close()
		return fmt.Errorf("engine: raft: %w", err)
	}
	return nil
}

// WaitReady waits until a leader answers and this node has applied the
// log up to the leader's commit index: its state is then current.
func (n *Node) WaitReady(ctx context.Context) error {
	index, err := n.ReadIndex(ctx)
	if err != nil {
		return fmt.Errorf("engine: no leader answered: %w", err)
	}
	if err := n.applied.wait(ctx, index); err != nil {
		return fmt.Errorf("engine: replaying the log up to %d: %w", index, err)
	}
	n.caughtUp.Store(true)
	return nil
}

// Check is one line of a readiness report.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Checks reports what readiness needs: the log open, a known leader, and
// the log applied up to where it stood when the node started.
func (n *Node) Checks() []Check {
	var checks []Check
	select {
	case <-n.closing:
		checks = append(checks, Check{"log", false, "closed"})
	default:
		checks = append(checks, Check{"log", true, "open"})
	}
	addr, id := n.raft.LeaderWithID()
	if id == "" {
		checks = append(checks, Check{"leader", false, "no leader known"})
	} else {
		checks = append(checks, Check{"leader", true, fmt.Sprintf("%s at %s", id, addr)})
	}
	applied := fmt.Sprintf("applied index %d, commit index %d", n.applied.get(), n.raft.CommitIndex())
	if n.caughtUp.Load() {
		checks = append(checks, Check{"applied", true, "caught up: " + applied})
	} else {
		checks = append(checks, Check{"applied", false, "replaying the log: " + applied})
	}
	return checks
}

// ID is this node's Raft server id.
func (n *Node) ID() string { return n.id }

// Shards is S.
func (n *Node) Shards() int { return n.cfg.Shards }

// Raft exposes the Raft instance for status and metrics.
func (n *Node) Raft() *raft.Raft { return n.raft }

// PeerAddr is the advertised address of the internal port.
func (n *Node) PeerAddr() string { return n.mux.Addr() }

// Snapshot takes a snapshot now and compacts the log behind it.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// Close stops the node: no new proposals, Raft shut down, stores closed.
// Proposals in flight end with ErrOutcomeUnknown.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.closing)
		n.calls.close() // cuts a join call in flight: joinLoop ends at once
		n.proposer.Wait()
		n.raft.DeregisterObserver(n.observer)
		err = n.raft.Shutdown().Error()
		n.transport.Close()
		n.fwd.close()
		n.mux.Close()
		n.closeStores()
		n.group.close()
	})
	return err
}

func (n *Node) closeStores() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i].Close()
	}
	n.closers = nil
}

// --- raftfsm.Applier ---

// Apply runs a schedule on the partition workers and keeps the key cache in
// step, before any waiter learns the result: a deleted key pair stops
// working the moment its delete is acknowledged.
func (n *Node) Apply(ctxs []shard.Context, cmds []*shard.Command, res []shard.Result) {
	n.group.apply(ctxs, cmds, res)
	for i, c := range cmds {
		n.metrics.countHeld(c, res[i])
		if res[i].Code != shard.OK {
			continue
		}
		switch c.Kind {
		case shard.CmdCreateKeyPair, shard.CmdDeleteKeyPair:
			n.keys.put(res[i].Value.(shard.KeyPair))
		case shard.CmdCreateProject:
			n.keys.projects.Add(1)
		}
	}
}

// Freeze copies the state while every partition is held.
func (n *Node) Freeze() *shard.Frozen {
	var f *shard.Frozen
	n.group.readAll(func(m *shard.Machine) { f = m.Freeze() })
	return f
}

// Restore replaces the state with a snapshot's.
func (n *Node) Restore(m *shard.Machine) {
	n.restored = true
	n.group.restore(m)
	n.keys.reset(m.Meta)
	n.metrics.recount(m)
}

// Settle hands this node's proposals their results and moves the applied
// index (which linearizable reads wait on).
func (n *Node) Settle(index uint64, tags []raftfsm.Tag, res []shard.Result) {
	if n.restored {
		n.restoredAt.Store(index)
		n.restored = false
	}
	n.pend.settle(n.origin, index, tags, res, n.restoredAt.Load())
	n.applied.set(index)
}

// markLost: a proposal's entry sits at index, unconfirmed (pending.lostAt).
// applied is read before restoredAt: Settle stores restoredAt before it
// moves applied, so an applied index that includes a restore is never
// paired with the restoredAt from before it.
func (n *Node) markLost(seq, index uint64) {
	applied := n.applied.get()
	n.pend.lostAt(seq, index, applied, n.restoredAt.Load())
}

// originOf is a node's tag origin: a 64-bit FNV-1a hash of its id, never 0.
func originOf(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	return max(h, 1)
}

// --- writes ---

// Propose submits a command and waits for its result. It returns
// ErrUnavailable if the command was never proposed and ErrOutcomeUnknown if
// it was but its result did not come back.
func (n *Node) Propose(ctx context.Context, cmd *shard.Command) (shard.Result, error) {
	if cmd.Kind != shard.CmdTransaction {
		return n.propose(ctx, cmd)
	}
	start := time.Now()
	r, err := n.propose(ctx, cmd)
	n.metrics.observeTransaction(cmd, r, err, time.Since(start))
	return r, err
}

func (n *Node) propose(ctx context.Context, cmd *shard.Command) (shard.Result, error) {
	select {
	case <-n.closing:
		return shard.Result{}, ErrUnavailable
	default:
	}
	p := &proposal{cmd: cmd, tag: raftfsm.Tag{Origin: n.origin}, done: make(chan struct{})}
	n.pend.add(p)
	select {
	case n.proposals <- p:
	default:
		n.pend.complete(p.tag.Seq, shard.Result{}, ErrOverloaded) // queue full: shed load, retry is safe
		return shard.Result{}, ErrOverloaded
	}
	timer := timerPool.Get().(*time.Timer)
	timer.Reset(n.cfg.ApplyTimeout)
	defer func() {
		timer.Stop() // since Go 1.23 a stopped timer holds no stale tick
		timerPool.Put(timer)
	}()
	select {
	case <-p.done:
	case <-timer.C:
		n.pend.complete(p.tag.Seq, shard.Result{}, ErrOutcomeUnknown)
	case <-ctx.Done():
		n.pend.complete(p.tag.Seq, shard.Result{}, ErrOutcomeUnknown)
	}
	<-p.done // closed by us above, or by whoever completed it first
	return p.res, p.err
}

// proposeLoop packs waiting proposals into log entries. It takes an
// in-flight slot before draining the queue, so while the disk is busy the
// queue fills and the next entry carries all of it. On a node that does not
// lead, the same batches go to the leader (forward.go).
func (n *Node) proposeLoop() {
	defer n.proposer.Done()
	var b raftfsm.EntryBuilder
	for {
		var first *proposal
		select {
		case first = <-n.proposals:
		case <-n.closing:
			n.failQueued()
			return
		}
		select {
		case n.inflight <- struct{}{}:
		case <-n.closing:
			n.finish(first, ErrUnavailable, 0)
			n.failQueued()
			return
		}
		leading := n.raft.State() == raft.Leader
		b.Reset()
		var batch []*proposal
		add := func(p *proposal) {
			switch {
			case p.remote != nil && !leading:
				n.finish(p, ErrUnavailable, 0) // forwarded to us, but we no longer lead
			case b.Full(p.tag):
				n.finish(p, ErrOverloaded, 0)
			default:
				b.Add(p.tag, p.cmd)
				batch = append(batch, p)
			}
		}
		add(first)
	drain:
		for b.Len() < n.cfg.CommandsPerEntryMax && b.BodyBytes() < n.cfg.EntryBytesMax {
			select {
			case p := <-n.proposals:
				add(p)
			default:
				break drain
			}
		}
		switch {
		case len(batch) == 0:
			<-n.inflight
		case leading:
			n.lastMs = max(n.lastMs, time.Now().UnixMilli())
			f := n.raft.Apply(b.Entry(n.lastMs), n.cfg.ApplyTimeout)
			go n.await(f, batch)
		default:
			go n.forwardBatch(batch, b.Entry(0))
		}
	}
}

// await ends a leader's batch when its entry's future resolves: forwarded
// proposals get their status; local ones end here only if the entry failed
// (on success Settle has already given them their results).
func (n *Node) await(f raft.ApplyFuture, batch []*proposal) {
	defer func() { <-n.inflight }()
	if err := f.Error(); err != nil {
		// Index 0: never appended, a definite no. Otherwise the entry may
		// still commit under the next leader (finish marks it lost).
		index, why := f.Index(), ErrOutcomeUnknown
		if index == 0 {
			why = ErrUnavailable
		}
		for _, p := range batch {
			n.finish(p, why, index)
		}
		return
	}
	res, ok := f.Response().([]shard.Result)
	if !ok || len(res) != len(batch) {
		panic(fmt.Sprintf("engine: entry of %d commands answered %T of %d results", len(batch), f.Response(), len(res)))
	}
	// Local proposals already have their results: Raft answers a future
	// only after the FSM applied its entry, and Settle delivered them then.
	for _, p := range batch {
		if p.remote != nil {
			p.remote.settle(p.slot, fwdApplied, f.Index())
		}
	}
}

// timerPool recycles the timers that bound a proposal's wait: one per
// write would otherwise be the largest allocation of the write path.
var timerPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func (n *Node) failQueued() {
	for {
		select {
		case p := <-n.proposals:
			n.finish(p, ErrUnavailable, 0)
		default:
			return
		}
	}
}

// NextSystemShard picks the shard for a new system wallet, round robin.
func (n *Node) NextSystemShard() uint16 {
	return uint16(n.systemRR.Add(1) % uint32(n.cfg.Shards))
}

// NewKeyPairCommand draws the secrets of a new key pair.
func NewKeyPairCommand(p shard.ProjectID, name string) *shard.Command {
	return &shard.Command{Kind: shard.CmdCreateKeyPair, Project: p, Name: name,
		Secret: RandomToken(32), SignatureKey: RandomToken(32)}
}

// RandomToken returns n random bytes as unpadded base64url.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("engine: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// --- reads ---

// ReadMeta runs fn on the meta partition's worker.
func (n *Node) ReadMeta(fn func(*shard.Meta)) {
	n.group.read(shard.MetaPartition, func(m *shard.Machine) { fn(m.Meta) })
}

// ReadShard runs fn on a shard's worker. s must be below Shards().
func (n *Node) ReadShard(s uint16, fn func(*shard.Shard)) {
	n.group.read(1+int(s), func(m *shard.Machine) { fn(m.Shards[s]) })
}

// ReadAll runs fn while every partition is held (cross-shard lists).
func (n *Node) ReadAll(fn func(*shard.Machine)) { n.group.readAll(fn) }

// KeyPair returns a live key pair, for authentication on every request
// without a trip to the meta worker.
func (n *Node) KeyPair(id shard.KeyPairID) (shard.KeyPair, bool) { return n.keys.get(id) }

// ProjectExists reports whether a project id was ever created (projects are
// never deleted).
func (n *Node) ProjectExists(p shard.ProjectID) bool { return uint64(p) < n.keys.projects.Load() }
