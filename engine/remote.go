package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Groups this node does not hold: with more nodes than replicas per group,
// a node holds only some groups, and reaches the others through a node
// that holds one (a holder). A write goes to a holder as a call; the
// holder proposes it as its own (its proposer forwards to the leader when
// it follows) and answers with the result. A read goes to a holder as a
// query, which the holder confirms on its replica (a read index) and
// answers from it, so it is linearizable as a local confirmed read is.
//
// A holder is looked for first where the group's leader was last seen,
// then on the nodes the layout names, its preferred leader first. A call
// that never left (the holder could not be reached) tries the next
// holder. A write whose call left and got no answer may have applied: its
// outcome is unknown (ErrOutcomeUnknown), as for a local proposal whose
// leader went away.

// errNotSent: a call found no connection to its node, so the node never
// saw it; another node may be asked.
var errNotSent = errors.New("engine: call not sent")

// holders lists the internal addresses to ask about a group, best first.
func (n *Node) holders(sg *shardGroup) []string {
	var out []string
	add := func(addr string) {
		if addr != "" && addr != n.mux.Addr() {
			for _, a := range out {
				if a == addr {
					return
				}
			}
			out = append(out, addr)
		}
	}
	if h := sg.leader.Load(); h != nil {
		add(*h)
	}
	addrs := n.addresses()
	layout := n.layoutNow()
	if sg.group < len(layout.Groups) {
		for _, id := range layout.Groups[sg.group] {
			add(addrs[id])
		}
	}
	if len(out) == 0 {
		for _, a := range addrs { // no layout yet: anyone may hold it
			add(a)
		}
	}
	return out
}

// askGroup makes a cluster call about sg to its holders in turn, until
// one that holds it answers.
func (n *Node) askGroup(sg *shardGroup, req callRequest, timeout time.Duration) (ans callAnswer, err error) {
	req.Group = sg.group
	err = n.tryHolders(sg, func(addr string) (string, error) {
		err := n.calls.do(addr, req, &ans, timeout)
		return ans.Leader, err
	})
	return ans, err
}

// groupRequest is a read or a write of a group, as it crosses a KindGroup
// connection: one of Propose (the command, as a log entry) and Query.
type groupRequest struct {
	ID      uint64 // the call's, on its stream (groupstream.go)
	Group   int
	Propose []byte
	Query   *remoteQuery
}

// groupAnswer is its answer: an error (its text and sentinel code), or
// the result of a write or the answer of a read; and the group's leader
// as the holder knows it.
type groupAnswer struct {
	ID        uint64 // the call's it answers
	Err, Code string
	Leader    string
	Result    wireResult
	Reply     queryReply
}

// askHolder sends a read or write of sg to its holders in turn, until one
// that holds it answers. A write that left and broke is not made again:
// the error says so (errors.Is(err, errNotSent) is false). A read is
// idempotent: one whose stream broke (the holder restarted since it was
// made) is asked again once, on a new stream.
func (n *Node) askHolder(sg *shardGroup, req groupRequest, timeout time.Duration) (ans groupAnswer, err error) {
	req.Group = sg.group
	err = n.tryHolders(sg, func(addr string) (string, error) {
		var err error
		ans, err = n.groupStreams.call(addr, req, timeout)
		if req.Query != nil && errors.Is(err, errStreamBroken) && !errors.Is(err, errNotSent) {
			ans, err = n.groupStreams.call(addr, req, timeout)
		}
		if err == nil && ans.Err != "" {
			err = fromWire(ans.Code, ans.Err)
		}
		return ans.Leader, err
	})
	return ans, err
}

// tryHolders calls sg's holders in turn with call, until one answers
// (with a result or an error other than that it was never sent or does
// not hold the group), and remembers where the leader is.
func (n *Node) tryHolders(sg *shardGroup, call func(addr string) (leader string, err error)) error {
	last := error(ErrNoLeader)
	for _, addr := range n.holders(sg) {
		leader, err := call(addr)
		if errors.Is(err, errNotSent) || errors.Is(err, ErrNotHeld) {
			last = err
			continue
		}
		if err == nil || leader != "" {
			leader = cmp.Or(leader, addr)
			sg.leader.Store(&leader)
		}
		return err
	}
	sg.leader.Store(nil)
	return fmt.Errorf("%w: no node holding group %d answered: %w", ErrUnavailable, sg.group, last)
}

