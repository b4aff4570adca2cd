package engine

import (
	"time"

	"github.com/hashicorp/raft"
)

// The lost-entry probe: a leader that lost office with its own entries
// unconfirmed (a partition cut it off just after it appended them) cannot
// tell its clients anything until it learns what the cluster committed in
// their place. Raft tells it only when the new leader reaches it, which,
// after a long partition, waits out the new leader's back-off toward it
// (hashicorp/raft backs off up to seconds). The probe asks the other
// voters over the call port instead, every probeEvery: the leader answers
// its commit index and the term of its entries at those indexes. A
// committed entry at index i of another term than ours means ours can
// never commit — the index is taken for good — so its proposals end
// definitely not applied (503) instead of 202 Waiting at their deadline.
// An entry of our term at i is ours, committed: the proposals settle when
// this node applies it.

const probeEvery = 200 * time.Millisecond

// ensureProbing starts the probe unless it is running.
func (rp *replica) ensureProbing() {
	if rp.probing.CompareAndSwap(false, true) {
		go rp.probeLost()
	}
}

// probeLost asks until no lost proposal with a known term is left, or
// the replica closes.
func (rp *replica) probeLost() {
	defer rp.probing.Store(false)
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-rp.closing:
			return
		case <-t.C:
		}
		lost := rp.pend.lostEntries()
		if len(lost) == 0 {
			return
		}
		indexes := make([]uint64, len(lost))
		for i, e := range lost {
			indexes[i] = e.index
		}
		commit, terms, ok := rp.askCommitted(indexes)
		if !ok {
			continue
		}
		for _, e := range overwrittenEntries(lost, commit, terms) {
			rp.pend.overwritten(e)
		}
	}
}

// overwrittenEntries are the lost entries whose index the cluster
// committed with another term's entry: terms[i] is the committed term at
// lost[i].index (0: not known), commit the commit index it was read under.
func overwrittenEntries(lost []lostEntry, commit uint64, terms []uint64) []lostEntry {
	var out []lostEntry
	for i, e := range lost {
		if e.index <= commit && terms[i] != 0 && terms[i] != e.term {
			out = append(out, e)
		}
	}
	return out
}

// askCommitted asks the other voters until one answers as leader: its
// commit index, and the term of its entry at each index (0 where it is
// beyond the commit index or compacted away).
func (rp *replica) askCommitted(indexes []uint64) (commit uint64, terms []uint64, ok bool) {
	f := rp.raft.GetConfiguration()
	if f.Error() != nil {
		return 0, nil, false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == rp.n.id || s.Suffrage != raft.Voter {
			continue
		}
		var ans callAnswer
		req := callRequest{Op: opCommitted, Group: rp.group, Indexes: indexes}
		if rp.n.calls.do(string(s.Address), req, &ans, probeEvery) == nil && len(ans.Terms) == len(indexes) {
			return ans.Index, ans.Terms, true
		}
	}
	return 0, nil, false
}

// answerCommitted is a leader's answer to the probe.
func (rp *replica) answerCommitted(indexes []uint64) callAnswer {
	if rp.raft.State() != raft.Leader || len(indexes) > probeIndexesMax {
		return fail(raft.ErrNotLeader)
	}
	commit := rp.raft.CommitIndex()
	terms := make([]uint64, len(indexes))
	for i, index := range indexes {
		var e raft.Log
		if index <= commit && rp.logs.GetLog(index, &e) == nil {
			terms[i] = e.Term
		}
	}
	return callAnswer{Index: commit, Terms: terms}
}

// probeIndexesMax bounds one probe's question.
const probeIndexesMax = 1024
