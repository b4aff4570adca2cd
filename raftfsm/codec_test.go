package raftfsm

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cloudwallet/cloudwallet/shard"
)

// oneOfEach is a command of every kind with every field it uses set.
func oneOfEach() []*shard.Command {
	w := shard.WalletID{Shard: 3, Index: 77}
	return []*shard.Command{
		{Kind: shard.CmdCreateProject, Name: "proj"},
		{Kind: shard.CmdRenameProject, Project: 4, Name: "renamed"},
		{Kind: shard.CmdCreateKeyPair, Project: 4, Name: "k", Secret: "s3cr3t", SignatureKey: "sig"},
		{Kind: shard.CmdDeleteKeyPair, Project: 4, KeyPair: 9},
		{Kind: shard.CmdCreateAsset, Project: 4, Name: "Dollar", Code: "USD", Fractions: 100},
		{Kind: shard.CmdRenameAsset, Project: 4, Asset: 2, Name: "Euro"},
		{Kind: shard.CmdDeleteAsset, Project: 4, Asset: 2},
		{Kind: shard.CmdUpsertCustomer, Project: 4, Customer: "alice@x", Name: "A", HasName: true},
		{Kind: shard.CmdUpsertCustomer, Project: 4, Customer: "bob", Description: "d", HasDesc: true},
		{Kind: shard.CmdSuspendCustomer, Project: 4, Customer: "bob"},
		{Kind: shard.CmdResumeCustomer, Project: 4, Customer: "bob", Wallets: []shard.WalletID{w, {Shard: 0, Index: 1}}},
		{Kind: shard.CmdDeleteCustomer, Project: 4, Customer: "bob"},
		{Kind: shard.CmdCreateWallet, Project: 4, Customer: "bob", Asset: 1, Name: "main", Description: "dd"},
		{Kind: shard.CmdCreateSystemWallet, Project: 4, Shard: 2, Asset: 1, Name: "fees"},
		{Kind: shard.CmdSetWalletName, Project: 4, Wallet: w, Name: "n"},
		{Kind: shard.CmdSetWalletDescription, Project: 4, Wallet: w, Description: "x"},
		{Kind: shard.CmdSetWalletStatus, Project: 4, Wallet: w, Status: shard.WalletClosed},
		{Kind: shard.CmdTransaction, Project: 4, ReferenceID: "ref-1", Ops: []shard.Op{
			{Type: shard.OpIssue, Destination: w, Amount: 5},
			{Type: shard.OpTransfer, Source: w, Destination: shard.WalletID{Shard: 1, Index: 2}, Amount: 1<<63 - 1},
			{Type: shard.OpRedeem, Source: w, Amount: 1},
		}},
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
		"empty":         nil,
		"wrong version": append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"huge count":    {entryVersion, 2, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad customer":  AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdUpsertCustomer, Customer: "no spaces"}}),
		"zero amount":   AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTransaction, ReferenceID: "r", Ops: []shard.Op{{Type: shard.OpIssue, Amount: 0}}}}),
		"no ops":        AppendEntry(nil, 1, []*shard.Command{{Kind: shard.CmdTransaction, ReferenceID: "r"}}),
		"bad kind":      {entryVersion, 2, 1, 200, 0},
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
		again, err := DecodeEntry(AppendEntry(nil, e.TimeMs, cmds))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if d := cmp.Diff(e, again); d != "" {
			t.Fatalf("re-encode changed the entry:\n%s", d)
		}
		m := shard.NewMachine(4)
		m.Apply(shard.Context{Seq: 1}, &shard.Command{Kind: shard.CmdCreateProject})
		for i, c := range cmds {
			m.Apply(shard.Context{Seq: uint64(i + 2)}, c)
		}
	})
}
