package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// The shared log's records, and the repair of a torn tail:
//
//	crc32c(rest) u32le | kind u8 | group uvarint | body
//
// where an entry's body is the raft.Log as appendRecord encodes it (with
// its own checksum), a delete's is min uvarint | max uvarint, and a
// rewrite's is a count and that many length-prefixed entries.

func appendSharedEntry(dst []byte, group uint32, l *raft.Log) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, recEntry)
	dst = binary.AppendUvarint(dst, uint64(group))
	dst, err := appendRecord(dst, l)
	if err != nil {
		return dst[:start], err
	}
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst, nil
}

func appendSharedDelete(dst []byte, group uint32, min, max uint64) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, recDelete)
	dst = binary.AppendUvarint(dst, uint64(group))
	dst = binary.AppendUvarint(dst, min)
	dst = binary.AppendUvarint(dst, max)
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

// appendSharedRewrite appends a rewrite record: a group's consecutive
// entries, each as appendRecord encodes it.
//
//	... | count uvarint | (len uvarint | record)...
func appendSharedRewrite(dst []byte, group uint32, entries [][]byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, recRewrite)
	dst = binary.AppendUvarint(dst, uint64(group))
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for _, e := range entries {
		dst = binary.AppendUvarint(dst, uint64(len(e)))
		dst = append(dst, e...)
	}
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

// eachRewritten calls fn with every entry of a rewrite record's body, in
// order, checking that there is at least one and that their indexes are
// consecutive.
func eachRewritten(body []byte, fn func(l *raft.Log) bool) error {
	count, n := binary.Uvarint(body)
	if n <= 0 || count == 0 || count > uint64(len(body)) {
		return ErrCorruptRecord
	}
	body = body[n:]
	var l raft.Log
	var prev uint64
	for i := uint64(0); i < count; i++ {
		size, n := binary.Uvarint(body)
		if n <= 0 || size > uint64(len(body)-n) {
			return ErrCorruptRecord
		}
		if err := decodeRecord(body[n:n+int(size)], &l); err != nil {
			return err
		}
		if i > 0 && l.Index != prev+1 {
			return ErrCorruptRecord
		}
		prev = l.Index
		body = body[n+int(size):]
		if !fn(&l) {
			return nil
		}
	}
	if len(body) != 0 {
		return ErrCorruptRecord
	}
	return nil
}

// findRewritten finds the entry at index in a rewrite record.
func findRewritten(rec []byte, index uint64, out *raft.Log) error {
	_, n := binary.Uvarint(rec[5:])
	found := false
	err := eachRewritten(rec[5+n:], func(l *raft.Log) bool {
		if l.Index == index {
			*out, found = *l, true
			return false
		}
		return true
	})
	if err == nil && !found {
		err = raft.ErrLogNotFound
	}
	return err
}

// decodeShared decodes a shared record: an entry into l (its Data aliases
// rec), a delete's range, or a rewrite's range (its first entry into l).
func decodeShared(rec []byte, l *raft.Log) (kind byte, group uint32, min, max uint64, err error) {
	if len(rec) < 6 || len(rec) > RecordBytesMax+16 ||
		binary.LittleEndian.Uint32(rec) != crc32.Checksum(rec[4:], castagnoli) {
		return 0, 0, 0, 0, ErrCorruptRecord
	}
	kind = rec[4]
	g, n := binary.Uvarint(rec[5:])
	if n <= 0 || g > 1<<32-1 {
		return 0, 0, 0, 0, ErrCorruptRecord
	}
	body := rec[5+n:]
	switch kind {
	case recEntry:
		if err := decodeRecord(body, l); err != nil {
			return 0, 0, 0, 0, err
		}
	case recDelete:
		var n1, n2 int
		min, n1 = binary.Uvarint(body)
		if n1 > 0 {
			max, n2 = binary.Uvarint(body[n1:])
		}
		if n1 <= 0 || n2 <= 0 || n1+n2 != len(body) {
			return 0, 0, 0, 0, ErrCorruptRecord
		}
	case recRewrite:
		first := true
		if err := eachRewritten(body, func(e *raft.Log) bool {
			if first {
				*l, min, first = *e, e.Index, false
			}
			max = e.Index
			return true
		}); err != nil {
			return 0, 0, 0, 0, err
		}
	default:
		return 0, 0, 0, 0, ErrCorruptRecord
	}
	return kind, uint32(g), min, max, nil
}

// repairSharedFraming cuts the last segment back to its last whole record
// that passes its checksum (tidwall refused to open: the tail record's
// length prefix or body is incomplete).
func repairSharedFraming(dir string, opts Options) error {
	files, err := segmentFiles(dir)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("wal: log corrupt and no segment to repair: %v", err)
	}
	path := filepath.Join(dir, files[len(files)-1])
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	good := validSharedPrefix(data)
	if good == len(data) {
		return fmt.Errorf("wal: %s: tidwall reports corruption the tail scan cannot find", path)
	}
	return truncateFile(path, int64(good), int64(len(data)-good), opts.OnRepair)
}

// validSharedPrefix is validPrefix for shared records.
func validSharedPrefix(data []byte) int {
	off := 0
	var l raft.Log
	for off < len(data) {
		size, n := binary.Uvarint(data[off:])
		if n <= 0 || size > RecordBytesMax+16 || uint64(len(data)-off-n) < size {
			break
		}
		if _, _, _, _, err := decodeShared(data[off+n:off+n+int(size)], &l); err != nil {
			break
		}
		off += n + int(size)
	}
	return off
}
