package engine

import (
	"context"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Holds of transactions across groups outlive the answer: a coordinator
// answers once the referenceId's group has decided, and the other groups'
// parts are finished after that (crossgroup.go). Whatever meets a hold
// that may belong to a decided transaction finishes that transaction's
// parts first (shard/held.go):
//   - a command that touches a wallet with a hold answers Blocked;
//     Propose settles the holds and proposes it again with HoldsSettled;
//   - a prepare's vote likewise (prepareSettled);
//   - a linearizable read of wallets or entries settles the holds on what
//     it read and reads again, until what it read holds no part of a
//     transaction decided when it looked (settledRead).

// settleRoundsMax bounds how often a read settles and reads again: each
// round finishes every decided transaction the last read met, so only new
// ones, decided in between, make another round.
const settleRoundsMax = 8

// settleHolds finishes the decided transactions across groups whose parts
// hold any of the wallets (all of one group: the group that answered
// Blocked).
func (n *Node) settleHolds(ctx context.Context, p shard.ProjectID, wallets []shard.WalletID) error {
	parts, err := n.heldParts(ctx, p, wallets)
	if err != nil {
		return err
	}
	_, err = n.settleParts(ctx, parts)
	return err
}

// heldParts lists the parts of transactions across groups that hold any
// of the wallets, all of one group: read in this node's replica, which
// the caller's proposal has brought up to the hold, or through a holder.
func (n *Node) heldParts(ctx context.Context, p shard.ProjectID, wallets []shard.WalletID) ([]shard.InDoubt, error) {
	var parts []shard.InDoubt
	for _, w := range wallets {
		if int(w.Shard) >= n.Shards() {
			continue
		}
		if !n.ReadShard(w.Shard, func(s *shard.Shard) {
			parts = append(parts, s.HeldParts(p, []uint32{w.Index})...)
		}) {
			r, err := n.queryRemote(ctx, n.groupOf(w.Shard), remoteQuery{Kind: qHeldParts, Project: p, Wallets: wallets})
			return r.Held, err
		}
	}
	return parts, nil
}

// settleParts finishes each part's transaction if it is decided, as its
// record says in a linearizable read of the referenceId's group, and
// reports how many were. A part of an attempt that can never make a record
// (the referenceId's record is another attempt's) is decided too: it
// aborts. A part with no record yet, or whose record is Waiting or Held, is
// left as it stands: its transaction is undecided, and no client has its
// answer, or it is an open hold, whose reservation counts as it stands.
func (n *Node) settleParts(ctx context.Context, parts []shard.InDoubt) (settled int, err error) {
	for _, d := range parts {
		pp, err := n.placementOf(ctx, d.Project)
		if err != nil {
			return settled, err
		}
		tx, a, err := n.recordOf(ctx, pp, d.Project, d.Ref)
		if err != nil {
			return settled, err
		}
		switch {
		case tx == nil || a == d.Attempt && (tx.Status == shard.TxWaiting || tx.Status == shard.TxHeld):
			continue // undecided, or an open hold's part, which stays until the hold ends
		case a != d.Attempt:
			pl := n.place(pp, d.Project, d.Ref, d.Ops)
			err = n.finishParts(ctx, txRun{project: d.Project, ref: d.Ref, ops: d.Ops, attempt: d.Attempt}, shard.CmdTxAbort, nil, pl.parts)
		default:
			_, err = n.takeOn(ctx, pp, tx, a, false)
		}
		if err != nil {
			return settled, err
		}
		settled++
		n.metrics.heldFinished.Inc()
	}
	return settled, nil
}

// recordOf reads the record of a referenceId and the attempt that made
// it, linearizably (nil if there is none).
func (n *Node) recordOf(ctx context.Context, pp shard.Placement, p shard.ProjectID, ref string) (tx *shard.Tx, a shard.Attempt, err error) {
	if err := n.Confirm(ctx, n.ShardScope(pp.ReferenceShard(p, ref))); err != nil {
		return nil, a, err
	}
	return n.localRecord(ctx, pp, p, ref)
}

// settledRead runs read, which reads state and returns the parts that
// hold what it read. With settle (a linearizable read), while any of them
// belongs to a decided transaction, those are finished and read runs
// again: what the last run read is the answer.
func (n *Node) settledRead(ctx context.Context, settle bool, read func() []shard.InDoubt) error {
	for range settleRoundsMax {
		held := read()
		if !settle || len(held) == 0 {
			return nil
		}
		settled, err := n.settleParts(ctx, held)
		if err != nil {
			return err
		}
		if settled == 0 {
			return nil
		}
	}
	return ErrUnavailable
}
