package client

import (
	"context"
	"time"
)

// Holds: authorize now, capture or void later (the server's docs/API.md).

// HoldRequest makes a transaction a hold. TimeoutMs 0 never expires.
type HoldRequest struct {
	TimeoutMs int64 `json:"timeoutMs,omitempty"`
}

// CreateHold authorizes the operations as a hold: checked in order against
// available balances, the debits reserved, nothing posted. It answers the
// Held transaction, or errors as CreateTransaction does (a Failed hold is
// an *APIError with its code and operation), with the same retries.
// timeout 0 never expires; the server rounds nothing: it keeps
// milliseconds.
func (c *Client) CreateHold(ctx context.Context, referenceID string, timeout time.Duration, ops ...Operation) (*Transaction, error) {
	return c.createTransaction(ctx, TxRequest{ReferenceID: referenceID, Operations: ops, Hold: &HoldRequest{TimeoutMs: timeout.Milliseconds()}})
}

// CaptureHold captures the hold with id: it becomes Completed and its
// entries are written. Capturing again answers the same. A Voided or
// Expired hold is an *APIError WRONG_TRANSACTION_STATUS (409). An unclear
// answer is asked again (a capture is idempotent) within Config.Timeout
// unless ctx has a deadline.
func (c *Client) CaptureHold(ctx context.Context, id string) (Transaction, error) {
	var t Transaction
	return t, c.callRetrying(ctx, "POST", "/transactions/"+pathEscape(id)+"/capture", nil, &t, true)
}

// VoidHold voids the hold with id: its reservation is released. Voiding
// again answers the same; a Completed or Expired hold is an *APIError
// WRONG_TRANSACTION_STATUS. Retried as CaptureHold is.
func (c *Client) VoidHold(ctx context.Context, id string) (Transaction, error) {
	var t Transaction
	return t, c.callRetrying(ctx, "POST", "/transactions/"+pathEscape(id)+"/void", nil, &t, true)
}
