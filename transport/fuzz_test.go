package transport

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/raftfsm"
	"github.com/cloudwallet/cloudwallet/shard"
)

// Whatever the transaction decoder accepts must be a command the log codec
// carries unchanged and the state machine can apply; whatever it refuses
// must be a 400.
func FuzzParseTransaction(f *testing.F) {
	f.Add([]byte(`{"referenceId":"r1","operations":[{"type":"Issue","destinationWalletId":"w000000000","amount":5}]}`))
	f.Add([]byte(`{"referenceId":"r2","operations":[{"type":"Transfer","sourceWalletId":"w000000000","destinationWalletId":"w010000001","amount":"12"}]}`))
	f.Add([]byte(`{"referenceId":"r3","operations":[{"type":"Redeem","sourceWalletId":"w000000000","amount":1e3}]}`))
	f.Add([]byte(`{"referenceId":"","operations":[]}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := parseTransaction(body, 2)
		if err != nil {
			if err.status != 400 {
				t.Fatalf("refused with %d %s", err.status, err.code)
			}
			return
		}
		cmd := engine.TransactionCommand(0, in.referenceID, in.ops)
		checkLoggable(t, cmd)
		if len(cmd.Ops) < 1 || len(cmd.Ops) > shard.OperationsPerTxMax || cmd.ReferenceID == "" {
			t.Fatalf("accepted an out-of-bounds transaction: %+v", cmd)
		}
		for _, op := range cmd.Ops {
			if op.Amount < 1 {
				t.Fatalf("accepted amount %d", op.Amount)
			}
		}
	})
}

func FuzzParseCustomer(f *testing.F) {
	f.Add([]byte(`{"id":"alice","name":"A","description":"d"}`), "")
	f.Add([]byte(`{"name":null}`), "bob")
	f.Add([]byte(``), "carol")
	f.Add([]byte(`{"id":"a b"}`), "")
	f.Fuzz(func(t *testing.T, body []byte, pathID string) {
		in, err := parseCustomer(body, pathID)
		if err != nil {
			if err.status != 400 {
				t.Fatalf("refused with %d %s", err.status, err.code)
			}
			return
		}
		checkLoggable(t, engine.UpsertCustomerCommand(0, in.id, in.fields))
	})
}

func checkLoggable(t *testing.T, cmd *shard.Command) {
	t.Helper()
	e, err := raftfsm.DecodeEntry(raftfsm.AppendEntry(nil, 1, []*shard.Command{cmd}))
	if err != nil {
		t.Fatalf("accepted command does not survive the log codec: %v (%+v)", err, cmd)
	}
	if len(e.Commands) != 1 {
		t.Fatalf("one command went into the log, %d came out", len(e.Commands))
	}
	if d := cmp.Diff(*cmd, e.Commands[0], cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("the log codec changed an accepted command (-sent +logged):\n%s", d)
	}
	m := shard.NewMachine(2)
	m.Apply(shard.Context{Seq: 1}, &shard.Command{Kind: shard.CmdCreateProject})
	m.Apply(shard.Context{Seq: 2}, &e.Commands[0])
	if err := m.CheckInvariants(); err != nil {
		t.Fatalf("an accepted command broke the state machine: %v", err)
	}
}
