package wal

import (
	"os"
	"sort"
	"strconv"

	twal "github.com/tidwall/wal"
)

// The shared log's segments are tidwall/wal's; these are the helpers that
// look at them as files.

// Options configures the shared log. Zero values take the defaults.
type Options struct {
	// SegmentBytes is the target size of one segment file. Smaller segments
	// make prefix compaction finer; larger ones mean fewer files.
	SegmentBytes int
	// OnRepair, if set, is told how many bytes a torn tail lost on open.
	OnRepair func(segment string, offsetBytes, droppedBytes int64)
}

const segmentBytesDefault = 20 << 20

func tidwallOptions(opts Options) *twal.Options {
	return &twal.Options{
		SegmentSize:      opts.SegmentBytes,
		LogFormat:        twal.Binary,
		SegmentCacheSize: 2,
		AllowEmpty:       true,
		DirPerms:         0o700,
		FilePerms:        0o600,
	}
}

// segmentFiles lists the tidwall segment files, oldest first.
func segmentFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if len(n) == 20 {
			if _, err := strconv.ParseUint(n, 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// truncateFile cuts a segment file to size bytes and reports the loss.
func truncateFile(path string, size, dropped int64, onRepair func(string, int64, int64)) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if onRepair != nil {
		onRepair(path, size, dropped)
	}
	return nil
}
