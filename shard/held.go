package shard

// Holds of transactions across groups outlive their decision: the
// coordinator answers once the referenceId's group has decided, and the
// other groups post their parts after that (twophase.go). So a hold may
// belong to a transaction whose client already has its answer, and a check
// that a hold makes fail may be wrong: a decided transfer into a wallet
// still holds its credit, not yet in the balance; an aborted one still
// holds money it will release.
//
// Such a check does not fail. The command answers Blocked, naming the held
// wallets, and changes nothing (no record is made, the referenceId stays
// free). Its proposer finishes the decided transactions holding them, and
// proposes it again with HoldsSettled: the holds left then belong to
// transactions not decided when it looked, which no client has heard of,
// and the checks count them as they stand (escrow).

// Blocked is the Value of a command that a hold made fail before its
// proposer settled the holds: which wallets to settle.
type Blocked struct {
	Wallets []WalletID
}

// blockedBy reports whether a check that failed with code on wallet id
// must answer Blocked: the check is one a hold takes part in, the wallet
// has a hold, and the command's proposer has not settled the holds yet.
func (s *Shard) blockedBy(c *Command, code Code, index uint32) bool {
	if c.HoldsSettled || (code != InsufficientFunds && code != LimitExceeded && code != ChangeWalletStatusError) {
		return false
	}
	_, held := s.holds[index]
	return held
}

// HeldParts lists the prepared parts in this shard that hold any of the
// project's wallets that wanted names (nil wanted: any of them): the
// transactions a read of those wallets must settle first.
func (s *Shard) HeldParts(p ProjectID, wanted func(index uint32) bool) []InDoubt {
	if len(s.prepared) == 0 {
		return nil
	}
	var out []InDoubt
	for _, part := range s.prepared {
		if part.project != p {
			continue
		}
		for _, h := range part.holds {
			if wanted == nil || wanted(h.index) {
				out = append(out, InDoubt{Project: part.project, Ref: part.ref, Ops: part.ops, Attempt: part.attempt})
				break
			}
		}
	}
	return out
}
