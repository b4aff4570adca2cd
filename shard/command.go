package shard

// Command is one state change. It is a flat record so that one codec
// (raftfsm) encodes every kind; each kind reads only the fields its apply
// function names. Strings are owned by the command (never aliased to a
// network buffer).
type Command struct {
	Kind    Kind
	Project ProjectID

	Asset    AssetID   // asset commands, CreateWallet, CreateSystemWallet
	KeyPair  KeyPairID // DeleteKeyPair
	Wallet   WalletID  // wallet setters
	Shard    uint16    // the home shard the proposer picked: a system wallet's, a customer's or a referenceId's (Placement.Home)
	Customer string    // customer commands, CreateWallet

	GroupCount int    // CreateProject: how many shard groups the project spans (0: all)
	Near       string // CreateProjectNear: the node the request came to (its Raft server id)

	Name, Description    string
	HasName, HasDesc     bool // upserts: which optional fields were given
	Code                 string
	Fractions            int64
	Secret, SignatureKey string // CreateKeyPair
	Status               WalletStatus
	Wallets              []WalletID // ResumeCustomer
	ReferenceID          string
	Ops                  []Op

	// Transactions across shard groups.
	Attempt    Attempt  // every step: the run of the protocol (twophase.go)
	Tx         TxID     // TxCommit: the record made by TxBegin
	At         int64    // TxCommit: the record's createdAt, stamped on the entries
	TxStatus   TxStatus // TxDecide: Completed, Failed or (a hold) Held; HoldFinish: Completed, Voided or Expired
	ErrCode    Code     // TxDecide, Failed: the failing check
	ErrOpIndex int32    // TxDecide, Failed: the failing operation

	HoldTimeoutMs int64 // Hold, HoldBegin: 0 (never) to HoldTimeoutMsMax

	Fence uint64 // CmdFence: the highest sequence number fenced off

	Layout *GroupLayout // CmdSetLayout: the layout to set

	// HoldsSettled: the proposer has finished the decided transactions
	// across groups that held the wallets this command was Blocked on;
	// the holds left are undecided, and the checks count them as they
	// stand (held.go).
	HoldsSettled bool

	// Who asked for the write, checked when it applies (the log orders
	// writes, so no read of the keys comes before them): ByKey is the key
	// pair of the Access or Customer Key plus one (0: the operator token),
	// refused once the key pair is revoked in this group; ByCustomer is a
	// Customer Key's customer, refused once that customer is Deleted and
	// for anything not its own.
	ByKey      uint32
	ByCustomer string
}

// By is who made a write: the key pair of an Access or Customer Key (and
// a Customer Key's customer), or nobody for the operator token.
type By struct {
	KeyPair  KeyPairID
	Keyed    bool // false: the operator token
	Customer string
}

// Stamp records who made the write in the command.
func (b By) Stamp(c *Command) {
	if b.Keyed {
		c.ByKey = uint32(b.KeyPair) + 1
	}
	c.ByCustomer = b.Customer
}

// Context is what the log gives every command: a sequence number unique and
// increasing across the whole log (Raft index << 16 | position in the entry)
// and the leader's time stamp in Unix milliseconds (never decreasing).
type Context struct {
	Seq    uint64
	TimeMs int64
}

// Result is the outcome of one command. Value holds a copy made at apply
// time (AssetView, WalletView, ...) or a *Tx, so it can leave the owning
// goroutine.
type Result struct {
	Code    Code
	Created bool // the command created its object (201 rather than 200)
	Value   any
}
