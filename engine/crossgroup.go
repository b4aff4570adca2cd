package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Transactions across shard groups: the coordinator of the two-phase
// commit whose state-machine half is shard/twophase.go. A transaction whose
// wallets live in its referenceId's group is one command in that group,
// as always; one that spans groups runs
//
//	TxBegin (referenceId's group) → TxPrepare (each group of its wallets,
//	in parallel) → TxDecide (referenceId's group: the commit point) →
//	TxCommit or TxAbort (each prepared group, in parallel)
//
// and answers once every part is finished, so a read that follows the
// answer sees all of it. Any step that fails leaves the transaction to the
// resolver: each node, for the groups it leads, finds records still
// Waiting and prepared parts that stay in flight and runs the protocol
// again from the record (every step is idempotent, the first decision
// wins). Safety never depends on the resolver's timing, only liveness.

// resolveEvery is how often the resolver looks for transactions in doubt;
// one seen in flight on two looks in a row is resolved.
const resolveEvery = 2 * time.Second

// placement is where a transaction lives: the group of its referenceId
// and the groups of its wallets (wallets on shards no group holds are left
// out: the checks find them missing). It is worked out once per
// transaction and handed to every step; only a retry whose record holds
// other operations than its body works it out again, from the record.
type placement struct {
	project  shard.Placement // the project's: where its referenceIds hash
	refShard uint16
	ref      *replica
	parts    []*replica
}

// spans reports whether the transaction needs more than one group.
func (pl placement) spans() bool {
	return len(pl.parts) > 1 || (len(pl.parts) == 1 && pl.parts[0] != pl.ref)
}

// place works out a transaction's placement in its project's.
func (n *Node) place(pp shard.Placement, p shard.ProjectID, refID string, ops []shard.Op) placement {
	s := pp.ReferenceShard(p, refID)
	pl := placement{project: pp, refShard: s, ref: n.groupOf(s)}
	add := func(w shard.WalletID) {
		if rp := n.groupOf(w.Shard); rp != nil {
			for _, have := range pl.parts {
				if have == rp {
					return
				}
			}
			pl.parts = append(pl.parts, rp)
		}
	}
	for _, op := range ops {
		if op.Type != shard.OpIssue {
			add(op.Source)
		}
		if op.Type != shard.OpRedeem {
			add(op.Destination)
		}
	}
	return pl
}

// Recorded reads the record of a referenceId (nil if none) and whether its
// outcome is final: decided, and, across groups, with every part finished.
// That last one only a retry can tell (it finishes them), so a decided
// record across groups is not final here: a read after the answer must see
// the whole transaction.
func (n *Node) Recorded(p shard.ProjectID, ref string) (tx *shard.Tx, final bool) {
	pp, ok := n.keys.placement(p)
	if !ok {
		return nil, false
	}
	n.ReadShard(pp.ReferenceShard(p, ref), func(s *shard.Shard) { tx, _ = s.TxByReference(p, ref) })
	if tx == nil || tx.Status == shard.TxWaiting {
		return tx, false
	}
	return tx, !n.place(pp, p, ref, tx.Ops).spans()
}

// proposeTransaction runs a transaction as one command when one group holds
// all of it, else across groups.
func (n *Node) proposeTransaction(ctx context.Context, cmd *shard.Command, pp shard.Placement) (shard.Result, error) {
	if len(pp.Groups) == 1 {
		// The common case: the project lives in one group, and so does
		// all of the transaction (a wallet of another project is not
		// found there).
		return n.groups[pp.Groups[0]].propose(ctx, cmd)
	}
	pl := n.place(pp, cmd.Project, cmd.ReferenceID, cmd.Ops)
	if !pl.spans() {
		r, err := pl.ref.propose(ctx, cmd)
		if err == nil && r.Code == shard.DuplicateReferenceID {
			// A retry whose body stays in one group may name a
			// transaction across groups: finish every part of it (it
			// may be Waiting, or decided with parts left by a dead
			// coordinator) before answering with its outcome.
			if tx := r.Value.(*shard.Tx); tx.Status == shard.TxWaiting || !slices.Equal(tx.Ops, cmd.Ops) && n.place(pp, tx.Project, tx.ReferenceID, tx.Ops).spans() {
				return n.acrossGroups(ctx, tx.Project, tx.ReferenceID, tx.Ops, nil)
			}
		}
		return r, err
	}
	r, err := n.acrossGroups(ctx, cmd.Project, cmd.ReferenceID, cmd.Ops, &pl)
	result := "answered"
	if err != nil {
		result = "unknown"
	}
	n.groups[metaGroup].metrics.acrossGroups.WithLabelValues(result).Inc()
	return r, err
}

