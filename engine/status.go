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
	Stopping     bool   `json:"stopping,omitempty"` // the node is stopping (SIGTERM): it takes no leadership
}

// GroupStatus is a shard group and its replicas.
type GroupStatus struct {
	Group  int          `json:"group"`
	Meta   bool         `json:"meta,omitempty"` // the meta group (group G): projects, key pairs, the layout, no shard
	Shards int          `json:"shards"`
	Leader string       `json:"leader"`
	Term   uint64       `json:"term"`
	Placed []string     `json:"placed,omitempty"` // the nodes the layout puts it on, its preferred leader first
	Error  string       `json:"error,omitempty"`  // no node holding it answered
	Nodes  []NodeStatus `json:"nodes"`
}

// ClusterStatus is what `cloudwallet cluster status` shows.
type ClusterStatus struct {
	Node          string           `json:"node"`     // the node that answered
	Replicas      int              `json:"replicas"` // R
	LayoutVersion uint64           `json:"layoutVersion"`
	Leaving       []string         `json:"leaving,omitempty"`
	Groups        []GroupStatus    `json:"groups"`
	NodeGroups    map[string][]int `json:"nodeGroups"` // per node, the groups whose configuration counts it
}

func (rp *replica) localStatus() NodeStatus {
	_, leader := rp.raft.LeaderWithID()
	return NodeStatus{
		ID: rp.n.id, Addr: rp.n.mux.Addr(), Reachable: true,
		State: rp.raft.State().String(), Term: rp.raft.CurrentTerm(), Leader: string(leader),
		CommitIndex: rp.raft.CommitIndex(), AppliedIndex: rp.applied.get(), LastIndex: rp.raft.LastIndex(),
		Stopping: rp.n.stopping.Load(),
	}
}

// Status asks every node in each group's configuration for its view: of
// a group this node does not hold, through a holder.
func (n *Node) Status() (ClusterStatus, error) {
	layout := n.layoutNow()
	st := ClusterStatus{Node: n.id, Replicas: n.replicas, LayoutVersion: layout.Version, Leaving: layout.Leaving, NodeGroups: map[string][]int{}}
	for _, sg := range n.groups {
		var g GroupStatus
		if rp := sg.replica(); rp != nil {
			var err error
			if g, err = rp.status(); err != nil {
				return ClusterStatus{}, fmt.Errorf("group %d: %w", rp.group, err)
			}
		} else if ans, err := n.askGroup(sg, callRequest{Op: opGroup}, 3*time.Second); err != nil || ans.Group == nil {
			g = GroupStatus{Group: sg.group, Meta: sg.isMeta(), Shards: sg.layout.Count, Error: fmt.Sprint(err), Nodes: []NodeStatus{}}
		} else {
			g = *ans.Group
		}
		if sg.group < len(layout.Groups) {
			g.Placed = layout.Groups[sg.group]
		}
		for _, ns := range g.Nodes {
			st.NodeGroups[ns.ID] = append(st.NodeGroups[ns.ID], sg.group)
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
	g := GroupStatus{Group: rp.group, Meta: rp.layout.HoldsMeta(), Shards: rp.layout.Count}
	for _, st := range nodes {
		if st.State == raft.Leader.String() && st.Term >= g.Term {
			g.Leader, g.Term = st.ID, st.Term
		}
	}
	g.Nodes = nodes
	return g, nil
}
