package engine

import (
	"errors"
	"testing"
	"time"

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

// Closing a replica waits for Raft's Shutdown however long it takes (the
// stores must outlive Raft's goroutines), and a long wait says so each
// period instead of hanging silently; a quick one says nothing.
func TestAwaitSayingWarnsWhileItWaits(t *testing.T) {
	release := make(chan struct{})
	errDone := errors.New("shut down")
	var said []time.Duration
	// fn ends once two warnings came, or after 10 s so that a wait that
	// never says so fails the test instead of hanging it.
	giveUp := time.After(10 * time.Second)
	err := awaitSaying(func() error {
		select {
		case <-release:
		case <-giveUp:
		}
		return errDone
	}, time.Millisecond, func(waited time.Duration) {
		if said = append(said, waited); len(said) == 2 {
			close(release)
		}
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("awaitSaying returned %v, want fn's error", err)
	}
	if len(said) < 2 || said[1] <= said[0] {
		t.Fatalf("the waits said should grow: %v", said)
	}
	said = nil
	if err := awaitSaying(func() error { return nil }, time.Hour, func(time.Duration) { said = append(said, 0) }); err != nil || said != nil {
		t.Fatalf("a quick end: %v, said %d times", err, len(said))
	}
}
