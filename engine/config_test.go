package engine

import (
	"testing"
	"time"
)

// The commit timeout hashicorp/raft would refuse, or one no shorter than
// the heartbeat timeout, is refused at start with what is wrong.
func TestConfigRefusesACommitTimeoutOutOfRange(t *testing.T) {
	for _, d := range []time.Duration{0, 500 * time.Microsecond, 500 * time.Millisecond} {
		cfg := DefaultConfig()
		cfg.CommitTimeout = d
		if err := cfg.Validate(); err == nil {
			t.Errorf("CommitTimeout %v: accepted", d)
		}
	}
	if cfg := DefaultConfig(); cfg.Validate() != nil {
		t.Fatalf("the default config: %v", cfg.Validate())
	}
}
