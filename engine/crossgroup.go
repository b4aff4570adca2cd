package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Transactions across shard groups: the coordinator of the two-phase
// commit whose state-machine half is shard/twophase.go. A transaction whose
// wallets live in its referenceId's group is one command in that group,
// as always; one that spans groups runs, under an attempt drawn first,
//
//	TxBegin (referenceId's group, preparing its own wallets) and TxPrepare
//	(each other group of its wallets), all at once → TxDecide
//	(referenceId's group, finishing its own part: the commit point) →
//	TxCommit or TxAbort (each other group, at once)
//
// and answers once the decision has applied: two log writes one after
// the other, whatever the number of groups. The other groups' parts are
// finished after the answer; a read or a check that meets a hold of a
// decided transaction finishes it first (held.go), so a read that follows
// the answer sees all of it. Any step that fails leaves the transaction to the
// resolver: each node, for the groups it leads, finds records still
// Waiting and prepared parts that stay in flight, and takes them on: a
// record from its prepares (every step is idempotent, the first decision
// wins), a part from a fence in its referenceId's group, which names the
// record or makes sure none will be made. Safety never depends on the
// resolver's timing, only liveness.

// errStillHeld: a part in doubt belongs to a hold across groups that is
// Held: nothing to resolve.
var errStillHeld = errors.New("engine: the part belongs to an open hold")

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
	ref      *shardGroup
	parts    []*shardGroup
}

// spans reports whether the transaction needs more than one group.
func (pl placement) spans() bool {
	return len(pl.parts) > 1 || (len(pl.parts) == 1 && pl.parts[0] != pl.ref)
}

// others are the groups of its wallets but the referenceId's, which
// prepares in the begin and finishes in the decision.
func (pl placement) others() []*shardGroup {
	return slices.DeleteFunc(slices.Clone(pl.parts), func(rp *shardGroup) bool { return rp == pl.ref })
}

// holdsWallets reports whether the referenceId's group holds a wallet of it.
func (pl placement) holdsWallets() bool { return slices.Contains(pl.parts, pl.ref) }

