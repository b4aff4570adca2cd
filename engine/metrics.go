package engine

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Outcome is how a transaction write ended, as counted by
// cloudwallet_transactions_total{outcome}. The set is closed: it is a label.
type Outcome uint8

const (
	OutcomeCompleted   Outcome = iota // 201: applied
	OutcomeFailed                     // 422: recorded Failed, nothing applied
	OutcomeDuplicate                  // 409: the referenceId was used before
	OutcomeRejected                   // refused by the state without a record (a limit)
	OutcomeOverloaded                 // 429: shed before proposing
	OutcomeUnavailable                // 503: not proposed (no leader, shutting down)
	OutcomeUnknown                    // 202: proposed, fate not known in time
	outcomeCount
)

var outcomeNames = [outcomeCount]string{"completed", "failed", "duplicate", "rejected", "overloaded", "unavailable", "unknown"}

func (o Outcome) String() string { return outcomeNames[o] }

// outcomeOf classifies the answer to a transaction command.
func outcomeOf(r shard.Result, err error) Outcome {
	switch {
	case errors.Is(err, ErrOverloaded):
		return OutcomeOverloaded
	case errors.Is(err, ErrUnavailable):
		return OutcomeUnavailable
	case err != nil:
		return OutcomeUnknown
	case r.Code == shard.OK:
		return OutcomeCompleted
	case r.Code == shard.DuplicateReferenceID:
		return OutcomeDuplicate
	}
	if tx, ok := r.Value.(*shard.Tx); ok && tx.Status == shard.TxFailed {
		return OutcomeFailed
	}
	return OutcomeRejected
}

// Latency buckets in seconds: 50 µs to 10 s, for fsyncs and transactions.
var latencyBuckets = prometheus.ExponentialBucketsRange(50e-6, 10, 16)

// metrics are the engine's Prometheus collectors. Names carry the
// cloudwallet_ prefix and base units; label values are from closed sets
// (outcome, partition, group), never ids. The collectors are set at start
// and are safe for concurrent use; the gauges at the end are written by
// the FSM goroutine only.
type metrics struct {
	applySeconds     prometheus.Histogram
	entriesPerApply  prometheus.Histogram
	commandsPerEntry prometheus.Histogram
	leaderChanges    prometheus.Counter
	logSyncSeconds   prometheus.Histogram
	logBytes         prometheus.Counter
	snapFreezeSecs   prometheus.Histogram
	snapPersistSecs  prometheus.Histogram
	snapBytes        prometheus.Gauge
	snapFailures     prometheus.Counter
	readIndexRounds  *prometheus.CounterVec             // by where (leader: served here; asked: of the leader) and result
	readIndexReads   *prometheus.CounterVec             // reads those rounds answered, by where
	forwarded        [fwdStatusCount]prometheus.Counter // this node's commands sent to the leader, by answer
	forwardServed    [fwdStatusCount]prometheus.Counter // commands other nodes sent here, by answer

	forwardVecs []*prometheus.CounterVec
	fences      prometheus.Counter // fences this node proposed after a forward link broke

	// What the state holds, kept by Apply and Restore (no lock, no read
	// through the workers at scrape time).
	customers, wallets, transactions atomic.Int64
}

// nodeMetrics are the collectors that count for the node as a whole:
// transactions and what it did across groups. Set in Open, safe for
// concurrent use.
type nodeMetrics struct {
	txTotal       *prometheus.CounterVec
	txOutcomes    [outcomeCount]prometheus.Counter // txTotal's children, resolved once
	txSeconds     prometheus.Histogram
	txOperations  prometheus.Histogram
	acrossGroups  *prometheus.CounterVec // transactions run across groups, by result
	resolved      prometheus.Counter     // transactions the resolver finished
	blocked       *prometheus.CounterVec // commands and prepares proposed again after meeting holds, by what
	heldFinished  prometheus.Counter     // decided transactions finished by what met their holds
	holds         *prometheus.CounterVec // holds made and ended by this node's proposals, by outcome
	holdsOpen     prometheus.Gauge       // open holds in the groups this node leads
	holdsReserved prometheus.Gauge       // what they reserve in debits, in minor units of every asset
}

