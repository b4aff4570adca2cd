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
	secretLenMax        = shard.KeyPairSecretLenMax
	commandBytesMin     = 3 // kind, project, one length or id
	walletIDBytesMin    = 2
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
	b.body = AppendCommand(b.body, c)
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

// AppendCommand encodes one command. Every kind writes the fields it uses,
// in a fixed order per kind.
func AppendCommand(b []byte, c *shard.Command) []byte {
	b = append(b, byte(c.Kind))
	b = bin.AppendUvarint(b, uint64(c.Project))
	switch c.Kind {
	case shard.CmdCreateProject, shard.CmdRenameProject:
		b = bin.AppendString(b, c.Name)
	case shard.CmdCreateKeyPair:
		b = bin.AppendString(b, c.Name)
		b = bin.AppendString(b, c.Secret)
		b = bin.AppendString(b, c.SignatureKey)
	case shard.CmdDeleteKeyPair:
		b = bin.AppendUvarint(b, uint64(c.KeyPair))
	case shard.CmdCreateAsset:
		b = bin.AppendString(b, c.Name)
		b = bin.AppendString(b, c.Code)
		b = bin.AppendVarint(b, c.Fractions)
	case shard.CmdRenameAsset:
		b = bin.AppendUvarint(b, uint64(c.Asset))
		b = bin.AppendString(b, c.Name)
	case shard.CmdDeleteAsset, shard.CmdUseAsset:
		b = bin.AppendUvarint(b, uint64(c.Asset))
	case shard.CmdUpsertCustomer:
		b = bin.AppendString(b, c.Customer)
		b = appendOptional(b, c.HasName, c.Name)
		b = appendOptional(b, c.HasDesc, c.Description)
	case shard.CmdSuspendCustomer, shard.CmdDeleteCustomer:
		b = bin.AppendString(b, c.Customer)
	case shard.CmdResumeCustomer:
		b = bin.AppendString(b, c.Customer)
		b = bin.AppendUvarint(b, uint64(len(c.Wallets)))
		for _, w := range c.Wallets {
			b = appendWallet(b, w)
		}
	case shard.CmdCreateWallet, shard.CmdCreateSystemWallet:
		b = bin.AppendString(b, c.Customer)
		b = bin.AppendUvarint(b, uint64(c.Shard))
		b = bin.AppendUvarint(b, uint64(c.Asset))
		b = bin.AppendString(b, c.Name)
		b = bin.AppendString(b, c.Description)
	case shard.CmdSetWalletName, shard.CmdSetWalletDescription:
		b = appendWallet(b, c.Wallet)
		b = bin.AppendString(b, c.Name)
		b = bin.AppendString(b, c.Description)
	case shard.CmdSetWalletStatus:
		b = appendWallet(b, c.Wallet)
		b = append(b, byte(c.Status))
	case shard.CmdTransaction, shard.CmdTxBegin:
		b = bin.AppendString(b, c.ReferenceID)
		b = shard.AppendOps(b, c.Ops)
	case shard.CmdTxPrepare, shard.CmdTxCommit, shard.CmdTxAbort:
		b = bin.AppendString(b, c.ReferenceID)
		b = appendTxID(b, c.Tx)
		b = bin.AppendVarint(b, c.At)
		b = shard.AppendOps(b, c.Ops)
	case shard.CmdFence:
		b = bin.AppendUvarint(b, c.Fence)
	case shard.CmdTxDecide:
		b = bin.AppendString(b, c.ReferenceID)
		b = appendTxID(b, c.Tx)
		b = append(b, byte(c.TxStatus), byte(c.ErrCode))
		b = bin.AppendVarint(b, int64(c.ErrOpIndex))
	default:
		panic("raftfsm: encoding unknown command kind " + c.Kind.String())
	}
	return b
}

func appendOptional(b []byte, has bool, s string) []byte {
	b = bin.AppendBool(b, has)
	if has {
		b = bin.AppendString(b, s)
	}
	return b
}

func appendWallet(b []byte, w shard.WalletID) []byte {
	b = bin.AppendUvarint(b, uint64(w.Shard))
	return bin.AppendUvarint(b, uint64(w.Index))
}

func appendTxID(b []byte, t shard.TxID) []byte {
	b = bin.AppendUvarint(b, uint64(t.Shard))
	return bin.AppendUvarint(b, uint64(t.Index))
}

func readTxID(r *bin.Reader) shard.TxID {
	return shard.TxID{Shard: uint16(r.UvarintMax(shard.ShardsMax - 1)), Index: uint32(r.UvarintMax(shard.IndexMax))}
}

func readWallet(r *bin.Reader) shard.WalletID {
	return shard.WalletID{Shard: uint16(r.UvarintMax(shard.ShardsMax - 1)), Index: uint32(r.UvarintMax(shard.IndexMax))}
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
		if err := readCommand(r, &e.Commands[i]); err != nil {
			return Entry{}, fmt.Errorf("%w: command %d: %v", ErrBadEntry, i, err)
		}
	}
	if r.Err() != nil || r.Len() != 0 {
		return Entry{}, ErrBadEntry
	}
	return e, nil
}

