// Package bin is the little binary codec shared by the Raft command format
// (raftfsm) and the snapshot format (shard): varints and length-prefixed
// strings, with every length checked against a caller's bound before any
// allocation, so a corrupt or hostile input fails cleanly.
package bin

import (
	"encoding/binary"
	"errors"
)

// ErrCorrupt reports input that is truncated, oversized or malformed.
var ErrCorrupt = errors.New("bin: corrupt input")

// AppendUvarint, AppendVarint and AppendString build an encoding.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func AppendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// AppendUint64 writes v in 8 bytes: random values (attempts) do not
// shrink as varints.
func AppendUint64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Reader decodes from a byte slice. The first error sticks: later reads
// return zero values, and Err reports it, so decoders check once at the end.
type Reader struct {
	b   []byte
	err error
}

func NewReader(b []byte) *Reader { return &Reader{b: b} }

func (r *Reader) Err() error { return r.err }
func (r *Reader) Len() int   { return len(r.b) }
func (r *Reader) Fail()      { r.fail() }
func (r *Reader) fail()      { r.err, r.b = ErrCorrupt, nil }

func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// UvarintMax reads a uvarint and fails if it exceeds limit.
func (r *Reader) UvarintMax(limit uint64) uint64 {
	v := r.Uvarint()
	if v > limit {
		r.fail()
		return 0
	}
	return v
}

func (r *Reader) Varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Uint64 reads what AppendUint64 wrote.
func (r *Reader) Uint64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *Reader) Byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *Reader) Bool() bool {
	switch r.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail()
	return false
}

// String reads a length-prefixed string of at most maxLen bytes.
func (r *Reader) String(maxLen int) string {
	n := r.UvarintMax(uint64(maxLen))
	if r.err != nil {
		return ""
	}
	if uint64(len(r.b)) < n {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// Count reads a element count of at most limit, and also fails when fewer
// than minBytes bytes per element remain: a tiny input cannot announce a
// huge slice.
func (r *Reader) Count(limit uint64, minBytes int) int {
	n := r.UvarintMax(limit)
	if r.err == nil && minBytes > 0 && n > uint64(len(r.b)/minBytes) {
		r.fail()
		return 0
	}
	return int(n)
}

// Index reads a uvarint that must be below n (an index into n things).
func (r *Reader) Index(n int) int {
	v := r.Uvarint()
	if r.err == nil && v >= uint64(n) {
		r.fail()
		return 0
	}
	return int(v)
}
