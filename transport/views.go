package transport

import (
	"github.com/cloudwallet/cloudwallet/shard"
)

// JSON shapes of API.md. Field names are the contract.

type assetJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Code      string `json:"code"`
	Fractions int64  `json:"fractions"`
	Used      bool   `json:"used"`
}

func assetView(a shard.Asset) assetJSON {
	return assetJSON{ID: a.ID.String(), Name: a.Name, Code: a.Code, Fractions: a.Fractions, Used: a.Used}
}

// mapAll applies view to every element; lists render through it.
func mapAll[S, T any](in []S, view func(S) T) []T {
	out := make([]T, len(in))
	for i, s := range in {
		out[i] = view(s)
	}
	return out
}

func assetViews(as []shard.Asset) []assetJSON { return mapAll(as, assetView) }

type projectJSON struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	CreatedAt int64       `json:"createdAt"`
	Groups    int         `json:"groups"`
	Assets    []assetJSON `json:"assets"`
}

func projectView(p shard.ProjectView) projectJSON {
	return projectJSON{ID: p.ID.String(), Name: p.Name, CreatedAt: p.CreatedAt, Groups: len(p.Groups), Assets: assetViews(p.Assets)}
}

type customerJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	CreatedAt   int64  `json:"createdAt"`
	UpdatedAt   int64  `json:"updatedAt"`
}

func customerView(c shard.CustomerView) customerJSON {
	return customerJSON{ID: c.ID, Name: c.Name, Description: c.Description, Status: c.Status.String(),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type walletJSON struct {
	ID          string `json:"id"`
	AssetID     string `json:"assetId"`
	CustomerID  string `json:"customerId,omitempty"`
	System      bool   `json:"system"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Balance     int64  `json:"balance"`
	Available   int64  `json:"availableBalance"` // balance less what holds reserve
	CreatedAt   int64  `json:"createdAt"`
	UpdatedAt   int64  `json:"updatedAt"`
}

func walletView(w shard.WalletView) walletJSON {
	return walletJSON{ID: w.ID.String(), AssetID: w.Asset.String(), CustomerID: w.CustomerID, System: w.System,
		Name: w.Name, Description: w.Description, Status: w.Status.String(), Balance: w.Balance,
		Available: w.Available, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func walletViews(ws []shard.WalletView) []walletJSON { return mapAll(ws, walletView) }

type opJSON struct {
	Type        string `json:"type"`
	Source      string `json:"sourceWalletId,omitempty"`
	Destination string `json:"destinationWalletId,omitempty"`
	Amount      int64  `json:"amount"`
}

type txErrorJSON struct {
	Code           string `json:"code"`
	OperationIndex int32  `json:"operationIndex"`
	Message        string `json:"message"`
}

type txJSON struct {
	ID          string       `json:"id,omitempty"`
	ReferenceID string       `json:"referenceId"`
	Status      string       `json:"status"`
	Operations  []opJSON     `json:"operations"`
	CreatedAt   int64        `json:"createdAt,omitempty"`
	Hold        *holdJSON    `json:"hold,omitempty"`
	Error       *txErrorJSON `json:"error,omitempty"`
}

// holdJSON is a hold's terms: its timeout, when it expires (absent: never)
// and when it was captured, voided or expired (absent while Held).
type holdJSON struct {
	TimeoutMs  int64 `json:"timeoutMs"`
	ExpiresAt  int64 `json:"expiresAt,omitempty"`
	FinishedAt int64 `json:"finishedAt,omitempty"`
}

func opViews(ops []shard.Op) []opJSON {
	out := make([]opJSON, len(ops))
	for i, op := range ops {
		o := opJSON{Type: op.Type.String(), Amount: op.Amount}
		if op.Type != shard.OpIssue {
			o.Source = op.Source.String()
		}
		if op.Type != shard.OpRedeem {
			o.Destination = op.Destination.String()
		}
		out[i] = o
	}
	return out
}

func txView(t *shard.Tx) txJSON {
	v := txJSON{ID: t.ID.String(), ReferenceID: t.ReferenceID, Status: t.Status.String(),
		Operations: opViews(t.Ops), CreatedAt: t.CreatedAt}
	if t.Hold != nil {
		v.Hold = &holdJSON{TimeoutMs: t.Hold.TimeoutMs, ExpiresAt: t.ExpiresAt(), FinishedAt: t.Hold.FinishedAt}
	}
	if t.Status == shard.TxFailed {
		v.Error = &txErrorJSON{Code: t.ErrCode.String(), OperationIndex: int32(t.ErrOpIndex), Message: t.ErrMessage()}
	}
	return v
}

type duplicateJSON struct {
	Status      string `json:"status"`
	Message     string `json:"message"`
	Transaction txJSON `json:"transaction"`
}

type entryJSON struct {
	ID             string `json:"id"`
	WalletID       string `json:"walletId"`
	TransactionID  string `json:"transactionId"`
	OperationIndex uint16 `json:"operationIndex"`
	Type           string `json:"type"`
	Amount         int64  `json:"amount"`
	Balance        int64  `json:"balance"`
	Counterparty   string `json:"counterpartyWalletId,omitempty"`
	CreatedAt      int64  `json:"createdAt"`
}

func entryView(e shard.EntryView) entryJSON {
	v := entryJSON{ID: shard.EntryID(e.Wallet, e.N), WalletID: e.Wallet.String(), TransactionID: e.Tx().String(),
		OperationIndex: e.OpIndex, Type: e.Type.String(), Amount: e.Amount, Balance: e.Balance, CreatedAt: e.CreatedAt}
	if e.HasCounterparty() {
		v.Counterparty = e.Counterparty().String()
	}
	return v
}

type keyPairJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	AccessKey    string `json:"accessKey,omitempty"`
	SignatureKey string `json:"signatureKey,omitempty"`
	CreatedAt    int64  `json:"createdAt"`
}

type pageJSON[T any] struct {
	Items    []T `json:"items"`
	Page     int `json:"page"`
	PageSize int `json:"pageSize"`
	Total    int `json:"total"`
}

func pageOf[S, T any](p shard.Page[S], page, size int, view func(S) T) pageJSON[T] {
	return pageJSON[T]{Items: mapAll(p.Items, view), Page: page, PageSize: size, Total: p.Total}
}

// keyPairView never shows the secrets; only the create answer adds them.
func keyPairView(kp shard.KeyPair) keyPairJSON {
	return keyPairJSON{ID: kp.ID.String(), Name: kp.Name, CreatedAt: kp.CreatedAt}
}

type errorJSON struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}
