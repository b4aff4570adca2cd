package shard

// WalletStatus is Open, Suspended or Closed. Every wallet starts Open.
type WalletStatus uint8

const (
	WalletOpen WalletStatus = iota + 1
	WalletSuspended
	WalletClosed
)

func (s WalletStatus) String() string {
	switch s {
	case WalletOpen:
		return "Open"
	case WalletSuspended:
		return "Suspended"
	case WalletClosed:
		return "Closed"
	}
	return "Unknown"
}

// ParseWalletStatus parses the API name of a wallet status.
func ParseWalletStatus(s string) (WalletStatus, bool) {
	switch s {
	case "Open":
		return WalletOpen, true
	case "Suspended":
		return WalletSuspended, true
	case "Closed":
		return WalletClosed, true
	}
	return 0, false
}

// CustomerStatus is Active, Suspended or Deleted.
type CustomerStatus uint8

const (
	CustomerActive CustomerStatus = iota + 1
	CustomerSuspended
	CustomerDeleted
)

func (s CustomerStatus) String() string {
	switch s {
	case CustomerActive:
		return "Active"
	case CustomerSuspended:
		return "Suspended"
	case CustomerDeleted:
		return "Deleted"
	}
	return "Unknown"
}

// OpType is the kind of a transaction operation.
type OpType uint8

const (
	OpTransfer OpType = iota + 1
	OpIssue
	OpRedeem
)

func (t OpType) String() string {
	switch t {
	case OpTransfer:
		return "Transfer"
	case OpIssue:
		return "Issue"
	case OpRedeem:
		return "Redeem"
	}
	return "Unknown"
}

// ParseOpType parses the API name of an operation type.
func ParseOpType(s string) (OpType, bool) {
	switch s {
	case "Transfer":
		return OpTransfer, true
	case "Issue":
		return OpIssue, true
	case "Redeem":
		return OpRedeem, true
	}
	return 0, false
}

// EntryType is the kind of a wallet entry.
type EntryType uint8

const (
	EntryIssue EntryType = iota + 1
	EntryRedeem
	EntryTransferIn
	EntryTransferOut
)

func (t EntryType) String() string {
	switch t {
	case EntryIssue:
		return "Issue"
	case EntryRedeem:
		return "Redeem"
	case EntryTransferIn:
		return "TransferIn"
	case EntryTransferOut:
		return "TransferOut"
	}
	return "Unknown"
}

// TxStatus is the recorded outcome of a transaction.
type TxStatus uint8

const (
	TxCompleted TxStatus = iota + 1
	TxFailed
	TxWaiting // across shard groups: begun, outcome not yet decided
	// Holds (hold.go): checked and reserved, not posted; then one of the
	// three below, or Completed once captured.
	TxHeld
	TxVoided
	TxExpired
	txStatusEnd
)

var txStatusNames = [txStatusEnd]string{
	TxCompleted: "Completed", TxFailed: "Failed", TxWaiting: "Waiting",
	TxHeld: "Held", TxVoided: "Voided", TxExpired: "Expired",
}

func (s TxStatus) String() string {
	if s > 0 && s < txStatusEnd {
		return txStatusNames[s]
	}
	return "Unknown"
}

// ParseTxStatus parses the API name of a transaction status.
func ParseTxStatus(name string) (TxStatus, bool) {
	for s := TxCompleted; s < txStatusEnd; s++ {
		if txStatusNames[s] == name {
			return s, true
		}
	}
	return 0, false
}

// Project is a tenant.
type Project struct {
	ID        ProjectID
	Name      string
	CreatedAt int64
	Groups    []uint16    // the shard groups its data lives in, ascending; fixed at creation
	Assets    []AssetID   // in creation order, deleted ones included
	KeyPairs  []KeyPairID // in creation order, deleted ones included
}

// Asset is a kind of value. Only Name changes after creation.
type Asset struct {
	ID        AssetID
	Project   ProjectID
	Name      string
	Code      string
	Fractions int64
	Used      bool // a wallet of it was created; it cannot be deleted
	Deleted   bool
	CreatedAt int64
}

// KeyPair holds the secrets behind a project's Access Key and Customer Keys.
// Secret signs Access Keys (server-held); SignatureKey signs Customer Keys
// (held by the client's backend). Both are drawn by the proposing node and
// carried in the log so every replica verifies the same keys.
type KeyPair struct {
	ID           KeyPairID
	Project      ProjectID
	Name         string
	Secret       string
	SignatureKey string
	CreatedAt    int64
	Deleted      bool
}

