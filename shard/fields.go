package shard

import "github.com/cloudwallet/cloudwallet/internal/bin"

// field is one Command field as the log carries it: how to append it and
// how to read it back with its bound checked (a value out of bounds fails
// the reader, and the whole entry is refused). A kind lists its fields in
// the kind table; the order there is the order in the log.
type field struct {
	append func(b []byte, c *Command) []byte
	read   func(r *bin.Reader, c *Command)
}

// The bounds the log codec checks that have no other home.
const (
	secretLenMax     = KeyPairSecretLenMax
	walletIDBytesMin = 2 // a wallet id is two varints
)

var (
	fName = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.Name) },
		func(r *bin.Reader, c *Command) { c.Name = r.String(NameLenMax) },
	}
	fDescription = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.Description) },
		func(r *bin.Reader, c *Command) { c.Description = r.String(DescriptionLenMax) },
	}
	// fOptName and fOptDescription: an upsert's optional fields, each a
	// flag (given or not) and then the value if given.
	fOptName = field{
		func(b []byte, c *Command) []byte { return appendOptional(b, c.HasName, c.Name) },
		func(r *bin.Reader, c *Command) {
			if c.HasName = r.Bool(); c.HasName {
				c.Name = r.String(NameLenMax)
			}
		},
	}
	fOptDescription = field{
		func(b []byte, c *Command) []byte { return appendOptional(b, c.HasDesc, c.Description) },
		func(r *bin.Reader, c *Command) {
			if c.HasDesc = r.Bool(); c.HasDesc {
				c.Description = r.String(DescriptionLenMax)
			}
		},
	}
	fSecret = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.Secret) },
		func(r *bin.Reader, c *Command) { c.Secret = r.String(secretLenMax) },
	}
	fSignatureKey = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.SignatureKey) },
		func(r *bin.Reader, c *Command) { c.SignatureKey = r.String(secretLenMax) },
	}
	fKeyPair = field{
		func(b []byte, c *Command) []byte { return bin.AppendUvarint(b, uint64(c.KeyPair)) },
		func(r *bin.Reader, c *Command) { c.KeyPair = KeyPairID(r.UvarintMax(IndexMax)) },
	}
	fCode = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.Code) },
		func(r *bin.Reader, c *Command) { c.Code = r.String(AssetCodeLenMax) },
	}
	fFractions = field{
		func(b []byte, c *Command) []byte { return bin.AppendVarint(b, c.Fractions) },
		func(r *bin.Reader, c *Command) {
			if c.Fractions = r.Varint(); c.Fractions < 1 {
				r.Fail()
			}
		},
	}
	fAsset = field{
		func(b []byte, c *Command) []byte { return bin.AppendUvarint(b, uint64(c.Asset)) },
		func(r *bin.Reader, c *Command) { c.Asset = AssetID(r.UvarintMax(IndexMax)) },
	}
	// fCustomer is a customer id, checked like the API checks it.
	fCustomer = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.Customer) },
		func(r *bin.Reader, c *Command) {
			if c.Customer = r.String(CustomerIDLenMax); r.Err() == nil && !ValidCustomerID(c.Customer) {
				r.Fail()
			}
		},
	}
	// fOwner and fNoOwner are a new wallet's customer: a customer wallet
	// names a valid customer, a system wallet none.
	fOwner   = fCustomer
	fNoOwner = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.Customer) },
		func(r *bin.Reader, c *Command) {
			if c.Customer = r.String(CustomerIDLenMax); r.Err() == nil && ValidCustomerID(c.Customer) {
				r.Fail()
			}
		},
	}
	// fBy: who asked for the write (Command.ByKey, ByCustomer).
	fBy = field{
		func(b []byte, c *Command) []byte {
			b = bin.AppendUvarint(b, uint64(c.ByKey))
			return bin.AppendString(b, c.ByCustomer)
		},
		func(r *bin.Reader, c *Command) {
			c.ByKey = uint32(r.UvarintMax(IndexMax + 1))
			if c.ByCustomer = r.String(CustomerIDLenMax); c.ByCustomer != "" && !ValidCustomerID(c.ByCustomer) {
				r.Fail()
			}
		},
	}
	// fGroupCount: how many groups a new project spans (0: all).
	fGroupCount = field{
		func(b []byte, c *Command) []byte { return bin.AppendUvarint(b, uint64(c.GroupCount)) },
		func(r *bin.Reader, c *Command) { c.GroupCount = int(r.UvarintMax(ShardsMax)) },
	}
	// fNear: the node a new project is made near (a layout's node id).
	fNear = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.Near) },
		func(r *bin.Reader, c *Command) { c.Near = r.String(NodeIDLenMax) },
	}
	// fShard: the command's home shard, picked by the proposer (Placement.Home).
	fShard = field{
		func(b []byte, c *Command) []byte { return bin.AppendUvarint(b, uint64(c.Shard)) },
		func(r *bin.Reader, c *Command) { c.Shard = uint16(r.UvarintMax(ShardsMax - 1)) },
	}
	fWallet = field{
		func(b []byte, c *Command) []byte { return appendWallet(b, c.Wallet) },
		func(r *bin.Reader, c *Command) { c.Wallet = readWallet(r) },
	}
	// fWallets: the wallets a resume reopens.
	fWallets = field{
		func(b []byte, c *Command) []byte {
			b = bin.AppendUvarint(b, uint64(len(c.Wallets)))
			for _, w := range c.Wallets {
				b = appendWallet(b, w)
			}
			return b
		},
		func(r *bin.Reader, c *Command) {
			n := r.Count(ResumeWalletsMax, walletIDBytesMin)
			if r.Err() == nil && n > 0 {
				c.Wallets = make([]WalletID, n)
				for i := range c.Wallets {
					c.Wallets[i] = readWallet(r)
				}
			}
		},
	}
	fStatus = field{
		func(b []byte, c *Command) []byte { return append(b, byte(c.Status)) },
		func(r *bin.Reader, c *Command) {
			if c.Status = WalletStatus(r.Byte()); c.Status < WalletOpen || c.Status > WalletClosed {
				r.Fail()
			}
		},
	}
	// fReferenceID is never empty in the log.
	fReferenceID = field{
		func(b []byte, c *Command) []byte { return bin.AppendString(b, c.ReferenceID) },
		func(r *bin.Reader, c *Command) {
			if c.ReferenceID = r.String(ReferenceIDLenMax); r.Err() == nil && c.ReferenceID == "" {
				r.Fail()
			}
		},
	}
	// fOps: a transaction's operations, at least one.
	fOps = field{
		func(b []byte, c *Command) []byte { return AppendOps(b, c.Ops) },
		func(r *bin.Reader, c *Command) {
			if c.Ops = ReadOps(r); r.Err() == nil && len(c.Ops) == 0 {
				r.Fail()
			}
		},
	}
	fTx = field{
		func(b []byte, c *Command) []byte {
			b = bin.AppendUvarint(b, uint64(c.Tx.Shard))
			return bin.AppendUvarint(b, uint64(c.Tx.Index))
		},
		func(r *bin.Reader, c *Command) {
			c.Tx = TxID{Shard: uint16(r.UvarintMax(ShardsMax - 1)), Index: uint32(r.UvarintMax(IndexMax))}
		},
	}
	// fAttempt: the run of the protocol across groups a step belongs to
	// (never the zero one).
	fAttempt = field{
		func(b []byte, c *Command) []byte { return appendAttempt(b, c.Attempt) },
		func(r *bin.Reader, c *Command) {
			if c.Attempt = readAttempt(r); r.Err() == nil && c.Attempt.IsZero() {
				r.Fail()
			}
		},
	}
	// fSettled: Command.HoldsSettled.
	fSettled = field{
		func(b []byte, c *Command) []byte { return bin.AppendBool(b, c.HoldsSettled) },
		func(r *bin.Reader, c *Command) { c.HoldsSettled = r.Bool() },
	}
	fAt = field{
		func(b []byte, c *Command) []byte { return bin.AppendVarint(b, c.At) },
		func(r *bin.Reader, c *Command) { c.At = r.Varint() },
	}
	fHoldTimeout = field{
		func(b []byte, c *Command) []byte { return bin.AppendUvarint(b, uint64(c.HoldTimeoutMs)) },
		func(r *bin.Reader, c *Command) { c.HoldTimeoutMs = int64(r.UvarintMax(uint64(HoldTimeoutMsMax))) },
	}
	// fHoldEnd: how a HoldFinish ends the hold.
	fHoldEnd = field{
		func(b []byte, c *Command) []byte { return append(b, byte(c.TxStatus)) },
		func(r *bin.Reader, c *Command) {
			if c.TxStatus = TxStatus(r.Byte()); r.Err() == nil && !IsHoldEnd(c.TxStatus) {
				r.Fail()
			}
		},
	}
	// fDecision: a TxDecide's outcome. Completed and Held carry no code;
	// Failed carries a check failure and the index of an operation.
	fDecision = field{
		func(b []byte, c *Command) []byte {
			b = append(b, byte(c.TxStatus), byte(c.ErrCode))
			return bin.AppendVarint(b, int64(c.ErrOpIndex))
		},
		func(r *bin.Reader, c *Command) {
			c.TxStatus, c.ErrCode, c.ErrOpIndex = TxStatus(r.Byte()), Code(r.Byte()), int32(r.Varint())
			switch {
			case r.Err() != nil:
			case (c.TxStatus == TxCompleted || c.TxStatus == TxHeld) && (c.ErrCode != OK || c.ErrOpIndex != 0):
				r.Fail()
			case c.TxStatus == TxFailed && (!IsCheckFailure(c.ErrCode) ||
				c.ErrOpIndex < 0 || c.ErrOpIndex >= OperationsPerTxMax):
				r.Fail()
			case c.TxStatus != TxCompleted && c.TxStatus != TxFailed && c.TxStatus != TxHeld:
				r.Fail()
			}
		},
	}
	fFence = field{
		func(b []byte, c *Command) []byte { return bin.AppendUvarint(b, c.Fence) },
		func(r *bin.Reader, c *Command) { c.Fence = r.Uvarint() },
	}
	fLayout = field{
		func(b []byte, c *Command) []byte { return AppendLayout(b, c.Layout) },
		func(r *bin.Reader, c *Command) { c.Layout = ReadLayout(r) },
	}
)

func appendAttempt(b []byte, a Attempt) []byte {
	return bin.AppendUint64(bin.AppendUint64(b, a.Hi), a.Lo)
}

func readAttempt(r *bin.Reader) Attempt { return Attempt{Hi: r.Uint64(), Lo: r.Uint64()} }

func appendOptional(b []byte, has bool, s string) []byte {
	b = bin.AppendBool(b, has)
	if has {
		b = bin.AppendString(b, s)
	}
	return b
}

func appendWallet(b []byte, w WalletID) []byte {
	b = bin.AppendUvarint(b, uint64(w.Shard))
	return bin.AppendUvarint(b, uint64(w.Index))
}

func readWallet(r *bin.Reader) WalletID {
	return WalletID{Shard: uint16(r.UvarintMax(ShardsMax - 1)), Index: uint32(r.UvarintMax(IndexMax))}
}
