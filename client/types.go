package client

// The resources of the API, as its answers carry them (docs/API.md).
// Times are Unix milliseconds; amounts are integers in the asset's
// smallest unit.

// Project is a tenant: assets, customers, wallets and transactions.
type Project struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	CreatedAt int64   `json:"createdAt"`
	Groups    int     `json:"groups"`
	Assets    []Asset `json:"assets"`
}

// KeyPair is a project's Access Key and signature key; both secrets are in
// the answer that made it, never again.
type KeyPair struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	AccessKey    string `json:"accessKey,omitempty"`
	SignatureKey string `json:"signatureKey,omitempty"`
	CreatedAt    int64  `json:"createdAt"`
}

// Asset is what wallets hold.
type Asset struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Code      string `json:"code"`
	Fractions int64  `json:"fractions"`
	Used      bool   `json:"used"`
}

// Customer statuses.
const (
	CustomerActive    = "Active"
	CustomerSuspended = "Suspended"
	CustomerDeleted   = "Deleted"
)

// Customer owns wallets.
type Customer struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	CreatedAt   int64  `json:"createdAt"`
	UpdatedAt   int64  `json:"updatedAt"`
}

// Wallet statuses.
const (
	WalletOpen      = "Open"
	WalletSuspended = "Suspended"
	WalletClosed    = "Closed"
)

// Wallet holds a balance of one asset.
type Wallet struct {
	ID          string `json:"id"`
	AssetID     string `json:"assetId"`
	CustomerID  string `json:"customerId,omitempty"`
	System      bool   `json:"system"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Balance     int64  `json:"balance"`
	Available   int64  `json:"availableBalance"` // Balance less what holds reserve
	CreatedAt   int64  `json:"createdAt"`
	UpdatedAt   int64  `json:"updatedAt"`
}

// Entry is one change of a wallet's balance, with the balance after it.
type Entry struct {
	ID             string `json:"id"`
	WalletID       string `json:"walletId"`
	TransactionID  string `json:"transactionId"`
	OperationIndex int    `json:"operationIndex"`
	Type           string `json:"type"`
	Amount         int64  `json:"amount"`
	Balance        int64  `json:"balance"`
	Counterparty   string `json:"counterpartyWalletId,omitempty"`
	CreatedAt      int64  `json:"createdAt"`
}

// Operation types.
const (
	OpTransfer = "Transfer"
	OpIssue    = "Issue"
	OpRedeem   = "Redeem"
)

// Operation is one step of a transaction.
type Operation struct {
	Type        string `json:"type"`
	Source      string `json:"sourceWalletId,omitempty"`
	Destination string `json:"destinationWalletId,omitempty"`
	Amount      int64  `json:"amount"`
}

// Transfer moves amount from one wallet to another.
func Transfer(from, to string, amount int64) Operation {
	return Operation{Type: OpTransfer, Source: from, Destination: to, Amount: amount}
}

// Issue creates amount in a wallet.
func Issue(to string, amount int64) Operation {
	return Operation{Type: OpIssue, Destination: to, Amount: amount}
}

// Redeem removes amount from a wallet.
func Redeem(from string, amount int64) Operation {
	return Operation{Type: OpRedeem, Source: from, Amount: amount}
}

// Transaction statuses.
const (
	TxCompleted = "Completed"
	TxFailed    = "Failed"
	TxWaiting   = "Waiting"
	TxHeld      = "Held"    // a hold, authorized: captured or voided later
	TxVoided    = "Voided"  // a hold voided
	TxExpired   = "Expired" // a hold past its timeout
)

// Transaction is a stored transaction: Completed, or Failed with Error;
// a hold (Hold set) is Held, then Completed, Voided or Expired.
type Transaction struct {
	ID          string      `json:"id,omitempty"`
	ReferenceID string      `json:"referenceId"`
	Status      string      `json:"status"`
	Operations  []Operation `json:"operations"`
	CreatedAt   int64       `json:"createdAt,omitempty"`
	Hold        *HoldTerms  `json:"hold,omitempty"`
	Error       *TxError    `json:"error,omitempty"`
}

// HoldTerms are a hold's: its timeout, when it expires (0: never) and when
// it was captured, voided or expired (0 while Held).
type HoldTerms struct {
	TimeoutMs  int64 `json:"timeoutMs"`
	ExpiresAt  int64 `json:"expiresAt,omitempty"`
	FinishedAt int64 `json:"finishedAt,omitempty"`
}

// TxError is why a transaction Failed: its code and the operation that
// failed.
type TxError struct {
	Code           string `json:"code"`
	OperationIndex int    `json:"operationIndex"`
	Message        string `json:"message"`
}

// Page is one page of a list.
type Page[T any] struct {
	Items    []T `json:"items"`
	Page     int `json:"page"`
	PageSize int `json:"pageSize"`
	Total    int `json:"total"`
}
