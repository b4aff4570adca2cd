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
}

// MetaPartition is the partition number of the meta state; shard i is
// partition i+1.
const MetaPartition = 0

// Partitions appends to dst, in ascending order and without repeats, the
// partitions the command reads or writes. Apply touches no others.
func (c *Command) Partitions(dst []int, shards int) []int {
	switch c.Kind {
	case CmdCreateProject, CmdRenameProject, CmdCreateKeyPair, CmdDeleteKeyPair,
		CmdCreateAsset, CmdRenameAsset, CmdDeleteAsset:
		return append(dst, MetaPartition)
	case CmdUpsertCustomer, CmdSuspendCustomer, CmdResumeCustomer, CmdDeleteCustomer:
		return append(dst, 1+int(CustomerShard(c.Project, c.Customer, shards)))
	case CmdCreateWallet:
		return append(dst, MetaPartition, 1+int(CustomerShard(c.Project, c.Customer, shards)))
	case CmdCreateSystemWallet:
		if int(c.Shard) >= shards {
			return append(dst, MetaPartition) // refused by Apply
		}
		return append(dst, MetaPartition, 1+int(c.Shard))
	case CmdSetWalletName, CmdSetWalletDescription, CmdSetWalletStatus:
		if int(c.Wallet.Shard) >= shards {
			return append(dst, MetaPartition) // no such wallet: Apply touches nothing
		}
		return append(dst, 1+int(c.Wallet.Shard))
	case CmdTransaction:
		start := len(dst)
		dst = append(dst, 1+int(ReferenceShard(c.Project, c.ReferenceID, shards)))
		for i := range c.Ops {
			op := &c.Ops[i]
			// A wallet on a shard that does not exist is not found
			// without touching anything.
			if op.Type != OpIssue && int(op.Source.Shard) < shards {
				dst = insertSorted(dst, start, 1+int(op.Source.Shard))
			}
			if op.Type != OpRedeem && int(op.Destination.Shard) < shards {
				dst = insertSorted(dst, start, 1+int(op.Destination.Shard))
			}
		}
		return dst
	}
	panic("shard: Partitions of unknown command kind " + c.Kind.String())
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
