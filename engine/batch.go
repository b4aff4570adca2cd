package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Batches: many transactions of one project in one call
// (POST /transactions/batch). Each item is its own all-or-nothing
// transaction with its own referenceId, and items run in request order as
// far as their wallets (or referenceIds) overlap.
//
// The common case, a project in one group this node serves, queues every
// item into the group's proposer in order, without waiting in between, so
// group commit packs them into as few log entries as the entry size allows
// and the log applies them in request order. Everything else (a project
// over several groups, whose items may span groups or meet holds; a group
// held elsewhere) runs each item through Transact, as a single request
// would, concurrently where items share no wallet and no referenceId and
// one after another where they do.

// BatchItem is one transaction of a batch.
type BatchItem struct {
	ReferenceID string
	Ops         []shard.Op
	// Hold: the item is a hold (holds.go) with this timeout (0: never).
	Hold          bool
	HoldTimeoutMs int64
}

// command is the command the item proposes.
func (it *BatchItem) command(p shard.ProjectID) *shard.Command {
	if it.Hold {
		return HoldCommand(p, it.ReferenceID, it.Ops, it.HoldTimeoutMs)
	}
	return TransactionCommand(p, it.ReferenceID, it.Ops)
}

// BatchOutcome is what one item came to: what Transact would have
// returned for it.
type BatchOutcome struct {
	Result shard.Result
	Err    error
}

// batchParallelMax bounds the items of one batch in flight at once on the
// item-by-item path.
const batchParallelMax = 256

// AdmitBatch admits a batch of items before anything of it is decoded or
// done: the items of the batches in flight on the node stay within the
// proposal queue's bound (ProposalQueueMax), so memory stays bounded
// however many clients send batches. Beyond it the batch is ErrOverloaded
// and nothing of it may happen. release ends the admission, once the
// batch's outcomes are answered.
func (n *Node) AdmitBatch(items int) (release func(), err error) {
	k := int64(items)
	if n.batchItems.Add(k) > int64(n.cfg.ProposalQueueMax) {
		n.batchItems.Add(-k)
		return nil, ErrOverloaded
	}
	var once sync.Once
	return func() { once.Do(func() { n.batchItems.Add(-k) }) }, nil
}

// TransactBatch runs items as transactions of project p and returns their
// outcomes in the same order. The caller admitted them (AdmitBatch).
func (n *Node) TransactBatch(ctx context.Context, by shard.By, p shard.ProjectID, items []BatchItem) []BatchOutcome {
	out := make([]BatchOutcome, len(items))
	pl, err := n.placementOf(ctx, p)
	if err != nil {
		o := BatchOutcome{Err: err}
		if errors.Is(err, ErrNoProject) {
			o = BatchOutcome{Result: shard.Result{Code: shard.ProjectNotFound}}
		}
		for i := range out {
			out[i] = o
		}
		return out
	}
	if len(pl.Groups) == 1 {
		if rp := n.groups[pl.Groups[0]].serving(); rp != nil {
			n.pipelineBatch(ctx, rp, by, p, pl, items, out)
			return out
		}
	}
	n.itemByItem(ctx, by, p, items, out)
	return out
}

// pipelineBatch queues every item into rp's proposer in request order, as
// one unit, and then waits for them all (ApplyTimeout after they were
// queued). A full queue is waited on, up to ApplyTimeout, not refused at
// once: the batch was admitted as a whole. A batch that could not be
// queued never happened.
func (n *Node) pipelineBatch(ctx context.Context, rp *replica, by shard.By, p shard.ProjectID, pl shard.Placement, items []BatchItem, out []BatchOutcome) {
	start := time.Now()
	cmds := make([]shard.Command, len(items))
	props := make([]proposal, len(items))
	unit := make([]*proposal, len(items))
	for i := range items {
		cmd, pr := &cmds[i], &props[i]
		*cmd = *items[i].command(p)
		by.Stamp(cmd)
		pl.Home(cmd)
		*pr = proposal{cmd: cmd, tag: raftfsm.Tag{Origin: n.origin}, done: make(chan struct{})}
		rp.pend.add(pr)
		unit[i] = pr
	}
	// The whole batch is one unit in the queue: the proposer packs it
	// into as few entries as their size allows, in request order.
	unit[0].more = unit[1:]
	var refused error
	select {
	case rp.proposals <- unit[0]:
	default:
		timer := time.NewTimer(n.cfg.ApplyTimeout) // the queue is full: wait for room
		select {
		case rp.proposals <- unit[0]:
		case <-rp.closing:
			refused = ErrUnavailable
		case <-ctx.Done():
			refused = ErrUnavailable
		case <-timer.C:
			refused = ErrOverloaded
		}
		timer.Stop()
	}
	queued := len(items)
	if refused != nil {
		for i := range props {
			rp.pend.complete(props[i].tag.Seq, shard.Result{}, refused)
			out[i] = BatchOutcome{Err: refused}
		}
		queued = 0
	}
	wait, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout) // one deadline for the whole batch
	defer cancel()
	for i := range queued {
		out[i].Result, out[i].Err = rp.result(wait, &props[i], nil)
	}
	took := time.Since(start) // each item waited for the whole batch: its latency is the batch's
	for i := range queued {
		n.metrics.observeTransaction(&cmds[i], out[i].Result, out[i].Err, took)
	}
}

// itemByItem runs each item as Transact (or Hold) would: an item starts once every
// earlier item that shares a wallet or its referenceId has ended, and at
// most batchParallelMax run at once.
func (n *Node) itemByItem(ctx context.Context, by shard.By, p shard.ProjectID, items []BatchItem, out []BatchOutcome) {
	last := map[string]chan struct{}{} // per wallet or referenceId, the latest item that names it
	slots := make(chan struct{}, batchParallelMax)
	var wg sync.WaitGroup
	for i := range items {
		var after []chan struct{}
		done := make(chan struct{})
		for _, key := range itemKeys(items[i]) {
			if c, ok := last[key]; ok {
				after = append(after, c)
			}
			last[key] = done
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer close(done)
			for _, c := range after {
				<-c
			}
			r, err := n.proposeBy(ctx, by, items[i].command(p))
			out[i] = BatchOutcome{Result: r, Err: err}
		}()
	}
	wg.Wait()
}

// itemKeys names what orders an item against others: its referenceId and
// the wallets its operations touch.
func itemKeys(it BatchItem) []string {
	keys := make([]string, 0, 1+2*len(it.Ops))
	keys = append(keys, "r"+it.ReferenceID)
	for _, op := range it.Ops {
		if op.Type != shard.OpIssue {
			keys = append(keys, "w"+op.Source.String())
		}
		if op.Type != shard.OpRedeem {
			keys = append(keys, "w"+op.Destination.String())
		}
	}
	return keys
}