// acrossGroups runs the protocol for one transaction, or finishes the one
// its referenceId already names (a retry, or the resolver): a Waiting
// record is taken on from the prepares, a decided one from the finishes.
//
// pl is the placement of ops, if the caller has worked it out.
func (n *Node) acrossGroups(ctx context.Context, p shard.ProjectID, refID string, ops []shard.Op, pl *placement) (shard.Result, error) {
	// The steps share one deadline; a step that was definitely not
	// proposed (no leader known for a moment, a full queue) is tried
	// again within it, so an election answers late rather than 202.
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	if pl == nil {
		pp, err := n.placementOf(ctx, p)
		if err != nil {
			return shard.Result{}, err
		}
		placed := n.place(pp, p, refID, ops)
		pl = &placed
	}
	refGroup := pl.ref
	// The begin is proposed once, like a command in one group: refused
	// (no leader, a full queue), nothing was written, and the caller hears
	// so at once. The steps after it are tried again within the deadline:
	// the record exists, and finishing beats leaving it Waiting.
	begin, err := refGroup.propose(ctx, &shard.Command{Kind: shard.CmdTxBegin, Project: p, Shard: pl.refShard, ReferenceID: refID, Ops: ops})
	if err != nil {
		return shard.Result{}, err
	}
	tx, ok := begin.Value.(*shard.Tx)
	if !ok {
		return begin, nil // refused without a record (a limit)
	}
	duplicate := begin.Code == shard.DuplicateReferenceID
	answer := func(decided *shard.Tx) shard.Result {
		switch {
		case duplicate:
			return shard.Result{Code: shard.DuplicateReferenceID, Value: decided}
		case decided.Status == shard.TxCompleted:
			return shard.Result{Created: true, Value: decided}
		}
		return shard.Result{Code: decided.ErrCode, Value: decided}
	}
	// The record's operations are the truth: a retry may carry others.
	parts := pl.parts
	if duplicate && !slices.Equal(tx.Ops, ops) {
		parts = n.place(pl.project, p, refID, tx.Ops).parts
	}
	if duplicate && tx.Status != shard.TxWaiting {
		// Decided, but its coordinator may have died before finishing
		// every part: finish them (a no-op where done) before answering,
		// so a read after the answer sees the whole transaction.
		if err := n.finishParts(ctx, tx, parts); err != nil {
			return shard.Result{}, err
		}
		return answer(tx), nil
	}
	prepared := make([]*shard.Prepared, len(parts))
	if err := each(parts, func(i int, rp *replica) error {
		r, err := rp.step(ctx, &shard.Command{Kind: shard.CmdTxPrepare, Project: p, ReferenceID: refID, Tx: tx.ID, Ops: tx.Ops})
		if err == nil {
			var ok bool // not the outer ok: the prepares run in parallel
			if prepared[i], ok = r.Value.(*shard.Prepared); !ok {
				err = errors.New("engine: a prepare was refused: " + r.Code.String())
			}
		}
		return err
	}); err != nil {
		return shard.Result{}, unknownAfterBegin(err)
	}
	st, code, at := shard.Outcome(tx.Ops, n.Shards(), prepared)
	d, err := refGroup.step(ctx, &shard.Command{Kind: shard.CmdTxDecide, Project: p, Shard: pl.refShard, ReferenceID: refID, Tx: tx.ID,
		TxStatus: st, ErrCode: code, ErrOpIndex: at})
	if err != nil {
		return shard.Result{}, unknownAfterBegin(err)
	}
	decided, ok := d.Value.(*shard.Tx)
	if !ok || decided.Status == shard.TxWaiting {
		return shard.Result{}, errors.New("engine: the decision was refused: " + d.Code.String())
	}
	if err := n.finishParts(ctx, decided, parts); err != nil {
		return shard.Result{}, err
	}
	return answer(decided), nil
}

