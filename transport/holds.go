package transport

import (
	"net/http"

	"github.com/cloudwallet/cloudwallet/shard"
)

// Holds (docs/API.md, holds): a transaction with "hold" is authorized now
// (postTransaction) and captured or voided here later, or expires.

func captureHold(c *call) *apiError { return finishHold(c, shard.TxCompleted) }
func voidHold(c *call) *apiError    { return finishHold(c, shard.TxVoided) }

// wrongStatusJSON answers a capture or void the hold's status does not
// allow, with the record as it stands.
type wrongStatusJSON struct {
	Status      string `json:"status"`
	Message     string `json:"message"`
	Transaction txJSON `json:"transaction"`
}

// finishHold ends the hold the path names as to says: 200 with the record
// (again the same record when it already ended that way), 409
// WRONG_TRANSACTION_STATUS with the record when it ended otherwise or is
// no hold, 404 when there is none.
func finishHold(c *call, to shard.TxStatus) *apiError {
	id, ok := shard.ParseTxID(c.params[0])
	if !ok {
		return notFound(shard.TransactionNotFound)
	}
	r, err := c.s.node.FinishHold(proposeCtx, c.who.by(), c.project, id, to)
	if err != nil {
		return fromEngine(err)
	}
	tx, ok := r.Value.(*shard.Tx)
	switch {
	case r.Code == shard.OK && ok:
		return c.reply(http.StatusOK, txView(tx))
	case r.Code == shard.WrongTransactionStatus && ok:
		msg := "the transaction is no hold"
		if tx.Hold != nil {
			msg = "the hold is " + tx.Status.String()
		}
		return c.reply(http.StatusConflict, wrongStatusJSON{Status: r.Code.String(), Message: msg, Transaction: txView(tx)})
	}
	return c.refused(r)
}
