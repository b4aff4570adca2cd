package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/peer"
	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/cloudwallet/cloudwallet/wal"
)

// Node is one member of the cluster: its replicas of the shard groups the
// layout gives it (every group while there are no more nodes than
// replicas per group), the internal port they share, and the routing of
// commands and reads to the group that holds their shard, through another
// node for a group it does not hold.
//
// Everything set in Open is read-only after it; the mutable parts own
// their locks (calls, keys, each shardGroup's replica) or are atomic
// (systemRR).
type Node struct {
	cfg            Config
	id             string
	origin         uint64 // this node's tag origin: a hash of id
	shardsPerGroup int
	replicas       int // R: voters per group, fixed at the cluster's creation
	groups         []*shardGroup
	mux            *peer.Mux
	calls          callClient                        // cluster calls (KindCall); guarded by its own mu
	groupStreams   groupStreams                      // reads and writes of groups held elsewhere (KindGroup); guarded by its own mu
	keys           keyCache                          // fed by the meta group's FSM goroutine; guarded by its own mu
	layout         atomic.Pointer[shard.GroupLayout] // where the groups live: stored by the meta group's FSM goroutine
	addrs          atomic.Pointer[map[string]string] // node id → internal address: stored by the arranger (placement.go)
	log            *slog.Logger
	metrics        *nodeMetrics    // the node's own collectors (the groups have theirs)
	closing        chan struct{}   // closed once, by Close
	life           context.Context // ends when Close begins (with closing): background work stops with it
	endLife        context.CancelFunc
	closeOnce      sync.Once
	background     sync.WaitGroup // the resolver, the arranger, the finishes after an answer (goBackground)
	backgroundMu   sync.Mutex     // guards stopped: no goroutine joins background once Close waits on it
	stopped        bool
	stopping       atomic.Bool // set by Handoff: a planned stop is under way
	// leaveParts (tests only, set before use): a coordinator does not
	// finish the other groups' parts after its answer, leaving them to
	// whatever meets their holds, as when it dies right after answering.
	leaveParts bool
	joinToken  string        // the operator token the cluster gave on first join
	systemRR   atomic.Uint32 // round robin over shards for system wallets
	batchItems atomic.Int64  // items of the batches in flight (AdmitBatch admits up to ProposalQueueMax)
	// log1 is the node's one log for every group (wal.Shared; nil with
	// the bolt log store): opened before the groups, closed after them.
	log1 *wal.Shared
}

// identity is what the data dir remembers about this node and its cluster.
type identity struct {
	NodeID   string `json:"nodeId"`
	Shards   int    `json:"shards"`             // S, per group
	Groups   int    `json:"groups,omitempty"`   // G (absent: 1)
	Replicas int    `json:"replicas,omitempty"` // R
	Format   int    `json:"format,omitempty"`   // the data format (absent: 1)
}

// DataFormat is the format of what this version writes to a data dir: its
// log entries, snapshots and stores. It changes when an older version
// could not read them, or this one could not read the older ones.
//
//	1  (absent) one log per group, projects hashed over every shard
//	2  projects in K of the G groups: commands carry their home shard
//	3  one log per node for every group (DATA_DIR/wal)
//	4  transactions across groups run as attempts: prepares before the record
//	5  groups on R of the N nodes: the meta group keeps where they live
//	6  the meta group holds no shard: it is group G, after the data groups
const DataFormat = 6

// ErrDataFormat: the data dir was written in another data format.
var ErrDataFormat = errors.New("engine: the data dir is in another data format")

