package engine

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// Every group replicates to its followers one AppendEntries at a time:
// its transport refuses hashicorp/raft's pipeline, whose send can park for
// good once the pipeline's decoder has stopped (replica.go), leaving a
// follower without entries and the group's Shutdown hung.
func TestReplicationNeverUsesThePipeline(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Groups = 2
	n := openReady(t, cfg)
	defer n.Close()
	held := n.held()
	if len(held) != cfg.Groups+1 { // the data groups and the meta group
		t.Fatalf("%d replicas held, want %d", len(held), cfg.Groups+1)
	}
	for _, rp := range held {
		p, err := rp.transport.AppendEntriesPipeline("another-node", "127.0.0.1:1")
		if !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
			if p != nil {
				p.Close()
			}
			t.Fatalf("group %d: a replication pipeline (%v), want raft.ErrPipelineReplicationNotSupported", rp.group, err)
		}
	}
}
