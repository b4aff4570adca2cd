package raftfsm

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cloudwallet/cloudwallet/internal/bin"
	"github.com/cloudwallet/cloudwallet/shard"
)

// oneOfEach is a command of every kind with every field it uses set.
func oneOfEach() []*shard.Command {
	w := shard.WalletID{Shard: 3, Index: 77}
	attempt := shard.Attempt{Hi: 0x0123456789abcdef, Lo: 0xfedcba9876543210}
	return []*shard.Command{
		{Kind: shard.CmdCreateProject, Name: "proj", GroupCount: 2},
		{Kind: shard.CmdRenameProject, Project: 4, Name: "renamed"},
		{Kind: shard.CmdCreateKeyPair, Project: 4, Name: "k", Secret: "s3cr3t", SignatureKey: "sig"},
		{Kind: shard.CmdDeleteKeyPair, Project: 4, KeyPair: 9},
		{Kind: shard.CmdRevokeKeyPair, KeyPair: 9},
		{Kind: shard.CmdCreateAsset, Project: 4, ByKey: 3, Name: "Dollar", Code: "USD", Fractions: 100},
		{Kind: shard.CmdRenameAsset, Project: 4, Asset: 2, Name: "Euro"},
		{Kind: shard.CmdDeleteAsset, Project: 4, Asset: 2},
		{Kind: shard.CmdUseAsset, Project: 4, Asset: 3},
		{Kind: shard.CmdFence, Fence: 1 << 40},
		{Kind: shard.CmdUpsertCustomer, Project: 4, Shard: 5, Customer: "alice@x", Name: "A", HasName: true},
		{Kind: shard.CmdUpsertCustomer, Project: 4, Customer: "bob", Description: "d", HasDesc: true},
		{Kind: shard.CmdSuspendCustomer, Project: 4, Shard: 1, Customer: "bob"},
		{Kind: shard.CmdResumeCustomer, Project: 4, Customer: "bob", Wallets: []shard.WalletID{w, {Shard: 0, Index: 1}}},
		{Kind: shard.CmdDeleteCustomer, Project: 4, Customer: "bob"},
		{Kind: shard.CmdCreateWallet, Project: 4, Customer: "bob", Asset: 1, Name: "main", Description: "dd"},
		{Kind: shard.CmdCreateSystemWallet, Project: 4, Shard: 2, Asset: 1, Name: "fees"},
		{Kind: shard.CmdSetWalletName, Project: 4, ByKey: 8, ByCustomer: "bob", Wallet: w, Name: "n"},
		{Kind: shard.CmdSetWalletDescription, Project: 4, Wallet: w, Description: "x"},
		{Kind: shard.CmdSetWalletStatus, Project: 4, Wallet: w, Status: shard.WalletClosed},
		{Kind: shard.CmdTransaction, Project: 4, Shard: 6, ReferenceID: "ref-1", Ops: []shard.Op{
			{Type: shard.OpIssue, Destination: w, Amount: 5},
			{Type: shard.OpTransfer, Source: w, Destination: shard.WalletID{Shard: 1, Index: 2}, Amount: 1<<63 - 1},
			{Type: shard.OpRedeem, Source: w, Amount: 1},
		}},
		{Kind: shard.CmdTxBegin, Project: 4, Shard: 3, ReferenceID: "ref-2", Attempt: attempt, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: 5}}},
		{Kind: shard.CmdTxPrepare, Project: 4, ReferenceID: "ref-2", Attempt: attempt, Ops: []shard.Op{{Type: shard.OpRedeem, Source: w, Amount: 2}}},
		{Kind: shard.CmdTxDecide, Project: 4, Shard: 3, ReferenceID: "ref-2", Attempt: attempt, TxStatus: shard.TxFailed, ErrCode: shard.InsufficientFunds, ErrOpIndex: 3, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: 5}}},
		{Kind: shard.CmdTxDecide, Project: 4, ReferenceID: "ref-3", Attempt: attempt, TxStatus: shard.TxCompleted, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: 5}}},
		{Kind: shard.CmdTxCommit, Project: 4, ReferenceID: "ref-2", Attempt: attempt, Tx: shard.TxID{Shard: 3, Index: 7}, At: 1_700_000_000_000, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: 5}}},
		{Kind: shard.CmdTxAbort, Project: 4, ReferenceID: "ref-2", Attempt: attempt, Ops: []shard.Op{{Type: shard.OpIssue, Destination: w, Amount: 5}}},
		{Kind: shard.CmdTxFence, Project: 4, Shard: 3, ReferenceID: "ref-2", Attempt: attempt},
		{Kind: shard.CmdHold, Project: 4, Shard: 3, ReferenceID: "ref-4", Attempt: attempt, HoldTimeoutMs: 30_000, ByKey: 2, Ops: []shard.Op{{Type: shard.OpRedeem, Source: w, Amount: 2}}},
		{Kind: shard.CmdHoldBegin, Project: 4, Shard: 3, ReferenceID: "ref-4", Attempt: attempt, Ops: []shard.Op{{Type: shard.OpRedeem, Source: w, Amount: 2}}},
		{Kind: shard.CmdTxDecide, Project: 4, Shard: 3, ReferenceID: "ref-4", Attempt: attempt, TxStatus: shard.TxHeld, Ops: []shard.Op{{Type: shard.OpRedeem, Source: w, Amount: 2}}},
		{Kind: shard.CmdHoldFinish, Project: 4, Shard: 3, ReferenceID: "ref-4", Attempt: attempt, TxStatus: shard.TxVoided, HoldsSettled: true, Ops: []shard.Op{{Type: shard.OpRedeem, Source: w, Amount: 2}}},
		{Kind: shard.CmdSetLayout, Layout: &shard.GroupLayout{Version: 3, Groups: [][]string{{"node-a", "node-b"}, {"node-b", "node-c"}}, Leaving: []string{"node-d"}}},
		{Kind: shard.CmdCreateProjectNear, Name: "near", GroupCount: 1, Near: "node-b"},
	}
}