// Open starts a node on cfg.DataDir, bootstrapping a one-node cluster on an
// empty data dir. Call WaitReady before serving.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := wal.MkdirAllDurable(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, closing: make(chan struct{}), log: cfg.Logger, metrics: newNodeMetrics()}
	n.life, n.endLife = context.WithCancel(context.Background())
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
	n.calls.mux = n.mux
	n.groupStreams.mux = n.mux
	id, fresh, err := n.loadIdentity()
	if err != nil {
		n.mux.Close()
		return nil, err
	}
	// The origin is new at every start: sequence numbers start again at
	// 1, and entries a previous run proposed must never settle this run's
	// proposals (nor may a fence of that run reach them).
	n.id, n.origin, n.shardsPerGroup, n.replicas = id.NodeID, originOf(id.NodeID+"/"+RandomToken(8)), id.Shards, id.Replicas
	n.cfg.Shards, n.cfg.Groups, n.cfg.Replicas = id.Shards, id.Groups, id.Replicas
	n.keys.perGroup = id.Shards
	n.keys.reset(nil)
	if cfg.LogStore == "wal" {
		n.log1, err = wal.OpenShared(filepath.Join(cfg.DataDir, "wal"), wal.Options{
			OnRepair: func(seg string, off, dropped int64) {
				n.log.Warn("log tail repaired", "segment", seg, "offsetBytes", off, "droppedBytes", dropped)
			},
		})
		if err != nil {
			n.mux.Close()
			return nil, err
		}
	}
	for g := range id.Groups {
		n.groups = append(n.groups, &shardGroup{n: n, group: g, metrics: newMetrics(g),
			layout: shard.DataGroup(g, id.Groups, id.Shards)})
	}
	// The meta group comes after the data groups: group G.
	n.groups = append(n.groups, &shardGroup{n: n, group: id.Groups, metrics: newMetrics(id.Groups),
		layout: shard.MetaGroup(id.Groups)})
	// A new cluster's first node holds every group. Otherwise the node
	// opens the meta group and the groups it held when it stopped; the
	// arranger then opens and closes replicas as the layout says.
	bootstrap := fresh && cfg.JoinAddr == ""
	for _, sg := range n.groups {
		if !sg.isMeta() && !bootstrap && !n.hasGroupData(sg.group) {
			continue
		}
		rp, err := n.openReplica(sg, bootstrap)
		if err != nil {
			n.closeGroups()
			n.mux.Close()
			return nil, err
		}
		sg.local.Store(rp)
	}
	n.mux.Handle(peer.KindCall, n.serveCalls)
	n.mux.Handle(peer.KindForward, n.serveForward)
	n.mux.Handle(peer.KindGroup, n.serveGroupCalls)
	if cfg.JoinAddr != "" {
		rp := n.meta()
		rp.proposer.Add(1)
		go rp.joinLoop()
	}
	n.background.Add(1)
	go n.arrangeLoop()
	if n.Groups() > 1 {
		n.background.Add(1)
		go n.resolveLoop()
	}
	n.background.Add(1)
	go n.expireLoop()
	if cfg.Metrics != nil {
		if err := n.registerMetrics(cfg.Metrics); err != nil {
			n.Close()
			return nil, fmt.Errorf("engine: metrics: %w", err)
		}
	}
	return n, nil
}

// loadIdentity reads the node's identity, or makes one (fresh): with S, G
// and R from the flags when bootstrapping, from the cluster when joining.
func (n *Node) loadIdentity() (id identity, fresh bool, err error) {
	id, err = n.readIdentity()
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return id, false, err
	}
	id = identity{NodeID: "node-" + RandomToken(6), Shards: n.cfg.Shards, Groups: n.cfg.Groups, Replicas: n.cfg.Replicas, Format: DataFormat}
	if n.cfg.JoinAddr != "" {
		info, err := askInfo(&n.calls, n.cfg.JoinAddr, n.closing)
		if err != nil {
			return identity{}, false, err
		}
		id.Shards, id.Groups, id.Replicas, n.joinToken = info.Shards, max(info.Groups, 1), info.Replicas, info.Token
	}
	if !validShape(id.Shards, id.Groups) || id.Replicas < 1 || id.Replicas > ReplicasMax {
		return identity{}, false, fmt.Errorf("engine: %d groups of %d shards, %d replicas each, is outside 1..%d shards and 1..%d replicas", id.Groups, id.Shards, id.Replicas, shard.ShardsMax, ReplicasMax)
	}
	b, _ := json.Marshal(id)
	return id, true, wal.WriteFileAtomic(filepath.Join(n.cfg.DataDir, "node.json"), b, 0o600)
}

