package engine

import (
	"errors"

	"github.com/hashicorp/raft"
)

// Operating errors of the engine. The transport maps them to HTTP.
var (
	// ErrUnavailable: the command was not proposed (no leader, shutting
	// down, queue full). Nothing happened; a retry is safe.
	ErrUnavailable = errors.New("engine: unavailable")
	// ErrOverloaded: the proposal queue is full. Nothing happened; retry
	// after a pause.
	ErrOverloaded = errors.New("engine: overloaded")
	// ErrOutcomeUnknown: the command was proposed but its fate is not known
	// in time (leadership lost, shutdown, timeout). It may yet apply; a retry
	// with the same referenceId finds the one true outcome.
	ErrOutcomeUnknown = errors.New("engine: outcome unknown")
	// ErrNoSuchNode: a membership change names a node that is not in the
	// cluster.
	ErrNoSuchNode = errors.New("engine: no such node in the cluster")
	// ErrNoLeader: a cluster call needs the leader, and no leader is known
	// (no quorum, or an election in progress).
	ErrNoLeader = errors.New("engine: no leader: the cluster has no quorum")
	// ErrNoProject: the project does not exist (not even after this node
	// caught up with the meta group).
	ErrNoProject = errors.New("engine: no such project")
	// ErrNotHeld: a call about a shard group reached a node that holds no
	// replica of it (the group moved): ask another holder.
	ErrNotHeld = errors.New("engine: this node holds no replica of the group")
	// ErrLastNode: a removal would leave the cluster without a node to
	// hold its groups.
	ErrLastNode = errors.New("engine: the last node of the cluster cannot be removed")
)

// Errors cross the internal port as a code beside their text, so the
// calling node can tell them apart with errors.Is, never by their words.
var wireErrors = map[string]error{
	"unavailable":    ErrUnavailable,
	"overloaded":     ErrOverloaded,
	"outcomeUnknown": ErrOutcomeUnknown,
	"noSuchNode":     ErrNoSuchNode,
	"noLeader":       ErrNoLeader,
	"notLeader":      raft.ErrNotLeader,
	"noProject":      ErrNoProject,
	"notHeld":        ErrNotHeld,
}

// wireCode is err's code on the internal port ("" for other errors).
func wireCode(err error) string {
	for code, sentinel := range wireErrors {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return ""
}

// remoteError is an error answered by another node: its text, and the
// sentinel its code names (nil if none).
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// fromWire rebuilds an answered error.
func fromWire(code, msg string) error {
	return &remoteError{msg: msg, sentinel: wireErrors[code]}
}
