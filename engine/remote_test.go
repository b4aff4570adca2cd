package engine

import (
	"bytes"
	"encoding/gob"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Every result a group that holds shards can give crosses the internal
// port unchanged (a write through a node that holds the group), and a
// meta command's result is refused rather than sent half.
func TestResultsCrossThePortUnchanged(t *testing.T) {
	w := shard.WalletID{Shard: 3, Index: 7}
	tx := &shard.Tx{Seq: 9, CreatedAt: 1_700_000_000_000, ReferenceID: "r", ID: shard.TxID{Shard: 3, Index: 2}, Status: shard.TxFailed,
		ErrCode: shard.InsufficientFunds, ErrOpIndex: 1, Ops: []shard.Op{{Type: shard.OpTransfer, Source: w, Destination: shard.WalletID{Shard: 1, Index: 1}, Amount: 5}}}
	vote := &shard.Prepared{FailedAt: -1, Assets: map[shard.WalletID]shard.AssetID{w: 4}}
	for _, r := range []shard.Result{
		{Created: true, Value: shard.CustomerView{Seq: 3, ID: "alice", Name: "A", Status: shard.CustomerSuspended}},
		{Value: shard.WalletView{ID: w, Balance: 42, CustomerID: "alice", Status: shard.WalletClosed}},
		{Code: shard.InsufficientFunds, Value: tx},
		{Value: vote},
		{Created: true, Value: &shard.Began{Tx: tx, Attempt: shard.Attempt{Hi: 1, Lo: 2}, Vote: vote}},
		{Value: &shard.Blocked{Wallets: []shard.WalletID{w}}},
		{Code: shard.ValidationError, Value: "the layout changed"},
		{Code: shard.WalletNotFound},
	} {
		wr, err := wireOf(r)
		if err != nil {
			t.Fatalf("%T: %v", r.Value, err)
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&wr); err != nil {
			t.Fatal(err)
		}
		var back wireResult
		if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, back.result()); d != "" {
			t.Errorf("%T changed crossing the port (-sent +received):\n%s", r.Value, d)
		}
	}
	fenced, err := wireOf(shard.Result{Value: shard.ErrAttemptFenced})
	if err != nil || !errors.Is(fenced.result().Value.(error), shard.ErrAttemptFenced) {
		t.Fatalf("a fenced attempt did not cross as itself: %v %+v", err, fenced)
	}
	if _, err := wireOf(shard.Result{Value: shard.ProjectView{}}); err == nil {
		t.Fatal("a meta command's result was given a wire form")
	}
}
