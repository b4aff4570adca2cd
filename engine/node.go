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
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
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
	group     *group
	fsm       *raftfsm.FSM
	raft      *raft.Raft
	transport *raft.NetworkTransport
	closers   []io.Closer
	keys      keyCache
	log       *slog.Logger
	metrics   *metrics
	observer  *raft.Observer

	proposals chan *proposal
	inflight  chan struct{}
	closing   chan struct{}
	closeOnce sync.Once
	proposer  sync.WaitGroup
	lastMs    int64       // greatest time stamp proposed (proposer goroutine only)
	caughtUp  atomic.Bool // the log as it stood at start has been applied
	systemRR  atomic.Uint32
}

type proposal struct {
	cmd  *shard.Command
	res  shard.Result
	err  error
	done chan struct{}
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
	id, err := loadIdentity(cfg.DataDir, cfg.Shards)
	if err != nil {
		return nil, err
	}
	cfg.Shards = id.Shards
	n := &Node{
		cfg:       cfg,
		id:        id.NodeID,
		group:     newGroup(shard.NewMachine(id.Shards)),
		proposals: make(chan *proposal, cfg.ProposalQueueMax),
		inflight:  make(chan struct{}, cfg.EntriesInFlightMax),
		closing:   make(chan struct{}),
	}
	n.log = cfg.Logger
	if n.log == nil {
		n.log = slog.Default()
	}
	n.metrics = newMetrics()
	n.keys.reset(nil)
	n.fsm = raftfsm.New(n, n.fsmObserver())
	if err := n.startRaft(); err != nil {
		n.closeStores()
		n.group.close()
		return nil, err
	}
	n.watchLeader()
	n.proposer.Add(1)
	go n.proposeLoop()
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
			case <-n.closing:
				return
			}
		}
	}()
}

func loadIdentity(dir string, shards int) (identity, error) {
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
	addr, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("engine: raft address: %w", err)
	}
	var advertise net.Addr = addr
	if addr.Port == 0 {
		advertise = nil // tests: advertise the port the listener got
	}
	n.transport, err = raft.NewTCPTransportWithLogger(n.cfg.RaftAddr, advertise, 3, 10*time.Second, logger)
	if err != nil {
		return fmt.Errorf("engine: raft transport: %w", err)
	}
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
	if !existing {
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

// WaitReady waits until this node leads and has applied its whole log.
func (n *Node) WaitReady(ctx context.Context) error {
	for n.raft.State() != raft.Leader {
		select {
		case <-ctx.Done():
			return fmt.Errorf("engine: no leadership: %w", ctx.Err())
		case <-n.closing:
			return ErrUnavailable
		case <-time.After(10 * time.Millisecond):
		}
	}
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return err
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
	applied := fmt.Sprintf("applied index %d, commit index %d", n.raft.AppliedIndex(), n.raft.CommitIndex())
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

// RaftAddr is the address Raft listens on.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// Snapshot takes a snapshot now and compacts the log behind it.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// Close stops the node: no new proposals, Raft shut down, stores closed.
// Proposals in flight end with ErrOutcomeUnknown.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.closing)
		n.proposer.Wait()
		n.raft.DeregisterObserver(n.observer)
		err = n.raft.Shutdown().Error()
		n.transport.Close()
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
	n.group.restore(m)
	n.keys.reset(m.Meta)
	n.metrics.recount(m)
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
	p := &proposal{cmd: cmd, done: make(chan struct{})}
	select {
	case <-n.closing:
		return shard.Result{}, ErrUnavailable
	default:
	}
	select {
	case n.proposals <- p:
	default:
		return shard.Result{}, ErrOverloaded // queue full: shed load, retry is safe
	}
	timer := timerPool.Get().(*time.Timer)
	timer.Reset(n.cfg.ApplyTimeout)
	defer func() {
		timer.Stop() // since Go 1.23 a stopped timer holds no stale tick
		timerPool.Put(timer)
	}()
	select {
	case <-p.done:
		return p.res, p.err
	case <-timer.C:
		return shard.Result{}, ErrOutcomeUnknown
	case <-ctx.Done():
		return shard.Result{}, ErrOutcomeUnknown
	}
}

// proposeLoop packs waiting proposals into log entries. It takes an
// in-flight slot before draining the queue, so while the disk is busy the
// queue fills and the next entry carries all of it.
func (n *Node) proposeLoop() {
	defer n.proposer.Done()
	var body []byte
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
			first.fail(ErrUnavailable)
			n.failQueued()
			return
		}
		batch := []*proposal{first}
		body = raftfsm.AppendCommand(body[:0], first.cmd)
	drain:
		for len(batch) < n.cfg.CommandsPerEntryMax && len(body) < n.cfg.EntryBytesMax {
			select {
			case p := <-n.proposals:
				batch = append(batch, p)
				body = raftfsm.AppendCommand(body, p.cmd)
			default:
				break drain
			}
		}
		n.lastMs = max(n.lastMs, time.Now().UnixMilli())
		data := raftfsm.AppendEntryHeader(make([]byte, 0, len(body)+16), n.lastMs, len(batch))
		data = append(data, body...)
		f := n.raft.Apply(data, n.cfg.ApplyTimeout)
		go n.await(f, batch)
	}
}

func (n *Node) await(f raft.ApplyFuture, batch []*proposal) {
	defer func() { <-n.inflight }()
	err := f.Error()
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
			err = ErrUnavailable // never appended
		default:
			err = ErrOutcomeUnknown
		}
		for _, p := range batch {
			p.fail(err)
		}
		return
	}
	res, ok := f.Response().([]shard.Result)
	if !ok || len(res) != len(batch) {
		panic(fmt.Sprintf("engine: entry of %d commands answered %T of %d results", len(batch), f.Response(), len(res)))
	}
	for i, p := range batch {
		p.res = res[i]
		close(p.done)
	}
}

// timerPool recycles the timers that bound a proposal's wait: one per
// write would otherwise be the largest allocation of the write path.
var timerPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func (p *proposal) fail(err error) {
	p.err = err
	close(p.done)
}

func (n *Node) failQueued() {
	for {
		select {
		case p := <-n.proposals:
			p.fail(ErrUnavailable)
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
