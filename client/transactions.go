package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Transactions, and the retries their referenceIds make safe.

// BatchItemsMax is the most transactions one POST /transactions/batch may
// hold.
const BatchItemsMax = 10_000

// TxRequest is one transaction to make: its referenceId (the idempotency
// key, unique in the project) and its operations, applied in order, all or
// nothing.
type TxRequest struct {
	ReferenceID string       `json:"referenceId"`
	Operations  []Operation  `json:"operations"`
	Hold        *HoldRequest `json:"hold,omitempty"` // nil: posted at once; else a hold (holds.go)
}

// TxResult is what one transaction came to: the stored transaction (also
// when Err is a Failed transaction's or a duplicate's APIError), or Err.
type TxResult struct {
	Transaction *Transaction
	Err         error
}

// CreateTransaction makes a transaction. It answers the Completed
// transaction, or an *APIError: a Failed transaction's code and
// operation (the stored transaction is returned beside it), 409
// DuplicateReferenceId (the stored one beside it), or a refusal. An
// unclear outcome — no answer, 202 Waiting, 503 — is asked again with the
// same referenceId until it is definite or ctx ends (then
// ErrOutcomeUnknown); a 409 to such a retry is this call's own
// transaction, answered as the first try would have been. With
// auto-batching on, the call rides in a batch with others.
func (c *Client) CreateTransaction(ctx context.Context, referenceID string, ops ...Operation) (*Transaction, error) {
	return c.createTransaction(ctx, TxRequest{ReferenceID: referenceID, Operations: ops})
}

// createTransaction makes req as CreateTransaction says.
func (c *Client) createTransaction(ctx context.Context, req TxRequest) (*Transaction, error) {
	if c.batch != nil {
		r := c.batch.add(ctx, req)
		return r.Transaction, r.Err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("cloudwallet: encoding the transaction: %w", err)
	}
	for round := 0; ; round++ {
		a, err := c.send(ctx, "POST", "/transactions", body)
		if err == nil {
			if r, definite := txOutcome(a.status, a.body, round > 0); definite {
				return r.Transaction, r.Err
			}
		}
		if !sleep(ctx, nil, backoff(round)) {
			return nil, unknownOutcome(ctx)
		}
	}
}

// txOutcome reads the answer to one transaction, alone or as a batch
// item; definite is false for an outcome not known yet (202, 503). A 409
// to a retry is the retried call's own transaction.
func txOutcome(status int, body []byte, retried bool) (r TxResult, definite bool) {
	switch status {
	case http.StatusAccepted, http.StatusServiceUnavailable:
		return TxResult{}, false
	case http.StatusCreated, http.StatusUnprocessableEntity:
		var tx Transaction
		if err := jsonv2.Unmarshal(body, &tx); err != nil {
			return TxResult{Err: fmt.Errorf("cloudwallet: decoding a transaction: %w", err)}, true
		}
		return recorded(status, &tx, "", retried), true
	case http.StatusConflict:
		var dup struct {
			Status      string      `json:"status"`
			Message     string      `json:"message"`
			Transaction Transaction `json:"transaction"`
		}
		if err := jsonv2.Unmarshal(body, &dup); err != nil {
			return TxResult{Err: fmt.Errorf("cloudwallet: decoding a duplicate: %w", err)}, true
		}
		return recorded(status, &dup.Transaction, dup.Message, retried), true
	}
	return TxResult{Err: apiError(answer{status: status, body: body})}, true
}

// recorded is the result of an answer that carries the stored transaction
// (201, 409, 422). A 409 to a retry is the retried call's own transaction;
// to a first try, the referenceId was used before (message says so).
func recorded(status int, tx *Transaction, message string, retried bool) TxResult {
	if status == http.StatusConflict && !retried {
		return TxResult{Transaction: tx, Err: &APIError{HTTPStatus: status, Code: CodeDuplicateReferenceID,
			Message: message, OperationIndex: NoOperation}}
	}
	return settled(tx)
}

// settled is the result of a stored transaction: Completed, or Failed
// with its error.
func settled(tx *Transaction) TxResult {
	if tx.Status == TxFailed {
		return TxResult{Transaction: tx, Err: failedTx(tx)}
	}
	return TxResult{Transaction: tx}
}

// CreateTransactions sends txs as one POST /transactions/batch (1 to
// BatchItemsMax of them) and answers one result per transaction, in
// order, each as CreateTransaction would. Items whose outcome is not
// known are sent again, together, with their referenceIds, until definite
// or ctx ends. The error is for the request as a whole (a refused
// envelope, or 429 for a batch beyond the server's bound): then no result
// applies.
func (c *Client) CreateTransactions(ctx context.Context, txs []TxRequest) ([]TxResult, error) {
	if len(txs) == 0 || len(txs) > BatchItemsMax {
		return nil, fmt.Errorf("cloudwallet: a batch holds 1 to %d transactions, not %d", BatchItemsMax, len(txs))
	}
	out := make([]TxResult, len(txs))
	always := func(int) bool { return true }
	if err := c.untilDefinite(ctx, nil, txs, always, func(i int, r TxResult) { out[i] = r }); err != nil {
		return nil, err
	}
	return out, nil
}

