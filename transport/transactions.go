package transport

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
	"github.com/go-json-experiment/json/jsontext"
)

// Transactions (docs/API.md §4.4, §4.5).

type opReq struct {
	Type        *string        `json:"type"`
	Source      *string        `json:"sourceWalletId"`
	Destination *string        `json:"destinationWalletId"`
	Amount      jsontext.Value `json:"amount"` // a number or a digit string: parseAmount decides
}

type txReq struct {
	ReferenceID *string  `json:"referenceId"`
	Operations  []opReq  `json:"operations"`
	Hold        *holdReq `json:"hold"`
}

// holdReq makes the transaction a hold; timeoutMs absent or 0: no expiry.
type holdReq struct {
	TimeoutMs *int64 `json:"timeoutMs"`
}

// txInput is a checked transaction body.
type txInput struct {
	referenceID   string
	ops           []shard.Op
	hold          bool
	holdTimeoutMs int64
}

// item is the input as the engine takes it.
func (in *txInput) item() engine.BatchItem {
	return engine.BatchItem{ReferenceID: in.referenceID, Ops: in.ops, Hold: in.hold, HoldTimeoutMs: in.holdTimeoutMs}
}

// parseTransaction does every check that needs no state (API.md §4.5):
// what it refuses is a 400 and stores nothing.
func parseTransaction(body []byte, shards int) (txInput, *apiError) {
	var req txReq
	if err := decodeJSON(body, &req); err != nil {
		return txInput{}, err
	}
	if err := checkText("referenceId", req.ReferenceID, true, shard.ReferenceIDLenMax); err != nil {
		return txInput{}, err
	}
	if len(req.Operations) < 1 || len(req.Operations) > shard.OperationsPerTxMax {
		return txInput{}, invalid("operations must hold 1 to 1000 operations")
	}
	in := txInput{referenceID: *req.ReferenceID, ops: make([]shard.Op, len(req.Operations))}
	if req.Hold != nil {
		in.hold = true
		if t := req.Hold.TimeoutMs; t != nil {
			if *t < 0 || *t > shard.HoldTimeoutMsMax {
				return txInput{}, invalid("hold.timeoutMs must be 0 (no expiry) to " + strconv.FormatInt(shard.HoldTimeoutMsMax, 10) + " (a year)")
			}
			in.holdTimeoutMs = *t
		}
	}
	for i, o := range req.Operations {
		if err := parseOp(&o, &in.ops[i], shards); err != nil {
			err.msg = "operations[" + strconv.Itoa(i) + "]" + err.msg // named only when it fails
			return txInput{}, err
		}
	}
	return in, nil
}

// parseOp checks one operation. Its error messages start with the field
// within the operation (".amount ..."); the caller prefixes the index.
func parseOp(o *opReq, op *shard.Op, shards int) *apiError {
	if o.Type == nil {
		return invalid(".type is required")
	}
	t, ok := shard.ParseOpType(*o.Type)
	if !ok {
		return invalid(".type must be Transfer, Issue or Redeem")
	}
	op.Type = t
	var err *apiError
	if op.Amount, err = parseAmount(".amount", o.Amount); err != nil {
		return err
	}
	if op.Source, err = opWallet(".sourceWalletId", o.Source, t != shard.OpIssue, shards); err != nil {
		return err
	}
	if op.Destination, err = opWallet(".destinationWalletId", o.Destination, t != shard.OpRedeem, shards); err != nil {
		return err
	}
	if t == shard.OpTransfer && op.Source == op.Destination {
		return invalid(": source and destination must differ")
	}
	return nil
}

// opWallet reads a wallet id field that the operation type requires or forbids.
func opWallet(field string, s *string, want bool, shards int) (shard.WalletID, *apiError) {
	if !want {
		if s != nil && *s != "" {
			return shard.WalletID{}, invalid(field + " is not allowed for this operation type")
		}
		return shard.WalletID{}, nil
	}
	if s == nil || *s == "" {
		return shard.WalletID{}, invalid(field + " is required for this operation type")
	}
	id, ok := shard.ParseWalletID(*s)
	if !ok || int(id.Shard) >= shards {
		return shard.WalletID{}, invalid(field + ": " + truncate(*s) + " is not a wallet id of this server")
	}
	return id, nil
}

func postTransaction(c *call) *apiError {
	in, err := parseTransaction(c.body, c.s.node.Shards())
	if err != nil {
		return err
	}
	var r shard.Result
	var perr error
	if in.hold {
		r, perr = c.s.node.Hold(proposeCtx, c.who.by(), c.project, in.referenceID, in.ops, in.holdTimeoutMs)
	} else {
		r, perr = c.s.node.Transact(proposeCtx, c.who.by(), c.project, in.referenceID, in.ops)
	}
	out := c.transactionOutcome(in, r, perr)
	switch {
	case out.err != nil:
		return out.err
	case out.status == http.StatusConflict:
		return c.reply(out.status, duplicateJSON{Status: shard.DuplicateReferenceID.String(),
			Message: "the referenceId was already used; this is the stored transaction", Transaction: out.tx})
	}
	return c.reply(out.status, out.tx)
}

// txOutcome is the answer to one transaction: its HTTP status and the
// transaction, or an error.
type txOutcome struct {
	status int
	tx     txJSON
	err    *apiError
}

