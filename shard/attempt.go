package shard

import (
	"errors"
	"fmt"
)

// Attempt names one run of the protocol across groups for one transaction
// (twophase.go). Its coordinator draws it before the first step, because
// the participants prepare before the record (and its id) exists: every
// step of the run carries it, the record keeps it, and each participant
// keys its part and its finished marker by it.
//
// It is 128 random bits (the coordinator draws them, never Apply):
// finished markers are kept forever, and at 64 bits
// a billion of them would give a collision a few percent of the time; at
// 128 never in practice.
type Attempt struct{ Hi, Lo uint64 }

// IsZero reports whether a is no attempt: a record of a transaction in
// one group has none.
func (a Attempt) IsZero() bool { return a == Attempt{} }

func (a Attempt) String() string { return fmt.Sprintf("%016x%016x", a.Hi, a.Lo) }

// ErrAttemptFenced is the Value of a TxBegin refused because a resolver
// fenced its attempt off (TxFence) before it arrived: that run never makes
// a record, and its prepared parts are aborted.
var ErrAttemptFenced = errors.New("shard: the attempt was fenced off by a resolver")

// attemptSet is a set of attempts kept forever, with the append-only list
// snapshots copy cheaply (a slice header, Freeze).
type attemptSet struct {
	has  map[Attempt]struct{}
	list []Attempt
}

func newAttemptSet() attemptSet { return attemptSet{has: map[Attempt]struct{}{}} }

func (s *attemptSet) contains(a Attempt) bool {
	_, ok := s.has[a]
	return ok
}

func (s *attemptSet) add(a Attempt) {
	if !s.contains(a) {
		s.has[a] = struct{}{}
		s.list = append(s.list, a)
	}
}

// recordAttempt is the attempt that made the record at index.
type recordAttempt struct {
	index   uint32
	attempt Attempt
}

// Began is what TxBegin and TxFence answer about a record: the record and
// the attempt that made it; for a TxBegin that made it, Vote is the
// group's own prepare (its wallets of the operations).
type Began struct {
	Tx      *Tx
	Attempt Attempt
	Vote    *Prepared
}