// readIdentity reads the identity the data dir holds (os.ErrNotExist if
// none).
func (n *Node) readIdentity() (identity, error) {
	path := filepath.Join(n.cfg.DataDir, "node.json")
	b, err := os.ReadFile(path)
	if err == nil {
		var id identity
		if err := json.Unmarshal(b, &id); err != nil || id.NodeID == "" {
			return identity{}, fmt.Errorf("engine: %s is damaged", path)
		}
		id.Groups, id.Format = max(id.Groups, 1), max(id.Format, 1)
		if id.Format != DataFormat {
			return identity{}, fmt.Errorf("%w: %s says format %d, and this version reads format %d only. "+
				"Run the version that wrote it, or start this one on an empty data dir (and load the data again through the API)",
				ErrDataFormat, n.cfg.DataDir, id.Format, DataFormat)
		}
		if !validShape(id.Shards, id.Groups) || id.Replicas < 1 || id.Replicas > ReplicasMax {
			return identity{}, fmt.Errorf("engine: %s is damaged (%d groups of %d shards, %d replicas)", path, id.Groups, id.Shards, id.Replicas)
		}
		return id, nil
	}
	return identity{}, err
}

func validShape(shards, groups int) bool {
	return shards >= 1 && groups >= 1 && groups <= GroupsMax && shards*groups <= shard.ShardsMax
}

// groupOf is the group that holds a shard (nil for a shard the cluster
// does not have).
func (n *Node) groupOf(s uint16) *shardGroup {
	g := int(s) / n.shardsPerGroup
	if g >= n.Groups() {
		return nil
	}
	return n.groups[g]
}

// hasGroupData reports whether the data dir holds a replica of group g
// (a group other than the meta group, whose stores are the data dir's).
func (n *Node) hasGroupData(g int) bool {
	_, err := os.Stat(groupDir(n.cfg.DataDir, g))
	return err == nil
}

// WaitReady waits until every group this node holds has a leader that
// answers and this node has applied each one's log up to its leader's
// commit index.
func (n *Node) WaitReady(ctx context.Context) error {
	for _, rp := range n.held() {
		if err := rp.waitReady(ctx); err != nil {
			return err
		}
	}
	// The layout: where the groups live (the meta group's leader sets the
	// first one as soon as it leads).
	for t := time.NewTicker(10 * time.Millisecond); n.layoutNow().Version == 0; {
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("engine: no layout of the groups yet: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Check is one line of a readiness report.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Checks reports what readiness needs: the log open, and in every group
// this node holds a known leader and the log applied up to where it stood
// at start.
func (n *Node) Checks() []Check {
	var checks []Check
	select {
	case <-n.closing:
		checks = append(checks, Check{"log", false, "closed"})
	default:
		checks = append(checks, Check{"log", true, "open"})
	}
	for _, rp := range n.held() {
		checks = append(checks, rp.checks()...)
	}
	if v := n.layoutNow().Version; v > 0 {
		checks = append(checks, Check{"layout", true, fmt.Sprintf("version %d", v)})
	} else {
		checks = append(checks, Check{"layout", false, "not planned yet"})
	}
	return checks
}

// ID is this node's Raft server id.
func (n *Node) ID() string { return n.id }

// Shards is the number of shards of the whole cluster (G × S): customers
// and referenceIds hash over it.
func (n *Node) Shards() int { return n.shardsPerGroup * n.Groups() }

// Groups is G, the number of shard groups.
func (n *Node) Groups() int { return len(n.groups) - 1 }

// GroupRaft exposes the Raft instance of this node's replica of data
// group g (benchmarks, tests), nil if it holds none.
func (n *Node) GroupRaft(g int) *raft.Raft {
	if g < 0 || g >= n.Groups() {
		return nil
	}
	if rp := n.groups[g].replica(); rp != nil {
		return rp.raft
	}
	return nil
}

// Replicas is R, the voters each group has (all nodes while there are no
// more than R).
func (n *Node) Replicas() int { return n.replicas }

// PeerAddr is the advertised address of the internal port.
func (n *Node) PeerAddr() string { return n.mux.Addr() }

// Snapshot takes a snapshot of every group this node holds now and
// compacts their logs.
func (n *Node) Snapshot() error {
	var errs []error
	for _, rp := range n.held() {
		errs = append(errs, rp.raft.Snapshot().Error())
	}
	return errors.Join(errs...)
}

// Close stops the node: no new proposals, Raft shut down, stores closed.
// Proposals in flight end with ErrOutcomeUnknown.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.closing)
		n.endLife()
		n.calls.close() // cuts a join call in flight: joinLoop ends at once
		n.groupStreams.close()
		n.backgroundMu.Lock()
		n.stopped = true
		n.backgroundMu.Unlock()
		n.background.Wait()
		err = n.closeGroups()
		n.mux.Close()
	})
	return err
}