// transactionOutcome turns what the engine answered for a transaction
// into its answer: 201 made, 409 its referenceId was used (the stored
// one), 422 Failed (stored), 202 Waiting when the outcome is not known
// yet, else an error.
func (c *call) transactionOutcome(in txInput, r shard.Result, perr error) txOutcome {
	if errors.Is(perr, engine.ErrOutcomeUnknown) {
		// The entry may still commit. If its outcome is final by now, the
		// record gives the definitive answer; otherwise the client waits or
		// retries with the same referenceId (never applied twice).
		tx, final := c.s.node.Recorded(proposeCtx, c.project, in.referenceID)
		switch {
		case tx == nil:
			return txOutcome{status: http.StatusAccepted, tx: txJSON{ReferenceID: in.referenceID, Status: "Waiting", Operations: opViews(in.ops)}}
		case !final:
			v := txView(tx)
			v.Status = "Waiting"
			return txOutcome{status: http.StatusAccepted, tx: v}
		}
		r, perr = shard.Result{Code: tx.ErrCode, Value: tx}, nil
	}
	if perr != nil {
		return txOutcome{err: fromEngine(perr)}
	}
	switch r.Code {
	case shard.OK:
		return txOutcome{status: http.StatusCreated, tx: txView(r.Value.(*shard.Tx))}
	case shard.DuplicateReferenceID:
		return txOutcome{status: http.StatusConflict, tx: txView(r.Value.(*shard.Tx))}
	}
	if tx, ok := r.Value.(*shard.Tx); ok {
		return txOutcome{status: http.StatusUnprocessableEntity, tx: txView(tx)}
	}
	return txOutcome{err: c.refused(r)}
}

// transactionByReference answers GET /transactions?referenceId=: a page
// holding the project's transaction with that referenceId, read as
// GET /transactions/{id} reads it, or none; the range filter applies.
func transactionByReference(c *call, ref string, q rangedPage) *apiError {
	if err := checkText("referenceId", &ref, true, shard.ReferenceIDLenMax); err != nil {
		return err
	}
	tx, ok, err := c.s.node.TransactionByReference(proposeCtx, c.project, ref)
	if err != nil {
		return fromEngine(err)
	}
	var items []*shard.Tx
	if ok && tx.CreatedAt >= q.from && tx.CreatedAt < q.to {
		items = append(items, tx)
	}
	pg := shard.Page[*shard.Tx]{Total: len(items)}
	if q.page == 0 {
		pg.Items = items
	}
	return c.reply(http.StatusOK, pageOf(pg, q.page, q.size, txView))
}

func getTransaction(c *call) *apiError {
	id, ok := shard.ParseTxID(c.params[0])
	if !ok {
		return notFound(shard.TransactionNotFound)
	}
	tx, ok, rerr := c.s.node.Transaction(proposeCtx, c.project, id)
	if rerr != nil {
		return fromEngine(rerr)
	}
	if ok && c.who.customer != "" {
		if err := c.ownHold(tx); err != nil {
			return err
		}
	}
	return replyFound(c, tx, ok, shard.TransactionNotFound, txView)
}

// ownHold lets a Customer Key read a transaction only when it is a hold
// that names one of the customer's wallets (API.md, holds).
func (c *call) ownHold(tx *shard.Tx) *apiError {
	own, err := c.ownWallets()
	if err != nil {
		return err
	}
	if tx.Hold != nil {
		for _, op := range tx.Ops {
			if slices.Contains(own, op.Source) || slices.Contains(own, op.Destination) {
				return nil
			}
		}
	}
	return denied("a Customer Key reads only the holds of its own wallets")
}

// ownWallets are the wallets of the Customer Key's customer.
func (c *call) ownWallets() ([]shard.WalletID, *apiError) {
	ws, _, err := c.s.node.CustomerWallets(proposeCtx, false, c.project, c.who.customer)
	if err != nil {
		return nil, fromEngine(err)
	}
	ids := make([]shard.WalletID, len(ws))
	for i := range ws {
		ids[i] = ws[i].ID
	}
	return ids, nil
}

func listTransactions(c *call) *apiError {
	q, err := rangedPageParams(c.query)
	if err != nil {
		return err
	}
	f := shard.TxFilter{FromMs: q.from, ToMs: q.to}
	if s, ok := c.query("status"); ok {
		if f.Status, ok = shard.ParseTxStatus(s); !ok || f.Status == shard.TxWaiting {
			return invalid("status must be Completed, Failed, Held, Voided or Expired")
		}
	}
	if c.who.customer != "" {
		// A Customer Key lists the open holds of its own wallets only.
		if _, byRef := c.query("referenceId"); f.Status != shard.TxHeld || byRef {
			return denied("a Customer Key lists only ?status=Held: the holds of its own wallets")
		}
		var err *apiError
		if f.Wallets, err = c.ownWallets(); err != nil {
			return err
		}
		if len(f.Wallets) == 0 {
			return c.reply(http.StatusOK, pageOf(shard.Page[*shard.Tx]{}, q.page, q.size, txView))
		}
	}
	if ref, ok := c.query("referenceId"); ok {
		return transactionByReference(c, ref, q)
	}
	p, rerr := c.s.node.Transactions(proposeCtx, c.project, f, q.page, q.size)
	if rerr != nil {
		return fromEngine(rerr)
	}
	return c.reply(http.StatusOK, pageOf(p, q.page, q.size, txView))
}
