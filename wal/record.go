package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/hashicorp/raft"
)

// RecordBytesMax caps one encoded log record. The engine's proposer keeps
// its entries far below it; a larger length on disk means damage.
const RecordBytesMax = 64 << 20

const recordVersion = 1

// ErrCorruptRecord reports a record whose checksum, framing or fields are bad.
var ErrCorruptRecord = errors.New("wal: corrupt record")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord encodes a raft.Log:
//
//	crc32c(rest) u32le | version u8 | index uvarint | term uvarint | type u8 |
//	appendedAt varint (unix ns) | len(data) uvarint | data | len(ext) uvarint | ext
func appendRecord(dst []byte, l *raft.Log) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, recordVersion)
	dst = binary.AppendUvarint(dst, l.Index)
	dst = binary.AppendUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	dst = binary.AppendVarint(dst, at)
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	if len(dst)-start > RecordBytesMax {
		return dst[:start], errors.New("wal: log entry larger than RecordBytesMax")
	}
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst, nil
}

// decodeRecord decodes a record into l. Data and Extensions alias rec.
func decodeRecord(rec []byte, l *raft.Log) error {
	if len(rec) < 5 || len(rec) > RecordBytesMax {
		return ErrCorruptRecord
	}
	if binary.LittleEndian.Uint32(rec) != crc32.Checksum(rec[4:], castagnoli) || rec[4] != recordVersion {
		return ErrCorruptRecord
	}
	b := rec[5:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	index, ok1 := next()
	term, ok2 := next()
	if !ok1 || !ok2 || len(b) < 1 {
		return ErrCorruptRecord
	}
	typ := raft.LogType(b[0])
	b = b[1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return ErrCorruptRecord
	}
	b = b[n:]
	dlen, ok := next()
	if !ok || dlen > uint64(len(b)) {
		return ErrCorruptRecord
	}
	data := b[:dlen:dlen]
	b = b[dlen:]
	elen, ok := next()
	if !ok || elen != uint64(len(b)) {
		return ErrCorruptRecord
	}
	*l = raft.Log{Index: index, Term: term, Type: typ}
	if dlen > 0 {
		l.Data = data
	}
	if elen > 0 {
		l.Extensions = b[:elen:elen]
	}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}