// untilDefinite sends txs as one batch, then the items whose outcome is
// not known as the next, until each is definite, and gives each item's
// result to deliver once. An item for which live is false is dropped (its
// caller has gone). When ctx ends or stop closes between rounds, the
// items left get ErrOutcomeUnknown. A refusal of the whole request ends it
// with that error, and the items not delivered yet get none.
func (c *Client) untilDefinite(ctx context.Context, stop <-chan struct{}, txs []TxRequest, live func(i int) bool, deliver func(i int, r TxResult)) error {
	unclear := make([]int, len(txs))
	for i := range unclear {
		unclear[i] = i
	}
	for round := 0; ; round++ {
		var send []TxRequest
		var sent []int
		for _, i := range unclear {
			if live(i) {
				send, sent = append(send, txs[i]), append(sent, i)
			}
		}
		if len(sent) == 0 {
			return nil
		}
		res, definite, err := c.batchOnce(ctx, send, round > 0)
		if err != nil {
			return err
		}
		unclear = unclear[:0]
		for k, i := range sent {
			if definite == nil || !definite[k] {
				unclear = append(unclear, i)
				continue
			}
			deliver(i, res[k])
		}
		if len(unclear) == 0 {
			return nil
		}
		if !sleep(ctx, stop, backoff(round)) {
			for _, i := range unclear {
				deliver(i, TxResult{Err: unknownOutcome(ctx)})
			}
			return nil
		}
	}
}

// unknownOutcome is the error of a write still unclear when its wait ended.
func unknownOutcome(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w (%w)", ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("%w (%w)", ErrOutcomeUnknown, ErrClosed)
}

// batchOnce sends one POST /transactions/batch. It answers per item its
// result and whether it is definite; no results at all (nil, nil, nil)
// when no answer came or the server said 503; an error for a definite
// refusal of the whole request (nothing of it applied).
func (c *Client) batchOnce(ctx context.Context, txs []TxRequest, retried bool) ([]TxResult, []bool, error) {
	body, err := json.Marshal(map[string]any{"transactions": txs})
	if err != nil {
		return nil, nil, fmt.Errorf("cloudwallet: encoding the batch: %w", err)
	}
	a, err := c.send(ctx, "POST", "/transactions/batch", body)
	switch {
	case err != nil, a.status == http.StatusServiceUnavailable:
		return nil, nil, nil
	case a.status != http.StatusOK:
		return nil, nil, apiError(a)
	}
	// One pass of json v2 over the whole answer: the caller of a batch
	// waits for it, and decoding each item again cost a millisecond per
	// 256 items (the auto-batcher's round trip is a few).
	var res struct {
		Results []struct {
			Status      int            `json:"status"`
			Transaction *Transaction   `json:"transaction"`
			Error       jsontext.Value `json:"error"`
		} `json:"results"`
	}
	if err := jsonv2.Unmarshal(a.body, &res); err != nil || len(res.Results) != len(txs) {
		return nil, nil, fmt.Errorf("cloudwallet: a batch answer that does not match its request (%d results for %d items, %v)", len(res.Results), len(txs), err)
	}
	out, definite := make([]TxResult, len(txs)), make([]bool, len(txs))
	for k, item := range res.Results {
		switch item.Status {
		case http.StatusAccepted, http.StatusServiceUnavailable:
			continue // not known yet
		case http.StatusCreated, http.StatusConflict, http.StatusUnprocessableEntity:
			if item.Transaction != nil { // a batch item carries the stored transaction itself
				out[k], definite[k] = recorded(item.Status, item.Transaction, "", retried), true
				continue
			}
		}
		out[k], definite[k] = txOutcome(item.Status, item.Error, retried)
	}
	return out, definite, nil
}

// Transaction reads a transaction by its id.
func (c *Client) Transaction(ctx context.Context, id string) (Transaction, error) {
	var t Transaction
	return t, c.call(ctx, "GET", "/transactions/"+pathEscape(id), nil, &t)
}

// Transactions lists the project's transactions in the range, oldest
// first.
func (c *Client) Transactions(ctx context.Context, r TimeRange, page, pageSize int) (Page[Transaction], error) {
	return c.TransactionsWithStatus(ctx, "", r, page, pageSize)
}

// TransactionsWithStatus lists the project's transactions in the range
// with the status (TxHeld: the open holds; "": any), oldest first.
func (c *Client) TransactionsWithStatus(ctx context.Context, status string, r TimeRange, page, pageSize int) (Page[Transaction], error) {
	q := pageQuery(page, pageSize) + r.query()
	if status != "" {
		q += "&status=" + url.QueryEscape(status)
	}
	var p Page[Transaction]
	return p, c.call(ctx, "GET", "/transactions"+q, nil, &p)
}
