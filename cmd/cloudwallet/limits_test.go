package main

import "testing"

func TestConnectionsMaxFitsTheFileLimit(t *testing.T) {
	for _, c := range []struct {
		files uint64
		want  int
	}{
		{20_000, 20_000 - filesReserved},
		{1_048_576, connectionsMaxCeiling},
		{1024, connectionsMin},
		{0, connectionsMin},
		{filesReserved + connectionsMin + 1, connectionsMin + 1},
	} {
		if got := connectionsMax(c.files); got != c.want {
			t.Errorf("connectionsMax(%d) = %d, want %d", c.files, got, c.want)
		}
		if got := connectionsMax(c.files); c.files > filesReserved+connectionsMin && uint64(got)+filesReserved > c.files {
			t.Errorf("connectionsMax(%d) = %d leaves fewer than %d files for the rest", c.files, got, filesReserved)
		}
	}
}