// finishParts commits or aborts every participant's part, as decided.
func (n *Node) finishParts(ctx context.Context, decided *shard.Tx, parts []*replica) error {
	kind := shard.CmdTxAbort
	if decided.Status == shard.TxCompleted {
		kind = shard.CmdTxCommit
	}
	err := each(parts, func(_ int, rp *replica) error {
		_, err := rp.step(ctx, &shard.Command{Kind: kind, Project: decided.Project, ReferenceID: decided.ReferenceID,
			Tx: decided.ID, At: decided.CreatedAt, Ops: decided.Ops})
		return err
	})
	return unknownAfterBegin(err)
}

// step proposes one step of the protocol, again while it is definitely
// not proposed (ErrUnavailable, ErrOverloaded) and ctx allows: every step
// is idempotent, and nothing of a refused one happened.
func (rp *replica) step(ctx context.Context, cmd *shard.Command) (shard.Result, error) {
	retry := stepRetry.start()
	for {
		r, err := rp.propose(ctx, cmd)
		if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrOverloaded) {
			return r, err
		}
		if !retry.wait(ctx, rp.closing) {
			return r, err
		}
	}
}

// unknownAfterBegin: once the record exists, a failed step leaves the
// outcome to the resolver; the client learns it by retrying.
func unknownAfterBegin(err error) error {
	if err == nil {
		return nil
	}
	return ErrOutcomeUnknown
}

// each runs fn for every group in parallel and returns the first error.
func each(parts []*replica, fn func(i int, rp *replica) error) error {
	if len(parts) == 1 {
		return fn(0, parts[0])
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, rp := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, rp)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// resolveLoop finishes transactions across groups left in doubt by a
// coordinator that failed or died: in every group this node leads, a
// record still Waiting or a part still prepared on two looks in a row.
func (n *Node) resolveLoop() {
	seen := map[string]int{}
	n.every(resolveEvery, func() {
		now := map[string]int{}
		for _, rp := range n.groups {
			if !rp.leads() {
				continue
			}
			n.repairRevocations(rp)
			for s := range rp.layout.Count {
				var found []shard.InDoubt
				rp.parts.read(1+s, func(m *shard.Machine) { found = m.Shards[s].InDoubt() })
				for _, d := range found {
					key := fmt.Sprintf("%d/%s", d.Project, d.Ref)
					if now[key] = seen[key] + 1; now[key] >= 2 {
						n.resolve(d)
					}
				}
			}
		}
		seen = now
	})
}

// repairRevocations revokes in a group every key pair the meta group
// deleted that the group's log has not revoked: a DeleteKeyPair whose
// answer was lost half-way (its caller got an unknown outcome).
func (n *Node) repairRevocations(rp *replica) {
	if rp.group == metaGroup {
		return
	}
	var deleted []shard.KeyPairID
	n.ReadMeta(func(m *shard.Meta) { deleted = m.DeletedKeyPairs() })
	var missing []shard.KeyPairID
	rp.parts.read(shard.MetaPartition, func(m *shard.Machine) {
		for _, k := range deleted {
			if !m.Revoked(k) {
				missing = append(missing, k)
			}
		}
	})
	for _, k := range missing {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		if _, err := rp.step(ctx, &shard.Command{Kind: shard.CmdRevokeKeyPair, KeyPair: k}); err != nil {
			n.log.Warn("resolver: revoking a deleted key pair failed; will retry", "group", rp.group, "keyPair", k.String(), "err", err)
		}
		cancel()
	}
}

// resolve runs the protocol again for one transaction in doubt.
func (n *Node) resolve(d shard.InDoubt) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	if _, err := n.acrossGroups(ctx, d.Project, d.Ref, d.Ops, nil); err != nil {
		n.log.Warn("resolver: a transaction across groups is still in doubt", "project", d.Project, "referenceId", d.Ref, "err", err)
		return
	}
	n.groups[metaGroup].metrics.resolved.Inc()
	n.log.Info("resolver: finished a transaction across groups", "project", d.Project, "referenceId", d.Ref)
}
