package engine

import (
	"context"
	"errors"
	"time"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Holds (shard/hold.go): authorize now, capture or void later, expire in
// log time. A hold whose wallets live in its referenceId's group is one
// command there (CmdHold), and so is its end (CmdHoldFinish). A hold across
// groups runs the protocol of crossgroup.go with a begin that makes a hold
// (CmdHoldBegin) and a decision of Held; its end is CmdHoldFinish in the
// referenceId's group, the decision the other groups' parts then commit or
// abort, after the answer, as any decided transaction's (held.go).

// expireEvery is how often a group's leader looks for holds due: a hold
// expires within about this long after its deadline.
const expireEvery = 500 * time.Millisecond

// expireBatchMax bounds the expiries one look proposes per shard.
const expireBatchMax = 256

// Hold authorizes the operations as one hold of project p: checked as a
// transaction is, against available balances, and recorded Held with its
// reservations (or Failed). timeoutMs 0 never expires.
func (n *Node) Hold(ctx context.Context, by shard.By, p shard.ProjectID, ref string, ops []shard.Op, timeoutMs int64) (shard.Result, error) {
	return n.proposeBy(ctx, by, HoldCommand(p, ref, ops, timeoutMs))
}

// HoldCommand is the command Hold proposes, under a fresh attempt that
// keys its reservations (shard/hold.go).
func HoldCommand(p shard.ProjectID, ref string, ops []shard.Op, timeoutMs int64) *shard.Command {
	return &shard.Command{Kind: shard.CmdHold, Project: p, ReferenceID: ref, Ops: ops, HoldTimeoutMs: timeoutMs, Attempt: newAttempt()}
}

// isTransaction reports whether a kind is a new transaction's (a hold is
// one): it runs in one group or across groups as its wallets say.
func isTransaction(k shard.Kind) bool { return k == shard.CmdTransaction || k == shard.CmdHold }

// FinishHold ends the hold with record id as to says (Completed: capture;
// Voided) and answers the record: as it ended, when it ends as asked or
// had already (asking again is answered the same), else with
// WrongTransactionStatus (a Voided or Expired hold captured, a Completed
// or Expired one voided, a record that is no hold).
func (n *Node) FinishHold(ctx context.Context, by shard.By, p shard.ProjectID, id shard.TxID, to shard.TxStatus) (shard.Result, error) {
	pp, err := n.placementOf(ctx, p)
	if err != nil {
		if errors.Is(err, ErrNoProject) {
			return shard.Result{Code: shard.ProjectNotFound}, nil
		}
		return shard.Result{}, err
	}
	if int(id.Shard) >= n.Shards() {
		return shard.Result{Code: shard.TransactionNotFound}, nil
	}
	if err := n.Confirm(ctx, n.ShardScope(id.Shard)); err != nil {
		return shard.Result{}, err
	}
	tx, a, ok, err := n.transactionAndAttempt(ctx, p, id)
	switch {
	case err != nil:
		return shard.Result{}, err
	case !ok:
		return shard.Result{Code: shard.TransactionNotFound}, nil
	case tx.Hold == nil:
		return shard.Result{Code: shard.WrongTransactionStatus, Value: tx}, nil
	}
	if tx.Status == shard.TxWaiting {
		// Its coordinator has not decided it yet (or died): decide it.
		r, err := n.takeOn(ctx, pp, tx, a, false)
		if err != nil {
			return shard.Result{}, err
		}
		tx = r.Value.(*shard.Tx)
	}
	if tx.Status == shard.TxHeld {
		r, err := n.endHold(ctx, by, pp, tx, a, to)
		ended, ok := r.Value.(*shard.Tx)
		if err != nil || r.Code != shard.OK || !ok {
			return r, err // refused (a revoked key): no record to compare
		}
		tx = ended
	}
	if tx.Status != to {
		return shard.Result{Code: shard.WrongTransactionStatus, Value: tx}, nil
	}
	return shard.Result{Value: tx}, nil
}

// endHold proposes the end of a Held record (its attempt a) and, for a
// hold across groups, finishes the other groups' parts after the answer.
// It answers the record as the log left it.
func (n *Node) endHold(ctx context.Context, by shard.By, pp shard.Placement, tx *shard.Tx, a shard.Attempt, to shard.TxStatus) (shard.Result, error) {
	cmd := &shard.Command{Kind: shard.CmdHoldFinish, Project: tx.Project, ReferenceID: tx.ReferenceID, Attempt: a, TxStatus: to, Ops: tx.Ops}
	r, err := n.proposeBy(ctx, by, cmd)
	if err != nil {
		return shard.Result{}, err
	}
	ended, ok := r.Value.(*shard.Tx)
	if r.Code != shard.OK || !ok {
		return r, nil
	}
	if ended.Status != shard.TxHeld {
		n.metrics.holds.WithLabelValues(holdOutcome(ended.Status)).Inc()
		pl := n.place(pp, tx.Project, tx.ReferenceID, tx.Ops)
		if pl.spans() {
			n.finishLater(txRun{project: tx.Project, ref: tx.ReferenceID, ops: tx.Ops, attempt: a}, ended, pl.others())
		}
	}
	return r, nil
}

// holdOutcome names how a hold ended, as the holds metric labels it.
func holdOutcome(s shard.TxStatus) string {
	switch s {
	case shard.TxCompleted:
		return "captured"
	case shard.TxVoided:
		return "voided"
	case shard.TxExpired:
		return "expired"
	}
	return "held"
}

// expireLoop expires the holds due in every group this node leads, in
// log time: the leader proposes, and the command expires the hold only if
// its log time has reached the deadline. It also keeps the gauges of open
// holds for the groups this node leads.
func (n *Node) expireLoop() {
	n.every(func() time.Duration { return expireEvery }, func() {
		now := time.Now().UnixMilli()
		var open int
		var reserved int64
		for _, rp := range n.held() {
			if rp.layout.HoldsMeta() || !rp.leads() {
				continue
			}
			for s := range rp.layout.Count {
				var due []shard.OpenHold
				rp.parts.read(1+s, func(m *shard.Machine) {
					d, o, r := m.Shards[s].DueHolds(now, expireBatchMax)
					due, open, reserved = d, open+o, reserved+r
				})
				for _, h := range due {
					n.expire(h)
				}
			}
		}
		n.metrics.holdsOpen.Set(float64(open))
		n.metrics.holdsReserved.Set(float64(reserved))
	})
}

// expire proposes the expiry of one hold due.
func (n *Node) expire(h shard.OpenHold) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	pp, err := n.placementOf(ctx, h.Tx.Project)
	if err == nil {
		_, err = n.endHold(ctx, shard.By{}, pp, h.Tx, h.Attempt, shard.TxExpired)
	}
	if err != nil {
		n.log.Warn("expiring a hold failed; will retry", "project", h.Tx.Project, "referenceId", h.Tx.ReferenceID, "err", err)
	}
}