func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{}
	m.txTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cloudwallet_transactions_total",
		Help: "Transaction writes by outcome: completed, failed (recorded Failed), duplicate (referenceId used), rejected, overloaded (429), unavailable (503), unknown (202 Waiting).",
	}, []string{"outcome"})
	for o := range outcomeCount {
		m.txOutcomes[o] = m.txTotal.WithLabelValues(o.String())
	}
	m.txSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cloudwallet_transaction_duration_seconds",
		Help:    "Time from a transaction's receipt by the engine to its applied result (queue, Raft commit with fsync, apply).",
		Buckets: latencyBuckets,
	})
	m.txOperations = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cloudwallet_transaction_operations",
		Help:    "Operations per transaction written.",
		Buckets: []float64{1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000},
	})
	m.acrossGroups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cloudwallet_transactions_across_groups_total",
		Help: "Transactions run with two-phase commit across shard groups by this node as coordinator: result answered (a definite outcome) or unknown (left to a retry or the resolver).",
	}, []string{"result"})
	m.resolved = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cloudwallet_resolver_finished_total",
		Help: "Transactions across groups left in doubt that this node's resolver finished.",
	})
	m.blocked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cloudwallet_blocked_total",
		Help: "Commands (what=command) and prepares across groups (what=prepare) that met holds of transactions across groups and were proposed again once the decided ones were finished.",
	}, []string{"what"})
	m.heldFinished = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cloudwallet_held_transactions_finished_total",
		Help: "Decided transactions across groups this node finished because a command, a prepare or a read met their holds before their coordinator finished them.",
	})
	m.holds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cloudwallet_holds_total",
		Help: "Holds by outcome, as this node's proposals made them: held (authorized), captured, voided, expired.",
	}, []string{"outcome"})
	m.holdsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cloudwallet_holds_open",
		Help: "Holds still Held in the shard groups this node leads (refreshed every 0.5 s).",
	})
	m.holdsReserved = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cloudwallet_holds_reserved_amount",
		Help: "What open holds in the shard groups this node leads reserve in debits, summed in minor units over every asset.",
	})
	return m
}

// newMetrics makes the collectors of one group's replica; each carries
// the group's number as a label.
func newMetrics(group int) *metrics {
	groupLabel := prometheus.Labels{"group": strconv.Itoa(group)}
	m := &metrics{}
	m.applySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "cloudwallet_raft_apply_duration_seconds",
		Help:        "Time the FSM took to apply one batch of committed log entries.",
		Buckets:     latencyBuckets,
		ConstLabels: groupLabel,
	})
	m.entriesPerApply = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "cloudwallet_raft_apply_entries",
		Help:        "Command log entries per FSM apply batch.",
		Buckets:     prometheus.ExponentialBuckets(1, 2, 10),
		ConstLabels: groupLabel,
	})
	m.commandsPerEntry = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "cloudwallet_raft_entry_commands",
		Help:        "Commands per Raft log entry: the group-commit batch size.",
		Buckets:     prometheus.ExponentialBuckets(1, 2, 13),
		ConstLabels: groupLabel,
	})
	m.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "cloudwallet_raft_leader_changes_total",
		Help:        "Leader changes this node observed.",
		ConstLabels: groupLabel,
	})
	m.logSyncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "cloudwallet_log_fsync_duration_seconds",
		Help:        "Time to write and fsync one batch of Raft log entries to the log store.",
		Buckets:     latencyBuckets,
		ConstLabels: groupLabel,
	})
	m.logBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "cloudwallet_log_written_bytes_total",
		Help:        "Payload bytes of the Raft log entries written to the log store.",
		ConstLabels: groupLabel,
	})
	m.snapFreezeSecs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "cloudwallet_snapshot_freeze_duration_seconds",
		Help:        "Time writes were paused while a snapshot copied the state.",
		Buckets:     latencyBuckets,
		ConstLabels: groupLabel,
	})
	m.snapPersistSecs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "cloudwallet_snapshot_duration_seconds",
		Help:        "Time to write a snapshot to disk (in the background, writes go on).",
		Buckets:     prometheus.ExponentialBucketsRange(1e-3, 300, 12),
		ConstLabels: groupLabel,
	})
	m.snapBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "cloudwallet_snapshot_size_bytes",
		Help:        "Size of the last snapshot written.",
		ConstLabels: groupLabel,
	})
	m.snapFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "cloudwallet_snapshot_failures_total",
		Help:        "Snapshots that could not be written.",
		ConstLabels: groupLabel,
	})
	m.readIndexRounds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "cloudwallet_read_index_rounds_total",
		Help:        "Read-index rounds for linearizable reads: where=leader (leadership confirmed here by one VerifyLeader round), where=asked (this follower asked the leader); result ok or error.",
		ConstLabels: groupLabel,
	}, []string{"where", "result"})
	m.readIndexReads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "cloudwallet_read_index_reads_total",
		Help:        "Reads answered by read-index rounds (reads per round = this / cloudwallet_read_index_rounds_total: how well rounds are shared).",
		ConstLabels: groupLabel,
	}, []string{"where"})
	fwd := func(name, help string, into *[fwdStatusCount]prometheus.Counter) {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: groupLabel}, []string{"status"})
		for st := range fwdStatusCount {
			into[st] = v.WithLabelValues(st.String())
		}
		m.forwardVecs = append(m.forwardVecs, v)
	}
	m.fences = prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "cloudwallet_fences_total",
		Help:        "Fences this node applied after a link to the leader broke with writes unanswered (each ends those writes as not applied).",
		ConstLabels: groupLabel,
	})
	fwd("cloudwallet_forwarded_commands_total",
		"Commands this node sent to the group leader, by the leader's answer: applied, unavailable, overloaded, unknown (appended, not confirmed), broken (the link broke before the answer).",
		&m.forwarded)
	fwd("cloudwallet_forward_served_commands_total",
		"Commands other nodes forwarded to this node as leader, by the answer sent back.",
		&m.forwardServed)
	return m
}