// proposeRemote proposes a command to a group through a holder.
func (n *Node) proposeRemote(ctx context.Context, sg *shardGroup, cmd *shard.Command) (shard.Result, error) {
	select {
	case <-ctx.Done():
		return shard.Result{}, ErrUnavailable
	default:
	}
	ans, err := n.askHolder(sg, groupRequest{Propose: raftfsm.AppendEntry(nil, 0, []*shard.Command{cmd})}, n.cfg.ApplyTimeout+callTimeout)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrOverloaded), errors.Is(err, ErrOutcomeUnknown):
		return shard.Result{}, err
	default: // the call left and broke: it may have been proposed
		return shard.Result{}, ErrOutcomeUnknown
	}
	return ans.Result.result(), nil
}

// answerGroup serves a read or a write of a group this node serves.
func (n *Node) answerGroup(req groupRequest) groupAnswer {
	if req.Group < 0 || req.Group >= len(n.groups) {
		return groupAnswer{Err: fmt.Sprintf("no shard group %d", req.Group)}
	}
	rp := n.groups[req.Group].serving()
	if rp == nil {
		return failGroup(ErrNotHeld, "")
	}
	if req.Query != nil {
		return n.serveQuery(rp, *req.Query)
	}
	return n.servePropose(rp, req.Propose)
}

// failGroup is the answer of a read or write that failed with err.
func failGroup(err error, leader string) groupAnswer {
	return groupAnswer{Err: err.Error(), Code: wireCode(err), Leader: leader}
}

// servePropose proposes a command another node sent for a group this node
// serves, and answers its result.
func (n *Node) servePropose(rp *replica, entry []byte) groupAnswer {
	e, err := raftfsm.DecodeEntry(entry)
	if err != nil || len(e.Commands) != 1 {
		return groupAnswer{Err: "bad proposal: not one command"}
	}
	ctx, cancel := context.WithTimeout(n.life, n.cfg.ApplyTimeout)
	defer cancel()
	r, err := rp.propose(ctx, &e.Commands[0])
	if err != nil {
		return failGroup(err, rp.leaderAddr())
	}
	w, err := wireOf(r)
	if err != nil {
		return failGroup(err, rp.leaderAddr())
	}
	return groupAnswer{Result: w, Leader: rp.leaderAddr()}
}

// leaderAddr is the internal address of the group's leader, as this
// replica knows it ("" if none).
func (rp *replica) leaderAddr() string {
	addr, _ := rp.raft.LeaderWithID()
	return string(addr)
}

// wireResult is a shard.Result on the internal port: Value, which is one
// of a closed set of types for commands of the groups that hold shards,
// in the field of its type.
type wireResult struct {
	Code     shard.Code
	Created  bool
	Customer *shard.CustomerView
	Wallet   *shard.WalletView
	Tx       *shard.Tx
	Prepared *shard.Prepared
	Began    *shard.Began
	Blocked  *shard.Blocked
	Text     *string
	Fenced   bool // shard.ErrAttemptFenced
}

func wireOf(r shard.Result) (wireResult, error) {
	w := wireResult{Code: r.Code, Created: r.Created}
	switch v := r.Value.(type) {
	case nil:
	case shard.CustomerView:
		w.Customer = &v
	case shard.WalletView:
		w.Wallet = &v
	case *shard.Tx:
		w.Tx = v
	case *shard.Prepared:
		w.Prepared = v
	case *shard.Began:
		w.Began = v
	case *shard.Blocked:
		w.Blocked = v
	case string:
		w.Text = &v
	case error:
		if errors.Is(v, shard.ErrAttemptFenced) {
			w.Fenced = true
		} else {
			text := v.Error()
			w.Text = &text
		}
	default:
		// A meta command's value: the meta group is held by every node,
		// so its commands are never sent to another.
		return w, fmt.Errorf("engine: no wire form for a %T result", v)
	}
	return w, nil
}

func (w wireResult) result() shard.Result {
	r := shard.Result{Code: w.Code, Created: w.Created}
	switch {
	case w.Customer != nil:
		r.Value = *w.Customer
	case w.Wallet != nil:
		r.Value = *w.Wallet
	case w.Tx != nil:
		r.Value = w.Tx
	case w.Prepared != nil:
		r.Value = w.Prepared
	case w.Began != nil:
		r.Value = w.Began
	case w.Blocked != nil:
		r.Value = w.Blocked
	case w.Text != nil:
		r.Value = *w.Text
	case w.Fenced:
		r.Value = shard.ErrAttemptFenced
	}
	return r
}
