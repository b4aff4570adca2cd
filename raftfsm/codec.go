package raftfsm

import (
	"errors"
	"fmt"

	"github.com/cloudwallet/cloudwallet/internal/bin"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Bounds on one log entry. The proposer fills entries up to them; the
// decoder refuses anything beyond.
const (
	CommandsPerEntryMax = 4096    // must fit the 16-bit position in Context.Seq
	EntryBytesMax       = 8 << 20 // well under wal.RecordBytesMax
	entryVersionPlain   = byte(1) // first byte of an entry without tags (older logs)
	entryVersion        = byte(2) // first byte of every entry written now
	originsMax          = 64      // distinct proposing nodes in one entry
	commandBytesMin     = 3       // kind, project, one length or id
)

// ErrBadEntry reports a log entry that does not decode.
var ErrBadEntry = errors.New("raftfsm: malformed log entry")

// Reasons a tagged entry's header is refused, wrapped with ErrBadEntry.
var (
	errOriginZero = errors.New("an origin is 0")
	errTagSlot    = errors.New("a command's tag names an origin slot the entry does not have")
)

// Tag names the node that proposed a command and that node's sequence
// number for it. Every replica applies the same tags, so the proposing node
// learns its command's result from its own state machine, whichever node
// led. The zero Tag is "untagged".
type Tag struct {
	Origin uint64 // a hash of the proposing node's id; never 0 when tagged
	Seq    uint64
}

// EntryBuilder packs commands into a log entry. Reuse one with Reset. It
// belongs to one goroutine (a replica's proposer).
type EntryBuilder struct {
	body    []byte
	n       int
	origins []uint64
}

// Reset empties the builder.
func (b *EntryBuilder) Reset() { b.body, b.n, b.origins = b.body[:0], 0, b.origins[:0] }

// Len is the number of commands and BodyBytes their encoded size so far.
func (b *EntryBuilder) Len() int       { return b.n }
func (b *EntryBuilder) BodyBytes() int { return len(b.body) }

// Full reports whether the builder already has as many distinct origins as
// an entry may carry and t would add another.
func (b *EntryBuilder) Full(t Tag) bool {
	return t != (Tag{}) && len(b.origins) >= originsMax && b.slot(t.Origin) == 0
}

func (b *EntryBuilder) slot(origin uint64) int {
	for i, o := range b.origins {
		if o == origin {
			return i + 1
		}
	}
	return 0
}

// Add appends one command with its tag.
func (b *EntryBuilder) Add(t Tag, c *shard.Command) {
	slot := 0
	if t != (Tag{}) {
		if slot = b.slot(t.Origin); slot == 0 {
			b.origins = append(b.origins, t.Origin)
			slot = len(b.origins)
		}
	}
	b.body = bin.AppendUvarint(b.body, uint64(slot))
	if slot != 0 {
		b.body = bin.AppendUvarint(b.body, t.Seq)
	}
	b.body = shard.AppendCommand(b.body, c)
	b.n++
}

// Entry returns the encoded entry, stamped with timeMs, in a new slice.
func (b *EntryBuilder) Entry(timeMs int64) []byte {
	dst := make([]byte, 0, len(b.body)+16+8*len(b.origins))
	dst = append(dst, entryVersion)
	dst = bin.AppendVarint(dst, timeMs)
	dst = bin.AppendUvarint(dst, uint64(len(b.origins)))
	for _, o := range b.origins {
		dst = bin.AppendUvarint(dst, o)
	}
	dst = bin.AppendUvarint(dst, uint64(b.n))
	return append(dst, b.body...)
}

// AppendEntry encodes a log entry of untagged commands.
func AppendEntry(dst []byte, timeMs int64, cmds []*shard.Command) []byte {
	var b EntryBuilder
	for _, c := range cmds {
		b.Add(Tag{}, c)
	}
	return append(dst, b.Entry(timeMs)...)
}

// Entry is a decoded log entry.
type Entry struct {
	TimeMs   int64
	Commands []shard.Command
	Tags     []Tag // one per command (nil in entries without tags)
}

// DecodeEntry decodes a log entry, checking every length and enum against
// its bound: whatever it returns can be applied without breaking the state
// machine's invariants.
func DecodeEntry(data []byte) (Entry, error) {
	if len(data) == 0 || len(data) > EntryBytesMax || (data[0] != entryVersion && data[0] != entryVersionPlain) {
		return Entry{}, ErrBadEntry
	}
	tagged := data[0] == entryVersion
	r := bin.NewReader(data[1:])
	e := Entry{TimeMs: r.Varint()}
	var origins []uint64
	if tagged {
		origins = make([]uint64, r.Count(originsMax, 1))
		for i := range origins {
			if origins[i] = r.Uvarint(); origins[i] == 0 && r.Err() == nil {
				return Entry{}, fmt.Errorf("%w: %w", ErrBadEntry, errOriginZero)
			}
		}
	}
	n := r.Count(CommandsPerEntryMax, commandBytesMin)
	if r.Err() != nil {
		return Entry{}, ErrBadEntry
	}
	e.Commands = make([]shard.Command, n)
	if tagged {
		e.Tags = make([]Tag, n)
	}
	for i := range e.Commands {
		if tagged {
			slot := r.Uvarint()
			if slot > uint64(len(origins)) && r.Err() == nil {
				return Entry{}, fmt.Errorf("%w: command %d: %w", ErrBadEntry, i, errTagSlot)
			}
			if slot != 0 && r.Err() == nil {
				e.Tags[i] = Tag{Origin: origins[slot-1], Seq: r.Uvarint()}
			}
		}
		if err := shard.ReadCommand(r, &e.Commands[i]); err != nil {
			return Entry{}, fmt.Errorf("%w: command %d: %w", ErrBadEntry, i, err)
		}
	}
	if r.Err() != nil || r.Len() != 0 {
		return Entry{}, ErrBadEntry
	}
	return e, nil
}