// roundCounters counts one kind of read-index round.
type roundCounters struct {
	ok, failed, reads prometheus.Counter
}

func (m *metrics) readRounds(where string) roundCounters {
	return roundCounters{
		ok:     m.readIndexRounds.WithLabelValues(where, "ok"),
		failed: m.readIndexRounds.WithLabelValues(where, "error"),
		reads:  m.readIndexReads.WithLabelValues(where),
	}
}

func (c roundCounters) count(reads int, err error) {
	if c.reads == nil {
		return // a bare rounds value in a unit test
	}
	if err != nil {
		c.failed.Inc()
	} else {
		c.ok.Inc()
	}
	c.reads.Add(float64(reads))
}

// registerMetrics adds the engine's collectors, including those read from
// the node at scrape time, to reg.
func (n *Node) registerMetrics(reg prometheus.Registerer) error {
	sum := func(name, help string, field func(m *metrics) *atomic.Int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			var v int64
			for _, sg := range n.groups {
				v += field(sg.metrics).Load()
			}
			return float64(v)
		})
	}
	nm := n.metrics
	cs := []prometheus.Collector{
		nm.txTotal, nm.txSeconds, nm.txOperations, nm.acrossGroups, nm.resolved, nm.blocked, nm.heldFinished, nm.holds, nm.holdsOpen, nm.holdsReserved,
		sum("cloudwallet_customers", "Customers held (Deleted ones included).", func(m *metrics) *atomic.Int64 { return &m.customers }),
		sum("cloudwallet_wallets", "Wallets held.", func(m *metrics) *atomic.Int64 { return &m.wallets }),
		sum("cloudwallet_transactions", "Transaction records held (Completed and Failed).", func(m *metrics) *atomic.Int64 { return &m.transactions }),
	}
	for _, sg := range n.groups {
		m := sg.metrics
		cs = append(cs, m.applySeconds, m.entriesPerApply, m.commandsPerEntry,
			m.leaderChanges, m.logSyncSeconds, m.logBytes, m.snapFreezeSecs, m.snapPersistSecs,
			m.snapBytes, m.snapFailures, m.readIndexRounds, m.readIndexReads, m.forwardVecs[0], m.forwardVecs[1], m.fences,
			newReplicaCollector(sg))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// observeTransaction counts one transaction write.
func (m *nodeMetrics) observeTransaction(cmd *shard.Command, r shard.Result, err error, took time.Duration) {
	m.txOutcomes[outcomeOf(r, err)].Inc()
	if err == nil {
		m.txSeconds.Observe(took.Seconds())
	}
	m.txOperations.Observe(float64(len(cmd.Ops)))
	if cmd.Kind == shard.CmdHold && err == nil && r.Created {
		m.holds.WithLabelValues("held").Inc()
	}
}

// countHeld keeps the held gauges in step with applied results.
func (m *metrics) countHeld(cmd *shard.Command, r shard.Result) {
	switch cmd.Adds(r) {
	case shard.HeldCustomers:
		m.customers.Add(1)
	case shard.HeldWallets:
		m.wallets.Add(1)
	case shard.HeldTransactions:
		m.transactions.Add(1)
	}
}

// recount sets the held gauges from a restored machine.
func (m *metrics) recount(mc *shard.Machine) {
	c := mc.Counts()
	m.customers.Store(int64(c.Customers))
	m.wallets.Store(int64(c.Wallets))
	m.transactions.Store(int64(c.Transactions))
}

// fsmObserver feeds the FSM's reports into the metrics.
func (rp *replica) fsmObserver() raftfsm.Observer {
	m := rp.metrics
	return raftfsm.Observer{
		Applied: func(entries, _ int, took time.Duration) {
			m.applySeconds.Observe(took.Seconds())
			m.entriesPerApply.Observe(float64(entries))
		},
		Entry:  func(commands int) { m.commandsPerEntry.Observe(float64(commands)) },
		Frozen: func(took time.Duration) { m.snapFreezeSecs.Observe(took.Seconds()) },
		Persisted: func(bytes int64, took time.Duration, err error) {
			if err != nil {
				m.snapFailures.Inc()
				rp.log.Error("snapshot failed", "err", err)
				return
			}
			m.snapPersistSecs.Observe(took.Seconds())
			m.snapBytes.Set(float64(bytes))
			rp.log.Info("snapshot written", "bytes", bytes, "took", took.String())
		},
	}
}

// meteredLogStore times every append (write + fsync) of the log store.
type meteredLogStore struct {
	raft.LogStore
	m *metrics
}

func (s meteredLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s meteredLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLogs(logs)
	s.m.logSyncSeconds.Observe(time.Since(start).Seconds())
	var bytes int
	for _, l := range logs {
		bytes += len(l.Data) + len(l.Extensions)
	}
	s.m.logBytes.Add(float64(bytes))
	return err
}

// IsMonotonic passes the inner store's answer on: Raft asks the store it
// was given, and a monotonic store must be told so after a snapshot install.
func (s meteredLogStore) IsMonotonic() bool {
	mono, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && mono.IsMonotonic()
}

// replicaCollector reads a group's Raft state and queue depths at scrape
// time, from this node's replica of it (nothing while it holds none).
type replicaCollector struct {
	sg                                                                        *shardGroup
	descRaftLeader, descRaftTerm, descRaftCommit, descRaftApply, descRaftLast *prometheus.Desc
	descProposals, descInFlight, descShardQueue                               *prometheus.Desc
}

func newReplicaCollector(sg *shardGroup) *replicaCollector {
	groupLabel := prometheus.Labels{"group": strconv.Itoa(sg.group)}
	return &replicaCollector{
		sg:             sg,
		descRaftLeader: prometheus.NewDesc("cloudwallet_raft_leader", "1 if this node leads the group.", nil, groupLabel),
		descRaftTerm:   prometheus.NewDesc("cloudwallet_raft_term", "Current Raft term.", nil, groupLabel),
		descRaftCommit: prometheus.NewDesc("cloudwallet_raft_commit_index", "Highest log index known committed.", nil, groupLabel),
		descRaftApply:  prometheus.NewDesc("cloudwallet_raft_applied_index", "Highest log index applied to the state.", nil, groupLabel),
		descRaftLast:   prometheus.NewDesc("cloudwallet_raft_last_log_index", "Highest log index stored.", nil, groupLabel),
		descProposals:  prometheus.NewDesc("cloudwallet_proposal_queue_depth", "Writes waiting to be packed into a log entry (a batch counts once).", nil, groupLabel),
		descInFlight:   prometheus.NewDesc("cloudwallet_proposal_entries_in_flight", "Log entries proposed and not yet applied.", nil, groupLabel),
		descShardQueue: prometheus.NewDesc("cloudwallet_shard_queue_depth", "Tasks waiting in a partition worker's inbox (partition meta or the shard number).", []string{"partition"}, groupLabel),
	}
}

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.descRaftLeader, c.descRaftTerm, c.descRaftCommit, c.descRaftApply, c.descRaftLast, c.descProposals, c.descInFlight, c.descShardQueue} {
		ch <- d
	}
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	rp := c.sg.replica()
	if rp == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	stats := rp.raft.Stats()
	stat := func(k string) float64 {
		v, _ := strconv.ParseUint(stats[k], 10, 64)
		return float64(v)
	}
	leader := 0.0
	if rp.raft.State() == raft.Leader {
		leader = 1
	}
	gauge(c.descRaftLeader, leader)
	gauge(c.descRaftTerm, stat("term"))
	gauge(c.descRaftCommit, stat("commit_index"))
	gauge(c.descRaftApply, stat("applied_index"))
	gauge(c.descRaftLast, stat("last_log_index"))
	gauge(c.descProposals, float64(len(rp.proposals)))
	gauge(c.descInFlight, float64(len(rp.inflight)))
	for p, depth := range rp.parts.queueDepths() {
		name := "meta"
		if p != shard.MetaPartition {
			name = strconv.Itoa(int(rp.layout.Base) + p - 1)
		}
		gauge(c.descShardQueue, float64(depth), name)
	}
}