// goBackground runs fn on its own goroutine, which Close waits for; once
// the node is closing, fn does not run. ctx ends when the node closes.
func (n *Node) goBackground(fn func(ctx context.Context)) {
	n.backgroundMu.Lock()
	defer n.backgroundMu.Unlock()
	if n.stopped {
		return
	}
	n.background.Add(1)
	go func() {
		defer n.background.Done()
		ctx, cancel := context.WithTimeout(n.life, n.cfg.ApplyTimeout)
		defer cancel()
		fn(ctx)
	}()
}

func (n *Node) closeGroups() error {
	var errs []error
	for _, sg := range n.groups {
		sg.mu.Lock()
		if rp := sg.local.Swap(nil); rp != nil {
			errs = append(errs, rp.close())
		}
		sg.mu.Unlock()
	}
	if n.log1 != nil {
		errs = append(errs, n.log1.Close())
	}
	return errors.Join(errs...)
}

// --- writes ---

// Propose submits a command to the group that holds its shard and waits
// for its result. It returns ErrUnavailable if the command was never
// proposed and ErrOutcomeUnknown if it was but its result did not come back.
func (n *Node) Propose(ctx context.Context, cmd *shard.Command) (shard.Result, error) {
	var pl shard.Placement
	if cmd.Kind.Placed() {
		var err error
		if pl, err = n.placementOf(ctx, cmd.Project); errors.Is(err, ErrNoProject) {
			return shard.Result{Code: shard.ProjectNotFound}, nil
		} else if err != nil {
			return shard.Result{}, err
		}
		pl.Home(cmd)
	}
	r, err := n.proposePlaced(ctx, cmd, pl)
	if blocked, ok := r.Value.(*shard.Blocked); ok && err == nil {
		// The command met holds, which may belong to decided
		// transactions across groups: finish those, then apply it
		// counting only the undecided ones (held.go).
		n.metrics.blocked.WithLabelValues("command").Inc()
		if err := n.settleHolds(ctx, cmd.Project, blocked.Wallets); err != nil {
			return shard.Result{}, ErrUnavailable // nothing was applied
		}
		cmd.HoldsSettled = true
		r, err = n.proposePlaced(ctx, cmd, pl)
	}
	return r, err
}