// place works out a transaction's placement in its project's.
func (n *Node) place(pp shard.Placement, p shard.ProjectID, refID string, ops []shard.Op) placement {
	s := pp.ReferenceShard(p, refID)
	pl := placement{project: pp, refShard: s, ref: n.groupOf(s)}
	add := func(w shard.WalletID) {
		if rp := n.groupOf(w.Shard); rp != nil && !slices.Contains(pl.parts, rp) {
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

// Recorded reads the record of a referenceId (nil if none, or if it could
// not be read) and whether its outcome is final: decided (a decided
// record's parts left unfinished are finished by whatever meets their
// holds, held.go).
func (n *Node) Recorded(ctx context.Context, p shard.ProjectID, ref string) (tx *shard.Tx, final bool) {
	pp, ok := n.keys.placement(p)
	if !ok {
		return nil, false
	}
	tx, _, err := n.localRecord(ctx, pp, p, ref)
	if err != nil {
		return nil, false
	}
	return tx, tx != nil && tx.Status != shard.TxWaiting
}

// localRecord reads the record of a referenceId (nil if none) and the
// attempt that made it: as this node's replica has it, or, for a group it
// does not hold, as a holder has it after a read index.
func (n *Node) localRecord(ctx context.Context, pp shard.Placement, p shard.ProjectID, ref string) (tx *shard.Tx, a shard.Attempt, err error) {
	s := pp.ReferenceShard(p, ref)
	if n.ReadShard(s, func(s *shard.Shard) {
		if t, ok := s.TxByReference(p, ref); ok {
			tx, a = t, s.AttemptOf(t.ID.Index)
		}
	}) {
		return tx, a, nil
	}
	r, err := n.queryRemote(ctx, n.groupOf(s), remoteQuery{Kind: qRecord, Project: p, ID: ref})
	return r.Tx, r.Attempt, err
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
			// transaction across groups still Waiting: decide it
			// before answering with its outcome.
			if tx := r.Value.(*shard.Tx); tx.Status == shard.TxWaiting {
				_, a, err := n.localRecord(ctx, pp, tx.Project, tx.ReferenceID) // applied where the proposal's answer came from
				if err != nil {
					return shard.Result{}, ErrOutcomeUnknown
				}
				return n.answerDuplicate(ctx, pp, tx, a)
			}
		}
		return r, err
	}
	r, err := n.acrossGroups(ctx, cmd, pl)
	result := "answered"
	if err != nil {
		result = "unknown"
	}
	n.metrics.acrossGroups.WithLabelValues(result).Inc()
	return r, err
}

// acrossGroups runs the protocol for a new transaction: the begin and the
// prepares at once, then the decision and the finishes. A referenceId
// already known answers as a duplicate, once its record is finished.
func (n *Node) acrossGroups(ctx context.Context, cmd *shard.Command, pl placement) (shard.Result, error) {
	// The steps share one deadline; a step that was definitely not
	// proposed (no leader known for a moment, a full queue) is tried
	// again within it, so an election answers late rather than 202.
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	a := newAttempt()
	run := txRun{project: cmd.Project, ref: cmd.ReferenceID, ops: cmd.Ops, attempt: a}
	others := pl.others()
	begin := *cmd
	begin.Kind, begin.Attempt = shard.CmdTxBegin, a
	if cmd.Kind == shard.CmdHold {
		begin.Kind = shard.CmdHoldBegin
	}
	// The begin is proposed once, like a command in one group: refused
	// (no leader, a full queue), nothing was written, and the caller hears
	// so at once. The prepares are tried again within the deadline.
	var began shard.Result
	var beginErr error
	var wg sync.WaitGroup
	wg.Go(func() { began, beginErr = pl.ref.propose(ctx, &begin) })
	votes := make([]*shard.Prepared, len(others))
	prepareErr := each(others, func(i int, rp *shardGroup) (err error) {
		votes[i], err = n.prepare(ctx, rp, run)
		return err
	})
	wg.Wait()
	if beginErr != nil {
		if !definitelyNotApplied(beginErr) {
			return shard.Result{}, ErrOutcomeUnknown // the resolver fences the attempt
		}
		// No record of this attempt exists or ever will: drop its parts.
		n.finishParts(ctx, run, shard.CmdTxAbort, nil, others)
		return shard.Result{}, beginErr
	}
	b, ok := began.Value.(*shard.Began)
	if !ok {
		// Refused without a record (a limit, a revoked key, or a fence
		// that came first): drop this attempt's parts.
		n.finishParts(ctx, run, shard.CmdTxAbort, nil, others)
		if err, _ := began.Value.(error); errors.Is(err, shard.ErrAttemptFenced) {
			return shard.Result{}, ErrUnavailable // never applied; a retry is safe
		}
		return began, nil
	}
	if !began.Created && b.Attempt != a {
		// A duplicate: this attempt's parts go, and the record's own
		// run is finished before the answer.
		n.finishParts(ctx, run, shard.CmdTxAbort, nil, others)
		return n.answerDuplicate(ctx, pl.project, b.Tx, b.Attempt)
	}
	if !began.Created || prepareErr != nil {
		// The begin applied twice, or a prepare's fate is unknown: take
		// the record on from its prepares, all of them again.
		return n.takeOn(ctx, pl.project, b.Tx, a, false)
	}
	if pl.holdsWallets() {
		vote := b.Vote
		if vote.Blocked != nil {
			var err error
			if vote, err = n.prepareSettled(ctx, pl.ref, run, vote.Blocked); err != nil {
				return shard.Result{}, ErrOutcomeUnknown
			}
		}
		votes = append(votes, vote)
	}
	decided, err := n.decide(ctx, pl, b.Tx, a, votes)
	if err != nil {
		return shard.Result{}, err
	}
	// The answer goes out now: the decision is the commit point, and
	// whatever meets a hold of this transaction before its part is
	// finished finishes it first (held.go).
	n.finishLater(run, decided, others)
	return answer(decided, false), nil
}

// finishLater finishes the other groups' parts after the answer; one it
// cannot finish is left to whoever meets its holds, or to the resolver.
func (n *Node) finishLater(run txRun, decided *shard.Tx, others []*shardGroup) {
	if len(others) == 0 || n.leaveParts || decided.Status == shard.TxHeld {
		return
	}
	n.goBackground(func(ctx context.Context) {
		if err := n.finishParts(ctx, run, finishKind(decided), decided, others); err != nil {
			n.log.Debug("finishing a transaction across groups after its answer failed; the resolver will", "referenceId", run.ref, "err", err)
		}
	})
}

// answerDuplicate answers a referenceId already known: its record, once
// decided (a record across groups may still be Waiting, its coordinator
// dead). Parts of a decided one left unfinished are finished by whatever
// meets their holds (held.go).
func (n *Node) answerDuplicate(ctx context.Context, pp shard.Placement, tx *shard.Tx, a shard.Attempt) (shard.Result, error) {
	if tx.Status != shard.TxWaiting {
		return answer(tx, true), nil
	}
	return n.takeOn(ctx, pp, tx, a, true)
}

// takeOn finishes a run from its record (a retry, the resolver): a
// Waiting record from the prepares of every group (again: they are
// idempotent) and a decision (the first wins); then the finishes.
func (n *Node) takeOn(ctx context.Context, pp shard.Placement, tx *shard.Tx, a shard.Attempt, duplicate bool) (shard.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	pl := n.place(pp, tx.Project, tx.ReferenceID, tx.Ops)
	run := txRun{project: tx.Project, ref: tx.ReferenceID, ops: tx.Ops, attempt: a}
	decided := tx
	if tx.Status == shard.TxWaiting {
		votes := make([]*shard.Prepared, len(pl.parts))
		if err := each(pl.parts, func(i int, rp *shardGroup) (err error) {
			votes[i], err = n.prepare(ctx, rp, run)
			return err
		}); err != nil {
			return shard.Result{}, ErrOutcomeUnknown
		}
		var err error
		if decided, err = n.decide(ctx, pl, tx, a, votes); err != nil {
			return shard.Result{}, err
		}
	}
	if decided.Status == shard.TxHeld {
		return answer(decided, duplicate), nil // its parts stay until it ends (holds.go)
	}
	if err := n.finishParts(ctx, run, finishKind(decided), decided, pl.others()); err != nil {
		return shard.Result{}, err
	}
	return answer(decided, duplicate), nil
}

// txRun is one run of the protocol: whose transaction, and its attempt.
type txRun struct {
	project shard.ProjectID
	ref     string
	ops     []shard.Op
	attempt shard.Attempt
}

// prepare is one group's vote on the run.
func (n *Node) prepare(ctx context.Context, rp *shardGroup, r txRun) (*shard.Prepared, error) {
	vote, err := n.proposePrepare(ctx, rp, r, false)
	if err != nil || vote.Blocked == nil {
		return vote, err
	}
	return n.prepareSettled(ctx, rp, r, vote.Blocked)
}

// prepareSettled votes again after a vote Blocked on holds: the decided
// transactions holding those wallets are finished first (held.go).
func (n *Node) prepareSettled(ctx context.Context, rp *shardGroup, r txRun, blocked []shard.WalletID) (*shard.Prepared, error) {
	n.metrics.blocked.WithLabelValues("prepare").Inc()
	if err := n.settleHolds(ctx, r.project, blocked); err != nil {
		return nil, err
	}
	return n.proposePrepare(ctx, rp, r, true)
}

func (n *Node) proposePrepare(ctx context.Context, rp *shardGroup, r txRun, settled bool) (*shard.Prepared, error) {
	res, err := rp.step(ctx, &shard.Command{Kind: shard.CmdTxPrepare, Project: r.project, ReferenceID: r.ref, Attempt: r.attempt, Ops: r.ops, HoldsSettled: settled})
	if err != nil {
		return nil, err
	}
	vote, ok := res.Value.(*shard.Prepared)
	if !ok {
		return nil, errors.New("engine: a prepare was refused: " + res.Code.String())
	}
	return vote, nil
}

// decide proposes the outcome of the votes to the record; the answer is
// the first decision, whoever made it.
func (n *Node) decide(ctx context.Context, pl placement, tx *shard.Tx, a shard.Attempt, votes []*shard.Prepared) (*shard.Tx, error) {
	st, code, at := shard.Outcome(tx.Ops, n.Shards(), votes)
	if st == shard.TxCompleted && tx.Hold != nil {
		st = shard.TxHeld // a hold's success: its parts keep their holds
	}
	d, err := pl.ref.step(ctx, &shard.Command{Kind: shard.CmdTxDecide, Project: tx.Project, Shard: pl.refShard, ReferenceID: tx.ReferenceID,
		Attempt: a, TxStatus: st, ErrCode: code, ErrOpIndex: at, Ops: tx.Ops})
	if err != nil {
		return nil, ErrOutcomeUnknown
	}
	decided, ok := d.Value.(*shard.Tx)
	if !ok || decided.Status == shard.TxWaiting {
		return nil, errors.New("engine: the decision was refused: " + d.Code.String())
	}
	return decided, nil
}

// answer is what a caller hears about a decided record.
func answer(decided *shard.Tx, duplicate bool) shard.Result {
	switch {
	case duplicate:
		return shard.Result{Code: shard.DuplicateReferenceID, Value: decided}
	case decided.Status == shard.TxCompleted || decided.Status == shard.TxHeld:
		return shard.Result{Created: true, Value: decided}
	}
	return shard.Result{Code: decided.ErrCode, Value: decided}
}

func finishKind(decided *shard.Tx) shard.Kind {
	if decided.Status == shard.TxCompleted {
		return shard.CmdTxCommit
	}
	return shard.CmdTxAbort
}

// newAttempt draws a fresh attempt (never the zero one).
func newAttempt() shard.Attempt {
	for {
		if a := (shard.Attempt{Hi: rand.Uint64(), Lo: rand.Uint64()}); !a.IsZero() {
			return a
		}
	}
}

// definitelyNotApplied reports whether a proposal's error says it was
// never proposed, or can never commit.
func definitelyNotApplied(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOverloaded)
}