// Customer is the client's own user. Wallets lists the indexes of its
// wallets in its shard, oldest first; it is append-only. Fields are ordered
// largest first so the struct has no padding: a million customers is a
// million of these.
type Customer struct {
	Seq       uint64 // creation order across shards
	CreatedAt int64
	UpdatedAt int64
	ID        string
	Wallets   []uint32
	Text      *Text // name and description; nil when both are empty
	Project   ProjectID
	Status    CustomerStatus
}

// Wallet holds one asset for a customer (Customer > 0: index+1 of the
// customer in the same shard) or for the project (Customer == 0, system).
// Entries is append-only, so a copy of the slice header is a consistent
// snapshot of the wallet's history.
type Wallet struct {
	Seq       uint64
	Balance   int64
	CreatedAt int64
	UpdatedAt int64
	Entries   []Entry
	Text      *Text // name and description; nil when both are empty
	Project   ProjectID
	Asset     AssetID
	Customer  uint32
	Status    WalletStatus
}

// Text is the free text of a customer or a wallet. Most records have none,
// and a nil pointer costs 8 bytes where two empty strings cost 32. A Text is
// never modified — a change makes a new one — so a frozen copy of a record
// keeps the text it had.
type Text struct {
	Name, Description string
}

// newText returns the text, or nil when both parts are empty.
func newText(name, description string) *Text {
	if name == "" && description == "" {
		return nil
	}
	return &Text{Name: name, Description: description}
}

// name is the name, "" for a nil text.
func (t *Text) name() string {
	if t == nil {
		return ""
	}
	return t.Name
}

func (t *Text) description() string {
	if t == nil {
		return ""
	}
	return t.Description
}

// System reports whether the wallet belongs to the project.
func (w *Wallet) System() bool { return w.Customer == 0 }

// Entry is one line of a wallet's ledger: one per wallet per operation.
// Its id is derived from the wallet and its position (EntryID). The ids are
// stored as their parts so the struct packs into 40 bytes (TxID and
// WalletID alone would pad to 8 each); Tx and Counterparty rebuild them.
type Entry struct {
	CreatedAt         int64
	Amount            int64
	Balance           int64 // the wallet's balance right after this entry
	TxIndex           uint32
	CounterpartyIndex uint32 // Transfer only; see HasCounterparty
	TxShard           uint16
	CounterpartyShard uint16
	OpIndex           uint16
	Type              EntryType
}

// Tx is the id of the entry's transaction.
func (e *Entry) Tx() TxID { return TxID{Shard: e.TxShard, Index: e.TxIndex} }

// Counterparty is the other wallet of a Transfer (Shard 0 Index 0 is a real
// wallet: check HasCounterparty).
func (e *Entry) Counterparty() WalletID {
	return WalletID{Shard: e.CounterpartyShard, Index: e.CounterpartyIndex}
}

// HasCounterparty reports whether the entry names a counterparty wallet.
func (e *Entry) HasCounterparty() bool {
	return e.Type == EntryTransferIn || e.Type == EntryTransferOut
}

// Op is one operation of a transaction.
type Op struct {
	Type        OpType
	Source      WalletID // Transfer, Redeem
	Destination WalletID // Transfer, Issue
	Amount      int64
}

// Tx is a recorded transaction. It never changes once recorded, so readers
// may hold a pointer to it outside the owning goroutine (a decision or the
// end of a hold makes a new record in its place). Fields are ordered
// largest first: 80 bytes, one size class below the padded layout
// (ErrOpIndex fits 16 bits: OperationsPerTxMax is 1000).
type Tx struct {
	Seq         uint64
	CreatedAt   int64
	ReferenceID string
	Ops         []Op
	Hold        *HoldTerms // a hold's (hold.go); nil for a transaction posted at once
	ID          TxID
	Project     ProjectID
	ErrOpIndex  int16 // Failed only: the operation that failed
	Status      TxStatus
	ErrCode     Code // Failed only
}

// PostedAt is the log time of the record's entries: a hold's are written
// when it is captured.
func (t *Tx) PostedAt() int64 {
	if t.Hold != nil {
		return t.Hold.FinishedAt
	}
	return t.CreatedAt
}

// ErrMessage explains a Failed transaction for humans.
func (t *Tx) ErrMessage() string {
	if t.Status != TxFailed {
		return ""
	}
	op := t.Ops[t.ErrOpIndex]
	switch t.ErrCode {
	case WalletNotFound:
		return "a wallet of the operation does not exist in the project"
	case WrongWalletStatus:
		return "a wallet of the operation is not Open"
	case InsufficientFunds:
		return "source wallet " + op.Source.String() + " has insufficient funds"
	case ValidationError:
		return "source and destination wallets hold different assets"
	case LimitExceeded:
		return "destination wallet " + op.Destination.String() + " balance would exceed 2^63-1"
	}
	return t.ErrCode.String()
}
