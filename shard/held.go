package shard

import "slices"

// Holds of transactions across groups outlive their decision: the
// coordinator answers once the referenceId's group has decided, and the
// other groups post their parts after that (twophase.go). So a hold may
// belong to a transaction whose client already has its answer: a decided
// transfer into a wallet still holds its credit, not yet in the balance;
// an aborted one still holds money it will release; and a command that
// posted on the wallet now would put its entry before that transaction's,
// which came first.
//
// A command that touches a wallet with a hold therefore does not apply
// yet. It answers Blocked, naming the held wallets, and changes nothing (no
// record is made, the referenceId stays free). Its proposer finishes the
// decided transactions holding them, and proposes it again with
// HoldsSettled: the holds left then belong to transactions not decided when
// it looked, which no client has heard of, and the checks count them as
// they stand (escrow).

// Blocked is the Value of a command that met holds before its proposer
// settled them: which wallets to settle.
type Blocked struct {
	Wallets []WalletID
}

// blocked reports whether a command that touches the wallet at index must
// answer Blocked: the wallet has a hold, and the command's proposer has not
// settled the holds yet.
func (s *Shard) blocked(c *Command, index uint32) bool {
	if c.HoldsSettled {
		return false
	}
	_, held := s.holds[index]
	return held
}

// HeldParts lists the prepared parts in flight in this shard that hold any
// of the project's wallets at indexes (nil: any of them): the transactions
// a read of those wallets must settle first. Named wallets are looked up
// in the holders index, so a read pays for the parts on its wallets, not
// for every part in flight in the shard.
func (s *Shard) HeldParts(p ProjectID, indexes []uint32) []InDoubt {
	if len(s.prepared) == 0 {
		return nil
	}
	var out []InDoubt
	add := func(part *preparedTx) {
		if part.project == p && !part.open {
			out = append(out, InDoubt{Project: part.project, Ref: part.ref, Ops: part.ops, Attempt: part.attempt})
		}
	}
	if indexes == nil {
		for _, part := range s.prepared {
			add(part)
		}
		return out
	}
	for _, i := range indexes {
		for _, a := range s.holders[i] {
			if !slices.ContainsFunc(out, func(d InDoubt) bool { return d.Attempt == a }) { // one part may hold two of them
				add(s.prepared[a])
			}
		}
	}
	return out
}