// finishParts commits (as the decided record says) or aborts the run's
// part in each of the groups.
func (n *Node) finishParts(ctx context.Context, r txRun, kind shard.Kind, decided *shard.Tx, parts []*shardGroup) error {
	err := each(parts, func(_ int, rp *shardGroup) error {
		cmd := &shard.Command{Kind: kind, Project: r.project, ReferenceID: r.ref, Attempt: r.attempt, Ops: r.ops}
		if kind == shard.CmdTxCommit {
			cmd.Tx, cmd.At = decided.ID, decided.PostedAt()
		}
		_, err := rp.step(ctx, cmd)
		return err
	})
	return unknownAfterBegin(err)
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
func each(parts []*shardGroup, fn func(i int, rp *shardGroup) error) error {
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
	seen := map[shard.Attempt]int{}
	n.every(func() time.Duration { return resolveEvery }, func() {
		now := map[shard.Attempt]int{}
		for _, rp := range n.held() {
			if !rp.leads() {
				continue
			}
			n.repairRevocations(rp)
			for s := range rp.layout.Count {
				var found []shard.InDoubt
				rp.parts.read(1+s, func(m *shard.Machine) { found = m.Shards[s].InDoubt() })
				for _, d := range found {
					if now[d.Attempt] = seen[d.Attempt] + 1; now[d.Attempt] >= 2 {
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
	if rp.layout.HoldsMeta() {
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
		if _, err := n.groups[rp.group].step(ctx, &shard.Command{Kind: shard.CmdRevokeKeyPair, KeyPair: k}); err != nil {
			n.log.Warn("resolver: revoking a deleted key pair failed; will retry", "group", rp.group, "keyPair", k.String(), "err", err)
		}
		cancel()
	}
}

// resolve takes on one run in doubt: a Waiting record from its prepares;
// a part from a fence in its referenceId's group, which answers the
// record if there is one (then the record says what becomes of the part),
// and otherwise makes sure no begin of the attempt makes one: the part is
// aborted.
func (n *Node) resolve(d shard.InDoubt) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	err := n.resolveRun(ctx, d)
	if errors.Is(err, errStillHeld) {
		return
	}
	if err != nil {
		n.log.Warn("resolver: a transaction across groups is still in doubt", "project", d.Project, "referenceId", d.Ref, "attempt", d.Attempt, "err", err)
		return
	}
	n.metrics.resolved.Inc()
	n.log.Info("resolver: finished a transaction across groups", "project", d.Project, "referenceId", d.Ref, "attempt", d.Attempt)
}

func (n *Node) resolveRun(ctx context.Context, d shard.InDoubt) error {
	pp, err := n.placementOf(ctx, d.Project)
	if err != nil {
		return err
	}
	if d.Record != nil {
		_, err := n.takeOn(ctx, pp, d.Record, d.Attempt, false)
		return err
	}
	if tx, a, err := n.recordOf(ctx, pp, d.Project, d.Ref); err != nil {
		return err
	} else if tx != nil && a == d.Attempt && tx.Status == shard.TxHeld {
		return errStillHeld // a part of an open hold across groups: it stays until the hold ends
	}
	pl := n.place(pp, d.Project, d.Ref, d.Ops)
	r, err := pl.ref.step(ctx, &shard.Command{Kind: shard.CmdTxFence, Project: d.Project, Shard: pl.refShard, ReferenceID: d.Ref, Attempt: d.Attempt})
	if err != nil {
		return err
	}
	if b, ok := r.Value.(*shard.Began); ok && b.Attempt == d.Attempt {
		_, err := n.takeOn(ctx, pp, b.Tx, d.Attempt, false)
		return err
	}
	return n.finishParts(ctx, txRun{project: d.Project, ref: d.Ref, ops: d.Ops, attempt: d.Attempt}, shard.CmdTxAbort, nil, pl.parts)
}