func TestEntryRoundTrip(t *testing.T) {
	cmds := oneOfEach()
	data := AppendEntry(nil, 1_700_000_000_123, cmds)
	e, err := DecodeEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	if e.TimeMs != 1_700_000_000_123 || len(e.Commands) != len(cmds) {
		t.Fatalf("header: %d, %d commands", e.TimeMs, len(e.Commands))
	}
	for i := range cmds {
		if d := cmp.Diff(*cmds[i], e.Commands[i]); d != "" {
			t.Errorf("command %d (%s) changed in the round trip (-want +got):\n%s", i, cmds[i].Kind, d)
		}
	}
}

func TestDecodeEntryRefusesBadInput(t *testing.T) {
	good := AppendEntry(nil, 1, oneOfEach())
	bad := map[string][]byte{
		"empty":                              nil,
		"wrong version":                      append([]byte{9}, good[1:]...),
		"truncated":                          good[:len(good)-1],
		"trailing":                           append(append([]byte(nil), good...), 0),
		"huge count":                         {entryVersion, 2, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad customer":                       AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdUpsertCustomer, Customer: "no spaces"}}),
		"zero amount":                        AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTransaction, ReferenceID: "r", Ops: []shard.Op{{Type: shard.OpIssue, Amount: 0}}}}),
		"no ops":                             AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTransaction, ReferenceID: "r"}}),
		"bad kind":                           {entryVersion, 2, 1, 200, 0},
		"decide waiting":                     AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTxDecide, ReferenceID: "r", Attempt: shard.Attempt{Lo: 1}, Ops: []shard.Op{{Type: shard.OpIssue, Amount: 1}}, TxStatus: shard.TxWaiting}}),
		"decide failed without a check code": AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTxDecide, ReferenceID: "r", Attempt: shard.Attempt{Lo: 1}, Ops: []shard.Op{{Type: shard.OpIssue, Amount: 1}}, TxStatus: shard.TxFailed, ErrCode: shard.AssetIsUsed}}),
		"decide completed with a code":       AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTxDecide, ReferenceID: "r", Attempt: shard.Attempt{Lo: 1}, Ops: []shard.Op{{Type: shard.OpIssue, Amount: 1}}, TxStatus: shard.TxCompleted, ErrCode: shard.InsufficientFunds}}),
		"hold finished Held":                 AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdHoldFinish, ReferenceID: "r", Attempt: shard.Attempt{Lo: 1}, Ops: []shard.Op{{Type: shard.OpIssue, Amount: 1}}, TxStatus: shard.TxHeld}}),
		"hold past the longest timeout":      AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdHold, ReferenceID: "r", Attempt: shard.Attempt{Lo: 1}, Ops: []shard.Op{{Type: shard.OpIssue, Amount: 1}}, HoldTimeoutMs: shard.HoldTimeoutMsMax + 1}}),
		"prepare without ops":                AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTxPrepare, ReferenceID: "r", Attempt: shard.Attempt{Lo: 1}}}),
		"layout with an empty node id":       AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdSetLayout, Layout: &shard.GroupLayout{Version: 1, Groups: [][]string{{""}}}}}),
		"prepare without an attempt":         AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTxPrepare, ReferenceID: "r", Ops: []shard.Op{{Type: shard.OpIssue, Amount: 1}}}}),
	}
	for name, b := range bad {
		if _, err := DecodeEntry(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(AppendEntry(nil, 1, oneOfEach()))
	f.Add(AppendEntry(nil, 0, oneOfEach()[:1]))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEntry(data)
		if err != nil {
			return
		}
		// What decodes survives a re-encode unchanged (varints may come back
		// shorter), and applies without a panic.
		cmds := make([]*shard.Command, len(e.Commands))
		for i := range e.Commands {
			cmds[i] = &e.Commands[i]
		}
		var b EntryBuilder
		for i, c := range cmds {
			var tag Tag
			if e.Tags != nil {
				tag = e.Tags[i]
			}
			b.Add(tag, c)
		}
		again, err := DecodeEntry(b.Entry(e.TimeMs))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if d := cmp.Diff(untagged(e), untagged(again), cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("re-encode changed the entry:\n%s", d)
		}
		m := shard.NewMachine(4)
		m.Apply(shard.Context{Seq: 1}, &shard.Command{Kind: shard.CmdCreateProject})
		for i, c := range cmds {
			m.Apply(shard.Context{Seq: uint64(i + 2)}, c)
		}
		if err := m.CheckInvariants(); err != nil {
			t.Fatalf("a decoded entry broke the state machine: %v", err)
		}
	})
}