// proposePlaced proposes a command whose home the project's placement set.
func (n *Node) proposePlaced(ctx context.Context, cmd *shard.Command, pl shard.Placement) (shard.Result, error) {
	if !isTransaction(cmd.Kind) {
		sg := n.route(cmd)
		if cmd.Kind.UsesAsset() && !sg.isMeta() && !n.assetUsed(cmd.Project, cmd.Asset) {
			// The asset lives in the meta group: mark it used there
			// first (it can no longer be deleted), then make the wallet.
			// Once used, an asset stays used and can never be deleted:
			// later wallets of it need no trip to the meta group.
			r, err := n.metaGroup().propose(ctx, &shard.Command{Kind: shard.CmdUseAsset, Project: cmd.Project, Asset: cmd.Asset})
			if err != nil || r.Code != shard.OK {
				return r, err
			}
		}
		return sg.propose(ctx, cmd)
	}
	start := time.Now()
	r, err := n.proposeTransaction(ctx, cmd, pl)
	n.metrics.observeTransaction(cmd, r, err, time.Since(start))
	return r, err
}

// assetUsed reports whether this node's replica of the meta group has the
// asset marked used (which nothing undoes).
func (n *Node) assetUsed(p shard.ProjectID, a shard.AssetID) bool {
	var used bool
	n.ReadMeta(func(m *shard.Meta) {
		x, ok := m.Asset(p, a)
		used = ok && x.Used
	})
	return used
}

// route picks the group a command goes to: the group of its home shard
// (the kind table says which), or the meta group.
func (n *Node) route(cmd *shard.Command) *shardGroup {
	s, ok := cmd.HomeShard()
	if !ok {
		return n.metaGroup()
	}
	if sg := n.groupOf(s); sg != nil {
		return sg
	}
	return n.metaGroup() // no such shard: the group refuses it
}

// nextSystemShard picks the shard for a new system wallet of the project:
// round robin over the shards of its placement.
func (n *Node) nextSystemShard(pl shard.Placement) uint16 {
	return pl.SystemShard(n.systemRR.Add(1))
}

// placementOf is a project's placement. A project this node has not seen
// yet may have just been made through another node: the meta group is
// brought up to date once before the project is called unknown.
func (n *Node) placementOf(ctx context.Context, p shard.ProjectID) (shard.Placement, error) {
	if pl, ok := n.keys.placement(p); ok {
		return pl, nil
	}
	if err := n.CatchUpMeta(ctx); err != nil {
		return shard.Placement{}, err
	}
	if pl, ok := n.keys.placement(p); ok {
		return pl, nil
	}
	return shard.Placement{}, ErrNoProject
}

// --- reads ---

// ReadMeta runs fn on the meta partition's worker.
func (n *Node) ReadMeta(fn func(*shard.Meta)) {
	n.meta().parts.read(shard.MetaPartition, func(m *shard.Machine) { fn(m.Meta) })
}

// ReadShard runs fn on a shard's worker, in this node's replica of its
// group; it reports false, without running fn, when this node's replica
// does not serve the group (shardGroup.serving). s must be below Shards().
func (n *Node) ReadShard(s uint16, fn func(*shard.Shard)) bool {
	rp := n.groupOf(s).serving()
	if rp == nil {
		return false
	}
	p, _ := rp.layout.Partition(s)
	return rp.parts.read(p, func(m *shard.Machine) { fn(m.Shards[p-1]) })
}

// ReadAll runs fn while every partition of the group is held, for each
// data group this node holds in turn (tests and tools: their replicas'
// state; the meta group's is ReadMeta's).
func (n *Node) ReadAll(fn func(*shard.Machine)) {
	for _, sg := range n.dataGroups() {
		if rp := sg.replica(); rp != nil {
			rp.parts.readAll(fn)
		}
	}
}

// KeyPair returns a live key pair, for authentication on every request
// without a trip to the meta worker.
func (n *Node) KeyPair(id shard.KeyPairID) (shard.KeyPair, bool) { return n.keys.get(id) }

// ProjectExists reports whether a project id was ever created (projects are
// never deleted).
func (n *Node) ProjectExists(p shard.ProjectID) bool {
	_, ok := n.keys.placement(p)
	return ok
}

// Placement is where a project's data lives; false for a project this node
// has not seen created.
func (n *Node) Placement(p shard.ProjectID) (shard.Placement, bool) { return n.keys.placement(p) }