func readCommand(r *bin.Reader, c *shard.Command) error {
	c.Kind = shard.Kind(r.Byte())
	c.Project = shard.ProjectID(r.UvarintMax(shard.IndexMax))
	if r.Err() != nil || !c.Kind.Valid() {
		return ErrBadEntry
	}
	name := func() string { return r.String(shard.NameLenMax) }
	customer := func() string {
		s := r.String(shard.CustomerIDLenMax)
		if r.Err() == nil && !shard.ValidCustomerID(s) {
			r.Fail()
		}
		return s
	}
	switch c.Kind {
	case shard.CmdCreateProject, shard.CmdRenameProject:
		c.Name = name()
	case shard.CmdCreateKeyPair:
		c.Name, c.Secret, c.SignatureKey = name(), r.String(secretLenMax), r.String(secretLenMax)
	case shard.CmdDeleteKeyPair:
		c.KeyPair = shard.KeyPairID(r.UvarintMax(shard.IndexMax))
	case shard.CmdCreateAsset:
		c.Name, c.Code, c.Fractions = name(), r.String(shard.AssetCodeLenMax), r.Varint()
		if c.Fractions < 1 {
			r.Fail()
		}
	case shard.CmdRenameAsset:
		c.Asset, c.Name = shard.AssetID(r.UvarintMax(shard.IndexMax)), name()
	case shard.CmdDeleteAsset, shard.CmdUseAsset:
		c.Asset = shard.AssetID(r.UvarintMax(shard.IndexMax))
	case shard.CmdUpsertCustomer:
		c.Customer = customer()
		if c.HasName = r.Bool(); c.HasName {
			c.Name = name()
		}
		if c.HasDesc = r.Bool(); c.HasDesc {
			c.Description = r.String(shard.DescriptionLenMax)
		}
	case shard.CmdSuspendCustomer, shard.CmdDeleteCustomer:
		c.Customer = customer()
	case shard.CmdResumeCustomer:
		c.Customer = customer()
		n := r.Count(shard.ResumeWalletsMax, walletIDBytesMin)
		if r.Err() == nil && n > 0 {
			c.Wallets = make([]shard.WalletID, n)
			for i := range c.Wallets {
				c.Wallets[i] = readWallet(r)
			}
		}
	case shard.CmdCreateWallet, shard.CmdCreateSystemWallet:
		c.Customer = r.String(shard.CustomerIDLenMax)
		c.Shard = uint16(r.UvarintMax(shard.ShardsMax - 1))
		c.Asset = shard.AssetID(r.UvarintMax(shard.IndexMax))
		c.Name, c.Description = name(), r.String(shard.DescriptionLenMax)
		if r.Err() == nil && (c.Kind == shard.CmdCreateWallet) != shard.ValidCustomerID(c.Customer) {
			r.Fail() // a customer wallet names a valid customer; a system wallet none
		}
	case shard.CmdSetWalletName, shard.CmdSetWalletDescription:
		c.Wallet, c.Name, c.Description = readWallet(r), name(), r.String(shard.DescriptionLenMax)
	case shard.CmdSetWalletStatus:
		c.Wallet, c.Status = readWallet(r), shard.WalletStatus(r.Byte())
		if c.Status < shard.WalletOpen || c.Status > shard.WalletClosed {
			r.Fail()
		}
	case shard.CmdTransaction, shard.CmdTxBegin:
		c.ReferenceID = r.String(shard.ReferenceIDLenMax)
		c.Ops = shard.ReadOps(r)
		if r.Err() == nil && (c.ReferenceID == "" || len(c.Ops) == 0) {
			r.Fail()
		}
	case shard.CmdTxPrepare, shard.CmdTxCommit, shard.CmdTxAbort:
		c.ReferenceID, c.Tx, c.At = r.String(shard.ReferenceIDLenMax), readTxID(r), r.Varint()
		c.Ops = shard.ReadOps(r)
		if r.Err() == nil && (c.ReferenceID == "" || len(c.Ops) == 0) {
			r.Fail()
		}
	case shard.CmdFence:
		c.Fence = r.Uvarint()
	case shard.CmdTxDecide:
		c.ReferenceID, c.Tx = r.String(shard.ReferenceIDLenMax), readTxID(r)
		c.TxStatus, c.ErrCode, c.ErrOpIndex = shard.TxStatus(r.Byte()), shard.Code(r.Byte()), int32(r.Varint())
		switch {
		case r.Err() != nil:
		case c.ReferenceID == "":
			r.Fail()
		case c.TxStatus == shard.TxCompleted && (c.ErrCode != shard.OK || c.ErrOpIndex != 0):
			r.Fail()
		case c.TxStatus == shard.TxFailed && (!shard.IsCheckFailure(c.ErrCode) ||
			c.ErrOpIndex < 0 || c.ErrOpIndex >= shard.OperationsPerTxMax):
			r.Fail()
		case c.TxStatus != shard.TxCompleted && c.TxStatus != shard.TxFailed:
			r.Fail()
		}
	}
	return r.Err()
}