// untagged drops a tag list that tags nothing: an entry without tags and
// one whose commands all carry the zero tag say the same.
func untagged(e Entry) Entry {
	for _, tag := range e.Tags {
		if tag != (Tag{}) {
			return e
		}
	}
	e.Tags = nil
	return e
}

func TestTagsRoundTrip(t *testing.T) {
	cmds := oneOfEach()
	var b EntryBuilder
	want := make([]Tag, len(cmds))
	for i, c := range cmds {
		if i%3 != 2 { // every third untagged; two origins interleaved
			want[i] = Tag{Origin: uint64(1 + i%2), Seq: uint64(1000 + i)}
		}
		b.Add(want[i], c)
	}
	e, err := DecodeEntry(b.Entry(42))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, e.Tags); d != "" {
		t.Fatalf("tags changed (-want +got):\n%s", d)
	}
	for i := range cmds {
		if d := cmp.Diff(*cmds[i], e.Commands[i]); d != "" {
			t.Errorf("command %d changed:\n%s", i, d)
		}
	}
	b.Reset()
	if e, err := DecodeEntry(b.Entry(7)); err != nil || len(e.Commands) != 0 || e.TimeMs != 7 {
		t.Fatalf("an empty entry (a leader's term marker): %+v %v", e, err)
	}
}

// Logs written before tags (version 1) still decode, without tags.
func TestVersion1EntriesStillDecode(t *testing.T) {
	cmds := oneOfEach()
	v1 := []byte{entryVersionPlain}
	v1 = bin.AppendVarint(v1, 99)
	v1 = bin.AppendUvarint(v1, uint64(len(cmds)))
	for _, c := range cmds {
		v1 = shard.AppendCommand(v1, c)
	}
	e, err := DecodeEntry(v1)
	if err != nil || e.TimeMs != 99 || len(e.Commands) != len(cmds) || e.Tags != nil {
		t.Fatalf("version 1 entry: %v, %d commands, tags %v", err, len(e.Commands), e.Tags)
	}
}

