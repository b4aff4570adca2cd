package shard

import (
	"slices"

	"github.com/cloudwallet/cloudwallet/internal/bin"
)

// GroupLayout is where the cluster's shard groups live: which nodes hold a
// replica of each group, its preferred leader first, and which nodes are
// being removed. The meta group's leader plans it (package topology) and
// keeps it here, in the meta partition, so every node reads the same one
// from its replica of the meta group; the nodes and the groups' leaders
// then move replicas until the Raft configurations match it.
//
// A layout is never changed in place: a new one replaces it whole, so a
// reader may keep the one it got.
type GroupLayout struct {
	// Version counts the layouts set: a new one must name the next
	// version, so a leader that planned from an old layout (another
	// leader's plan landed first) is refused rather than undoing it.
	Version uint64
	Groups  [][]string // Groups[g]: the nodes holding group g, preferred leader first
	Leaving []string   // nodes being removed: planned out of every group
}

// Bounds of a layout in the log.
const (
	NodeIDLenMax     = 64
	LayoutNodesMax   = 256 // nodes named in one group or leaving
	LayoutGroupsMax  = 64
	layoutNodeMinLen = 1 // a node id is a non-empty string
)

// Clone is a deep copy.
func (l GroupLayout) Clone() GroupLayout {
	c := GroupLayout{Version: l.Version, Groups: make([][]string, len(l.Groups)), Leaving: slices.Clone(l.Leaving)}
	for g, ns := range l.Groups {
		c.Groups[g] = slices.Clone(ns)
	}
	return c
}

// Holds reports whether the layout places a replica of group g on node.
func (l GroupLayout) Holds(g int, node string) bool {
	return g < len(l.Groups) && slices.Contains(l.Groups[g], node)
}

// IsLeaving reports whether node is being removed.
func (l GroupLayout) IsLeaving(node string) bool { return slices.Contains(l.Leaving, node) }

// Layout returns the current layout (Version 0 and no groups before the
// first is set).
func (m *Meta) Layout() GroupLayout { return m.layout }

// applySetLayout replaces the layout, if the command names the version
// after the current one.
func applySetLayout(m *Machine, _ Context, c *Command) Result {
	if c.Layout == nil || c.Layout.Version != m.Meta.layout.Version+1 {
		return Result{Code: ValidationError, Value: "the layout changed since this one was planned"}
	}
	m.Meta.layout = c.Layout.Clone()
	return Result{Value: m.Meta.layout}
}

// AppendLayout encodes a layout (in the log and in snapshots); nil encodes
// as the empty layout.
func AppendLayout(b []byte, l *GroupLayout) []byte {
	if l == nil {
		l = &GroupLayout{}
	}
	b = bin.AppendUvarint(b, l.Version)
	b = bin.AppendUvarint(b, uint64(len(l.Groups)))
	for _, ns := range l.Groups {
		b = appendNodes(b, ns)
	}
	return appendNodes(b, l.Leaving)
}

func appendNodes(b []byte, ns []string) []byte {
	b = bin.AppendUvarint(b, uint64(len(ns)))
	for _, n := range ns {
		b = bin.AppendString(b, n)
	}
	return b
}

// ReadLayout decodes what AppendLayout wrote, its bounds checked.
func ReadLayout(r *bin.Reader) *GroupLayout {
	l := &GroupLayout{Version: r.Uvarint()}
	l.Groups = make([][]string, r.Count(LayoutGroupsMax, 1))
	for g := range l.Groups {
		l.Groups[g] = readNodes(r)
	}
	l.Leaving = readNodes(r)
	return l
}

func readNodes(r *bin.Reader) []string {
	n := r.Count(LayoutNodesMax, 1+layoutNodeMinLen)
	if n == 0 {
		return nil
	}
	ns := make([]string, n)
	for i := range ns {
		if ns[i] = r.String(NodeIDLenMax); ns[i] == "" {
			r.Fail()
		}
	}
	return ns
}
