package engine

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// DataDir holds the Raft log, stable store, snapshots and node identity.
	DataDir string
	// PeerAddr is the internal port: Raft of every group, forwarded
	// commands and cluster calls (package peer).
	PeerAddr string
	// Advertise is the internal address other nodes dial; empty means
	// PeerAddr (which must then name a reachable host, not 0.0.0.0).
	Advertise string
	// JoinAddr is the internal address of any member of a running cluster.
	// On an empty data dir the node joins that cluster instead of
	// bootstrapping its own; on a restart it asks again (harmless when it is
	// already a member, and it brings back a node that was removed).
	JoinAddr string
	// ClusterSecret authenticates internal traffic. A bootstrapping node
	// generates one and keeps it in DataDir/cluster.secret; a joining node
	// must be given it, and keeps it there too.
	ClusterSecret string
	// OperatorToken, if set, is handed to nodes that join through this one
	// (over the authenticated internal port), so one token works on every
	// node.
	OperatorToken string
	// Shards is S, the number of shards of the group. It is fixed when the
	// data dir is created; a later value is ignored (the stored one wins).
	Shards int
	// Groups is G, the number of shard groups, each its own Raft group
	// with S shards; group 0 also holds projects, key pairs and assets.
	// Fixed with Shards when the cluster is created.
	Groups int
	// Replicas is R, how many voters hold each shard group: with more
	// nodes than R, each node holds only some groups (placement.go).
	// Fixed with Shards when the cluster is created; a joining node learns
	// it from the cluster.
	Replicas int
	// LogStore is "wal" (tidwall/wal, the default) or "bolt" (raft-boltdb).
	LogStore string

	// Raft timing. Single-node clusters elect themselves after
	// HeartbeatTimeout, so it is also the start-up delay.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how long a leader with nothing new to send waits
	// before telling its followers how far the log is committed
	// (hashicorp/raft's CommitTimeout). A follower learns its own
	// proposals' results only once it knows they committed, so when
	// writes stop flowing this is their latency: hashicorp/raft's 50 ms
	// default made a lone write through a follower take about 75 ms.
	CommitTimeout time.Duration

	// SnapshotThreshold is the number of log entries (each a batch of
	// commands) after which a snapshot is taken; TrailingLogs stay behind it
	// so a slow follower can catch up without a snapshot.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	SnapshotsRetained int

	// Proposer bounds: commands and bytes per log entry, log entries in
	// flight at once, and commands waiting to be proposed.
	CommandsPerEntryMax int
	EntryBytesMax       int
	EntriesInFlightMax  int
	ProposalQueueMax    int

	// ApplyTimeout bounds how long a write waits for its entry to be
	// committed and applied before the caller is told the outcome is unknown.
	ApplyTimeout time.Duration

	// ReadTimeout bounds how long a linearizable read waits for a leader to
	// confirm its read index and for this node to apply up to it.
	ReadTimeout time.Duration

	// RaftLogLevel is the least level of hashicorp/raft's own lines that
	// reach Logger (hclog names: trace, debug, info, warn, error).
	RaftLogLevel string

	// Logger receives the node's logs and Raft's; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, if set, receives the engine's Prometheus collectors.
	Metrics prometheus.Registerer
}

// GroupsMax bounds G, the data groups: every node runs a Raft instance, a
// proposer and S+1 partition workers per group, and a Scope has a bit for
// each data group and the meta group.
const GroupsMax = 63

// ReplicasMax bounds R: more voters make every write wait on more fsyncs
// for no safety a production cluster needs (7 survives 3 failures).
const ReplicasMax = 7

// DefaultConfig returns a fresh single-node configuration.
func DefaultConfig() Config {
	return Config{
		DataDir:             "./data",
		PeerAddr:            "127.0.0.1:7000",
		Shards:              runtime.NumCPU(),
		Groups:              1,
		Replicas:            3,
		LogStore:            "wal",
		HeartbeatTimeout:    500 * time.Millisecond,
		ElectionTimeout:     500 * time.Millisecond,
		LeaderLeaseTimeout:  250 * time.Millisecond,
		CommitTimeout:       5 * time.Millisecond,
		SnapshotThreshold:   4096,
		SnapshotInterval:    30 * time.Second,
		TrailingLogs:        1024,
		SnapshotsRetained:   2,
		CommandsPerEntryMax: 2048,
		EntryBytesMax:       4 << 20,
		EntriesInFlightMax:  4,
		ProposalQueueMax:    65536,
		ApplyTimeout:        10 * time.Second,
		ReadTimeout:         5 * time.Second,
		RaftLogLevel:        "warn",
	}
}

// Validate reports the first setting that is out of range.
func (c *Config) Validate() error {
	switch {
	case c.DataDir == "":
		return fmt.Errorf("engine: DataDir is empty")
	case c.PeerAddr == "":
		return fmt.Errorf("engine: PeerAddr is empty")
	case c.Shards < 1 || c.Shards > shard.ShardsMax:
		return fmt.Errorf("engine: Shards %d outside 1..%d", c.Shards, shard.ShardsMax)
	case c.Groups < 1 || c.Groups > GroupsMax || c.Groups*c.Shards > shard.ShardsMax:
		return fmt.Errorf("engine: %d groups of %d shards: groups must be 1..%d and shards in all at most %d", c.Groups, c.Shards, GroupsMax, shard.ShardsMax)
	case c.Replicas < 1 || c.Replicas > ReplicasMax:
		return fmt.Errorf("engine: Replicas %d outside 1..%d", c.Replicas, ReplicasMax)
	case c.LogStore != "wal" && c.LogStore != "bolt":
		return fmt.Errorf("engine: LogStore %q is neither wal nor bolt", c.LogStore)
	case c.CommandsPerEntryMax < 1 || c.CommandsPerEntryMax > raftfsm.CommandsPerEntryMax:
		return fmt.Errorf("engine: CommandsPerEntryMax %d outside 1..%d", c.CommandsPerEntryMax, raftfsm.CommandsPerEntryMax)
	case c.EntryBytesMax < 64<<10 || c.EntryBytesMax > raftfsm.EntryBytesMax/2:
		// half: one command may overshoot the soft limit by at most itself
		return fmt.Errorf("engine: EntryBytesMax %d outside 64KiB..%d", c.EntryBytesMax, raftfsm.EntryBytesMax/2)
	case c.EntriesInFlightMax < 1 || c.EntriesInFlightMax > 64:
		return fmt.Errorf("engine: EntriesInFlightMax %d outside 1..64", c.EntriesInFlightMax)
	case c.ProposalQueueMax < 1:
		return fmt.Errorf("engine: ProposalQueueMax must be positive")
	case c.ApplyTimeout <= 0 || c.ReadTimeout <= 0 || c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0:
		return fmt.Errorf("engine: timeouts must be positive")
	case c.CommitTimeout < time.Millisecond || c.CommitTimeout >= c.HeartbeatTimeout:
		return fmt.Errorf("engine: CommitTimeout %v outside 1ms..HeartbeatTimeout (hashicorp/raft refuses less than 1ms)", c.CommitTimeout)
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return fmt.Errorf("engine: LeaderLeaseTimeout must not exceed HeartbeatTimeout")
	case c.SnapshotsRetained < 1:
		return fmt.Errorf("engine: SnapshotsRetained must be at least 1")
	}
	return nil
}