func TestTaggedEntriesRefuseBadOrigins(t *testing.T) {
	var b EntryBuilder
	b.Add(Tag{Origin: 5, Seq: 1}, oneOfEach()[0])
	good := b.Entry(1)
	if _, err := DecodeEntry(good); err != nil {
		t.Fatal(err)
	}
	// header: version, time (1 byte), origin count, origin 5 (1 byte), n, then slot
	zeroOrigin := append([]byte(nil), good...)
	zeroOrigin[3] = 0
	slotOutOfRange := append([]byte(nil), good...)
	slotOutOfRange[5] = 2
	for name, c := range map[string]struct {
		data []byte
		why  error
	}{"zero origin": {zeroOrigin, errOriginZero}, "slot beyond the origins": {slotOutOfRange, errTagSlot}} {
		if _, err := DecodeEntry(c.data); !errors.Is(err, ErrBadEntry) || !errors.Is(err, c.why) {
			t.Errorf("%s: %v, want %v", name, err, c.why)
		}
	}
	for i := 0; i < originsMax; i++ {
		b.Add(Tag{Origin: uint64(100 + i), Seq: 1}, oneOfEach()[0])
	}
	if !b.Full(Tag{Origin: 999, Seq: 1}) || b.Full(Tag{Origin: 5, Seq: 2}) || b.Full(Tag{}) {
		t.Fatal("Full: a new origin beyond the limit must not fit; a known one or none must")
	}
}

// The log format does not drift: an entry holding one command of every
// kind encodes to the bytes logs already hold (testdata, written for data
// format 5: engine.DataFormat names what changed; the hold kinds were
// added later, in data format 6, and CreateProjectNear after them, without
// changing any older kind's bytes),
// and decodes back unchanged. A change here is a new data format.
func TestEntryFormatIsStable(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "entry-every-kind.hex"))
	if err != nil {
		t.Fatal(err)
	}
	got := AppendEntry(nil, 7, oneOfEach())
	if want := strings.TrimSpace(string(golden)); hex.EncodeToString(got) != want {
		t.Fatalf("the entry encoding changed:\n got %x\nwant %s", got, want)
	}
	e, err := DecodeEntry(got)
	if err != nil || len(e.Commands) != len(oneOfEach()) {
		t.Fatalf("decode: %v, %d commands", err, len(e.Commands))
	}
	for i, c := range oneOfEach() {
		if d := cmp.Diff(*c, e.Commands[i], cmpopts.EquateEmpty()); d != "" {
			t.Errorf("command %d (%s) changed:\n%s", i, c.Kind, d)
		}
	}
}

// An entry holding a command kind this version does not know (a newer
// version wrote it) is refused with shard.ErrUnknownKind, so the node can
// say that every node must run the same version; a kind byte of 0 is plain
// corruption.
func TestEntryOfAnUnknownKindSaysSo(t *testing.T) {
	a := AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdDeleteKeyPair, KeyPair: 3}})
	b := AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdRevokeKeyPair, KeyPair: 3}}) // the same fields
	kindAt := -1
	for i := range a {
		if a[i] != b[i] {
			kindAt = i
			break
		}
	}
	if kindAt < 0 || len(a) != len(b) {
		t.Fatal("cannot find the kind byte")
	}
	a[kindAt] = 255
	if _, err := DecodeEntry(a); !errors.Is(err, shard.ErrUnknownKind) || !errors.Is(err, ErrBadEntry) {
		t.Fatalf("kind 255: %v, want ErrBadEntry wrapping shard.ErrUnknownKind", err)
	}
	a[kindAt] = 0
	if _, err := DecodeEntry(a); err == nil || errors.Is(err, shard.ErrUnknownKind) {
		t.Fatalf("kind 0: %v, want a corrupt entry, not an unknown kind", err)
	}
}
