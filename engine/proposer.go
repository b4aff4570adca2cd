package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/hashicorp/raft"
)

// The proposer: writes on their way into the log. propose queues a command
// (bounded: a full queue is ErrOverloaded) and waits for its result;
// proposeLoop packs what waits into log entries (group commit).

// proposal is one command on its way into the log. A local one waits in
// pending for its result; one forwarded by another node (remote) is
// answered with a status in its batch.
//
// cmd, tag, remote and slot are set before the proposal is queued and
// read-only after; res and err are written once, by whoever completes it
// (under pending.mu, or for a remote one by the goroutine that ends its
// batch), before done is closed; the waiter reads them after done.
type proposal struct {
	cmd    *shard.Command
	tag    raftfsm.Tag
	remote *remoteBatch
	slot   int    // index in remote
	term   uint64 // the term its entry was appended in, when this node led
	// more: the other items of a batch, queued behind this one as one
	// unit (pipelineBatch), in request order. The proposer packs them into
	// entries right behind it, so a batch takes as few entries as the
	// entry size allows, not as many as the proposer happened to find
	// while the batch was still being queued.
	more []*proposal
	res  shard.Result
	err  error
	done chan struct{}
}

// originOf is a node's tag origin: a 64-bit FNV-1a hash of its id, never 0.
func originOf(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	return max(h, 1)
}

func (rp *replica) propose(ctx context.Context, cmd *shard.Command) (shard.Result, error) {
	select {
	case <-rp.closing:
		return shard.Result{}, ErrUnavailable
	default:
	}
	p := &proposal{cmd: cmd, tag: raftfsm.Tag{Origin: rp.n.origin}, done: make(chan struct{})}
	rp.pend.add(p)
	select {
	case rp.proposals <- p:
	default:
		rp.pend.complete(p.tag.Seq, shard.Result{}, ErrOverloaded) // queue full: shed load, retry is safe
		return shard.Result{}, ErrOverloaded
	}
	timer := timerPool.Get().(*time.Timer)
	timer.Reset(rp.n.cfg.ApplyTimeout)
	defer func() {
		timer.Stop() // since Go 1.23 a stopped timer holds no stale tick
		timerPool.Put(timer)
	}()
	return rp.result(ctx, p, timer.C)
}

// result waits for a queued proposal's result until expiry fires or ctx
// ends; then its outcome is unknown (its entry may still commit).
func (rp *replica) result(ctx context.Context, p *proposal, expiry <-chan time.Time) (shard.Result, error) {
	select {
	case <-p.done:
	case <-expiry:
		rp.pend.complete(p.tag.Seq, shard.Result{}, ErrOutcomeUnknown)
	case <-ctx.Done():
		rp.pend.complete(p.tag.Seq, shard.Result{}, ErrOutcomeUnknown)
	}
	<-p.done // closed by us above, or by whoever completed it first
	return p.res, p.err
}

// proposeLoop packs waiting proposals into log entries. It takes an
// in-flight slot before draining the queue, so while the disk is busy the
// queue fills and the next entry carries all of it. On a node that does not
// lead, the same batches go to the leader (forward.go).
func (rp *replica) proposeLoop() {
	defer rp.proposer.Done()
	var b raftfsm.EntryBuilder
	var queue []*proposal // taken from the channel, not in an entry yet, in order (from qi on)
	qi := 0
	take := func(p *proposal) {
		queue, qi = append(queue[:0], p), 0
		queue = append(queue, p.more...)
	}
	for {
		if qi == len(queue) {
			select {
			case p := <-rp.proposals:
				take(p)
			case <-rp.closing:
				rp.failQueued()
				return
			}
		}
		select {
		case rp.inflight <- struct{}{}:
		case <-rp.closing:
			for _, p := range queue[qi:] {
				rp.finish(p, ErrUnavailable, 0)
			}
			rp.failQueued()
			return
		}
		leading := rp.raft.State() == raft.Leader
		b.Reset()
		var batch []*proposal
		add := func(p *proposal) {
			switch {
			case p.remote != nil && !leading:
				rp.finish(p, ErrUnavailable, 0) // forwarded to us, but we no longer lead
			case b.Full(p.tag):
				rp.finish(p, ErrOverloaded, 0)
			default:
				b.Add(p.tag, p.cmd)
				batch = append(batch, p)
			}
		}
		room := func() bool {
			return b.Len() < rp.n.cfg.CommandsPerEntryMax && b.BodyBytes() < rp.n.cfg.EntryBytesMax
		}
	fill:
		for {
			for qi < len(queue) && (b.Len() == 0 || room()) {
				add(queue[qi])
				queue[qi] = nil
				qi++
			}
			if qi < len(queue) || !room() {
				break // the rest of a unit leads the next entry
			}
			select {
			case p := <-rp.proposals:
				take(p)
			default:
				break fill
			}
		}
		switch {
		case len(batch) == 0:
			<-rp.inflight
		case leading:
			rp.lastMs = max(rp.lastMs, time.Now().UnixMilli())
			// A leader appends in its current term; had the term moved on
			// before Apply, Apply fails at once (index 0, never appended).
			term := rp.raft.CurrentTerm()
			for _, p := range batch {
				p.term = term
			}
			f := rp.raft.Apply(b.Entry(rp.lastMs), rp.n.cfg.ApplyTimeout)
			go rp.await(f, batch)
		default:
			go rp.forwardBatch(batch, b.Entry(0))
		}
	}
}

// await ends a leader's batch when its entry's future resolves: forwarded
// proposals get their status; local ones end here only if the entry failed
// (on success Settle has already given them their results).
func (rp *replica) await(f raft.ApplyFuture, batch []*proposal) {
	defer func() { <-rp.inflight }()
	if err := f.Error(); err != nil {
		// Index 0: never appended, a definite no. Otherwise the entry may
		// still commit under the next leader (finish marks it lost).
		index, why := f.Index(), ErrOutcomeUnknown
		if index == 0 {
			why = ErrUnavailable
		}
		for _, p := range batch {
			rp.finish(p, why, index)
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

func (rp *replica) failQueued() {
	for {
		select {
		case p := <-rp.proposals:
			rp.finish(p, ErrUnavailable, 0)
			for _, q := range p.more {
				rp.finish(q, ErrUnavailable, 0)
			}
		default:
			return
		}
	}
}
