package shard

// Kind names a command. The numbers are written into the Raft log: never
// reuse or renumber one.
type Kind uint8

const (
	CmdCreateProject Kind = iota + 1
	CmdRenameProject
	CmdCreateKeyPair
	CmdDeleteKeyPair
	CmdCreateAsset
	CmdRenameAsset
	CmdDeleteAsset
	CmdUpsertCustomer
	CmdSuspendCustomer
	CmdResumeCustomer
	CmdDeleteCustomer
	CmdCreateWallet
	CmdCreateSystemWallet
	CmdSetWalletName
	CmdSetWalletDescription
	CmdSetWalletStatus
	CmdTransaction
	// Transactions across shard groups (twophase.go).
	CmdTxBegin   // the referenceId's group records the transaction as Waiting
	CmdTxPrepare // a participant checks its wallets and holds the debits
	CmdTxDecide  // the referenceId's group records the outcome: the commit point
	CmdTxCommit  // a participant posts its entries and releases its holds
	CmdTxAbort   // a participant releases its holds
	CmdUseAsset  // the meta group marks an asset used before another group makes a wallet of it
	CmdFence     // raftfsm, not the machine: its proposer's commands up to Fence never apply
	kindEnd
)

// Valid reports whether k is a known command kind.
func (k Kind) Valid() bool { return k >= CmdCreateProject && k < kindEnd }

var kindNames = [kindEnd]string{
	CmdCreateProject: "create_project", CmdRenameProject: "rename_project",
	CmdCreateKeyPair: "create_key_pair", CmdDeleteKeyPair: "delete_key_pair",
	CmdCreateAsset: "create_asset", CmdRenameAsset: "rename_asset", CmdDeleteAsset: "delete_asset",
	CmdUpsertCustomer: "upsert_customer", CmdSuspendCustomer: "suspend_customer",
	CmdResumeCustomer: "resume_customer", CmdDeleteCustomer: "delete_customer",
	CmdCreateWallet: "create_wallet", CmdCreateSystemWallet: "create_system_wallet",
	CmdSetWalletName: "set_wallet_name", CmdSetWalletDescription: "set_wallet_description",
	CmdSetWalletStatus: "set_wallet_status", CmdTransaction: "transaction",
	CmdTxBegin: "tx_begin", CmdTxPrepare: "tx_prepare", CmdTxDecide: "tx_decide",
	CmdTxCommit: "tx_commit", CmdTxAbort: "tx_abort", CmdUseAsset: "use_asset", CmdFence: "fence",
}

func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "unknown"
}

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
	Shard    uint16    // CreateSystemWallet: the shard chosen by the proposer
	Customer string    // customer commands, CreateWallet

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
	Tx         TxID     // the record made by TxBegin
	At         int64    // TxCommit: the record's createdAt, stamped on the entries
	TxStatus   TxStatus // TxDecide: Completed or Failed
	ErrCode    Code     // TxDecide, Failed: the failing check
	ErrOpIndex int32    // TxDecide, Failed: the failing operation

	Fence uint64 // CmdFence: the highest sequence number fenced off
}

// MetaPartition is the partition number of the meta state; shard i is
// partition i+1.
const MetaPartition = 0

// Partitions appends to dst, in ascending order and without repeats, the
// partitions of a group with layout l that the command reads or writes.
// Apply touches no others. A command about a shard the group does not hold
// gets the meta partition, where Apply refuses it without touching anything.
func (c *Command) Partitions(dst []int, l Layout) []int {
	start := len(dst)
	switch c.Kind {
	case CmdCreateProject, CmdRenameProject, CmdCreateKeyPair, CmdDeleteKeyPair,
		CmdCreateAsset, CmdRenameAsset, CmdDeleteAsset, CmdUseAsset, CmdFence:
		return append(dst, MetaPartition)
	case CmdUpsertCustomer, CmdSuspendCustomer, CmdResumeCustomer, CmdDeleteCustomer:
		if p, ok := l.Partition(CustomerShard(c.Project, c.Customer, l.Total)); ok {
			return append(dst, p)
		}
	case CmdCreateWallet:
		dst = append(dst, MetaPartition)
		if p, ok := l.Partition(CustomerShard(c.Project, c.Customer, l.Total)); ok {
			dst = append(dst, p)
		}
		return dst
	case CmdCreateSystemWallet:
		dst = append(dst, MetaPartition)
		if p, ok := l.Partition(c.Shard); ok {
			dst = append(dst, p)
		}
		return dst
	case CmdSetWalletName, CmdSetWalletDescription, CmdSetWalletStatus:
		if p, ok := l.Partition(c.Wallet.Shard); ok {
			return append(dst, p)
		}
	case CmdTxBegin, CmdTxDecide:
		if p, ok := l.Partition(ReferenceShard(c.Project, c.ReferenceID, l.Total)); ok {
			return append(dst, p)
		}
	case CmdTransaction, CmdTxPrepare, CmdTxCommit, CmdTxAbort:
		if c.Kind == CmdTransaction {
			p, ok := l.Partition(ReferenceShard(c.Project, c.ReferenceID, l.Total))
			if !ok {
				break
			}
			dst = append(dst, p)
		}
		for i := range c.Ops {
			op := &c.Ops[i]
			// A wallet on a shard this group does not hold is not
			// found (or, in a prepare, another group's business)
			// without touching anything.
			if op.Type != OpIssue {
				if p, ok := l.Partition(op.Source.Shard); ok {
					dst = insertSorted(dst, start, p)
				}
			}
			if op.Type != OpRedeem {
				if p, ok := l.Partition(op.Destination.Shard); ok {
					dst = insertSorted(dst, start, p)
				}
			}
		}
	default:
		panic("shard: Partitions of unknown command kind " + c.Kind.String())
	}
	if len(dst) == start {
		dst = append(dst, MetaPartition)
	}
	return dst
}

// insertSorted inserts p into the sorted set dst[start:] if absent.
func insertSorted(dst []int, start, p int) []int {
	i := start
	for i < len(dst) && dst[i] < p {
		i++
	}
	if i < len(dst) && dst[i] == p {
		return dst
	}
	dst = append(dst, 0)
	copy(dst[i+1:], dst[i:])
	dst[i] = p
	return dst
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
