package engine

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Cluster status: every node of every group as the nodes report themselves
// (`cloudwallet cluster status`, GET /cluster).

// NodeStatus is one node's own view of its group.
type NodeStatus struct {
	ID           string `json:"id"`
	Addr         string `json:"addr"`
	Suffrage     string `json:"suffrage"`
	Reachable    bool   `json:"reachable"`
	Error        string `json:"error,omitempty"`
	State        string `json:"state,omitempty"`
	Term         uint64 `json:"term,omitempty"`
	Leader       string `json:"leader,omitempty"`
	CommitIndex  uint64 `json:"commitIndex,omitempty"`
	AppliedIndex uint64 `json:"appliedIndex,omitempty"`
	LastIndex    uint64 `json:"lastIndex,omitempty"`
}

// GroupStatus is a shard group and its replicas.
type GroupStatus struct {
	Group  int          `json:"group"`
	Shards int          `json:"shards"`
	Leader string       `json:"leader"`
	Term   uint64       `json:"term"`
	Nodes  []NodeStatus `json:"nodes"`
}

// ClusterStatus is what `cloudwallet cluster status` shows.
type ClusterStatus struct {
	Node   string        `json:"node"` // the node that answered
	Groups []GroupStatus `json:"groups"`
}

func (rp *replica) localStatus() NodeStatus {
	_, leader := rp.raft.LeaderWithID()
	return NodeStatus{
		ID: rp.n.id, Addr: rp.n.mux.Addr(), Reachable: true,
		State: rp.raft.State().String(), Term: rp.raft.CurrentTerm(), Leader: string(leader),
		CommitIndex: rp.raft.CommitIndex(), AppliedIndex: rp.applied.get(), LastIndex: rp.raft.LastIndex(),
	}
}

// Status asks every node in each group's configuration for its view.
func (n *Node) Status() (ClusterStatus, error) {
	st := ClusterStatus{Node: n.id}
	for _, rp := range n.groups {
		g, err := rp.status()
		if err != nil {
			return ClusterStatus{}, fmt.Errorf("group %d: %w", rp.group, err)
		}
		st.Groups = append(st.Groups, g)
	}
	return st, nil
}

// status asks every node in this group's configuration for its view.
func (rp *replica) status() (GroupStatus, error) {
	cf := rp.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return GroupStatus{}, err
	}
	servers := cf.Configuration().Servers
	nodes := make([]NodeStatus, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st NodeStatus
			if string(s.ID) == rp.n.id {
				st = rp.localStatus()
			} else {
				var ans callAnswer
				if err := rp.n.calls.do(string(s.Address), callRequest{Op: opStatus, Group: rp.group}, &ans, 2*time.Second); err != nil {
					st.Error = err.Error()
				} else {
					st = *ans.Status
				}
			}
			st.ID, st.Addr, st.Suffrage = string(s.ID), string(s.Address), s.Suffrage.String()
			nodes[i] = st
		}()
	}
	wg.Wait()
	g := GroupStatus{Group: rp.group, Shards: rp.layout.Count}
	for _, st := range nodes {
		if st.State == raft.Leader.String() && st.Term >= g.Term {
			g.Leader, g.Term = st.ID, st.Term
		}
	}
	g.Nodes = nodes
	return g, nil
}
