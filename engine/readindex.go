package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cloudwallet/cloudwallet/raftfsm"
)

// Linearizable reads (the ReadIndex method of the Raft thesis, §6.4).
//
// The leader answers "what must a read wait for?" with its commit index,
// taken after the read arrived and confirmed by one VerifyLeader round (a
// heartbeat to a majority) that proves nobody else led meanwhile. All reads
// waiting when a round starts share it. The reader, leader or follower,
// then waits until its own state machine has applied that index.
//
// A new leader's commit index may lag what earlier leaders committed until
// it has committed an entry of its own term, so a leader serves read
// indexes only after its term's marker (an empty command entry, proposed
// when it takes office) has been applied.

var errNotReadReady = errors.New("engine: the leader has not yet committed an entry of its term")

// rounds runs fn once for every group of callers waiting when it starts.
type rounds struct {
	fn      func() (uint64, error) // set at start, read-only after
	counted roundCounters          // set at start; counters are safe for concurrent use

	mu      sync.Mutex // guards following
	waiting []chan roundResult
	running bool // a loop goroutine is running rounds
}

type roundResult struct {
	index uint64
	err   error
}

func (r *rounds) do(ctx context.Context) (uint64, error) {
	ch := make(chan roundResult, 1)
	r.mu.Lock()
	r.waiting = append(r.waiting, ch)
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
	select {
	case res := <-ch:
		return res.index, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (r *rounds) loop() {
	for {
		r.mu.Lock()
		batch := r.waiting
		r.waiting = nil
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		index, err := r.fn() // starts after every caller in batch arrived
		r.counted.count(len(batch), err)
		for _, ch := range batch {
			ch <- roundResult{index, err}
		}
	}
}

// leaderReadIndex is the round a leader runs for its own and its
// followers' reads.
func (rp *replica) leaderReadIndex() (uint64, error) {
	term := rp.raft.CurrentTerm()
	if rp.raft.State() != raft.Leader {
		return 0, raft.ErrNotLeader
	}
	if rp.readyTerm.Load() != term {
		rp.ensureMarked()
		return 0, errNotReadReady
	}
	index := rp.raft.CommitIndex()
	if err := rp.raft.VerifyLeader().Error(); err != nil {
		return 0, err
	}
	if rp.raft.CurrentTerm() != term {
		return 0, raft.ErrLeadershipLost
	}
	return index, nil
}

// leaderlessReadsMax: after this many election timeouts without a known
// leader, reads fail at once instead of waiting for one.
const leaderlessReadsMax = 2

// leaderlessFor is how long this replica has known no leader since it
// last knew one (0 while it knows one, and at start, before the first).
func (rp *replica) leaderlessFor() time.Duration {
	since := rp.noLeaderSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// ReadIndex returns the log index a linearizable read must wait for: every
// write acknowledged before the call is at or below it.
func (rp *replica) ReadIndex(ctx context.Context) (uint64, error) {
	retry := readIndexRetry.start()
	for {
		var index uint64
		var err error
		if rp.raft.State() == raft.Leader {
			index, err = rp.localReads.do(ctx)
		} else {
			index, err = rp.remoteReads.do(ctx)
		}
		if err == nil {
			return index, nil
		}
		// A node that has known no leader for longer than an election
		// takes is most likely cut off from the others: say so now, so
		// the client tries another node, rather than after ReadTimeout.
		if rp.leaderlessFor() > leaderlessReadsMax*rp.n.cfg.ElectionTimeout {
			return 0, fmt.Errorf("%w: no leader known for %v", ErrUnavailable, rp.leaderlessFor().Round(time.Millisecond))
		}
		// A leader that just took office, or a moment without one, passes
		// quickly: wait a little and ask again, within ctx.
		if !retry.wait(ctx, rp.closing) {
			if ctx.Err() != nil {
				return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			return 0, ErrUnavailable
		}
	}
}

// linearize waits until this replica's state reflects every write
// acknowledged (by any node) in its group before the call. It fails with
// ErrUnavailable when no leader answers within ctx (at most ReadTimeout).
func (rp *replica) linearize(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, rp.n.cfg.ReadTimeout)
	defer cancel()
	index, ok := rp.soloReadIndex()
	if !ok {
		var err error
		if index, err = rp.ReadIndex(ctx); err != nil {
			return err
		}
	}
	if err := rp.applied.wait(ctx, index); err != nil {
		return fmt.Errorf("%w: applying up to index %d: %v", ErrUnavailable, index, err)
	}
	return nil
}

// soloReadIndex is the read index of a leader that is the only voter: no
// other node can lead, so no VerifyLeader round is needed, only the commit
// index (a non-voter may have acknowledged a write this node's state
// machine has not yet applied). The latest configuration is read from
// memory; one still being changed counts if it is, too, self alone.
func (rp *replica) soloReadIndex() (uint64, bool) {
	term := rp.raft.CurrentTerm()
	if rp.raft.State() != raft.Leader || rp.readyTerm.Load() != term {
		return 0, false
	}
	servers := rp.raft.GetConfiguration().Configuration().Servers
	for _, s := range servers {
		if s.Suffrage == raft.Voter && string(s.ID) != rp.n.id {
			return 0, false
		}
	}
	return rp.raft.CommitIndex(), true
}

// askLeaderReadIndex is the round a follower runs: one call to the leader
// for all its reads waiting.
func (rp *replica) askLeaderReadIndex() (uint64, error) {
	addr, _ := rp.raft.LeaderWithID()
	if addr == "" {
		return 0, errors.New("no leader known")
	}
	var ans callAnswer
	if err := rp.n.calls.do(string(addr), callRequest{Op: opReadIndex, Group: rp.group}, &ans, rp.n.cfg.ReadTimeout); err != nil {
		return 0, err
	}
	return ans.Index, nil
}

// ensureMarked runs markTerm unless it is already running.
func (rp *replica) ensureMarked() {
	if rp.marking.CompareAndSwap(false, true) {
		go func() {
			defer rp.marking.Store(false)
			rp.markTerm()
		}()
	}
}

// markTerm proposes the empty entry that makes a new leader ready to serve
// read indexes, and records its term once it is applied.
func (rp *replica) markTerm() {
	term := rp.raft.CurrentTerm()
	if rp.raft.State() != raft.Leader || rp.readyTerm.Load() == term {
		return
	}
	var b raftfsm.EntryBuilder
	f := rp.raft.Apply(b.Entry(time.Now().UnixMilli()), rp.n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		rp.log.Warn("leader could not commit its term marker", "term", term, "err", err)
		return
	}
	if rp.raft.CurrentTerm() == term {
		rp.readyTerm.Store(term)
	}
}
