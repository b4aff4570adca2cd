package transport

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/cloudwallet/cloudwallet/engine"
)

// POST /transactions/batch: many transactions in one request. Each item is
// its own all-or-nothing transaction with its own referenceId; the answer
// is 200 with one result per item, in request order, each what the single
// call would have answered (its HTTP status as a number, and the
// transaction or the error).

// BatchItemsMax bounds the transactions of one batch.
const BatchItemsMax = 10_000

// batchItem is one item of a batch as parsed: a checked transaction, or
// the 400 it gets (its referenceId is not consumed).
type batchItem struct {
	in  txInput
	err *apiError
}

// itemSpan is where one item's JSON lies in the body.
type itemSpan struct{ start, end int }

// scanBatch checks that body is {"transactions":[…]} and finds where each
// item lies in it, decoding none of them (they stay in the body fasthttp
// holds: no second copy). A body that is not that envelope, or holds no
// item or more than BatchItemsMax, is a 400 for the whole request.
func scanBatch(body []byte) ([]itemSpan, *apiError) {
	if len(body) == 0 {
		return nil, badData("a JSON body is required")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	envelope := func() *apiError {
		return badData(`the body must be {"transactions":[…]}: one JSON object whose only key is transactions, an array`)
	}
	if t, err := dec.ReadToken(); err != nil || t.Kind() != '{' {
		return nil, jsonOr(body, err, envelope)
	}
	var spans []itemSpan
	seen := false
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, jsonOr(body, err, envelope)
		}
		if name.String() != "transactions" || seen {
			return nil, envelope()
		}
		seen = true
		if t, err := dec.ReadToken(); err != nil || t.Kind() != '[' {
			return nil, jsonOr(body, err, envelope)
		}
		for dec.PeekKind() != ']' {
			v, err := dec.ReadValue()
			if err != nil {
				return nil, jsonOr(body, err, envelope)
			}
			if len(spans) == BatchItemsMax {
				return nil, invalid("transactions must hold 1 to " + strconv.Itoa(BatchItemsMax) + " transactions")
			}
			end := int(dec.InputOffset()) // just after the value
			spans = append(spans, itemSpan{end - len(v), end})
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, jsonOr(body, err, envelope)
		}
	}
	if _, err := dec.ReadToken(); err != nil { // the closing brace
		return nil, jsonOr(body, err, envelope)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, badData("the body must hold one JSON value")
	}
	if len(spans) == 0 {
		return nil, invalid("transactions must hold 1 to " + strconv.Itoa(BatchItemsMax) + " transactions")
	}
	return spans, nil
}

// jsonOr is the refusal of a body the decoder stopped in: why the JSON is
// bad if it is, else (it is valid JSON of another shape) the envelope's.
func jsonOr(body []byte, err error, envelope func() *apiError) *apiError {
	var syn *jsontext.SyntacticError
	if err != nil && (errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return jsonRefusal(body, err)
	}
	return envelope()
}

func postTransactionBatch(c *call) *apiError {
	// Check the envelope and find the items, then admit the batch (or
	// refuse it with 429) before decoding any of them: a refused batch
	// costs nothing beyond its body and its scan.
	spans, perr := scanBatch(c.body)
	if perr != nil {
		return perr
	}
	release, err := c.s.node.AdmitBatch(len(spans))
	if err != nil {
		return fromEngine(err)
	}
	defer release()
	items := make([]batchItem, len(spans))
	shards := c.s.node.Shards()
	for i, sp := range spans {
		items[i].in, items[i].err = parseTransaction(c.body[sp.start:sp.end], shards)
	}
	var run []engine.BatchItem
	for _, it := range items {
		if it.err == nil {
			run = append(run, it.in.item())
		}
	}
	var outcomes []engine.BatchOutcome
	if len(run) > 0 {
		outcomes = c.s.node.TransactBatch(proposeCtx, c.who.by(), c.project, run)
	}
	b := make([]byte, 0, 64+300*len(items))
	b = append(b, `{"results":[`...)
	next := 0
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		out := txOutcome{err: it.err}
		if it.err == nil {
			out = c.transactionOutcome(it.in, outcomes[next].Result, outcomes[next].Err)
			next++
		}
		b = appendOutcome(b, &out)
	}
	b = append(b, "]}"...)
	c.send(http.StatusOK, "application/json", b)
	return nil
}

// appendOutcome writes one item's result: {"status":N,"transaction":{…}}
// or {"status":N,"error":{"status":CODE,"message":…}}.
func appendOutcome(b []byte, out *txOutcome) []byte {
	if out.err != nil {
		b = append(b, `{"status":`...)
		b = strconv.AppendInt(b, int64(out.err.status), 10)
		b = append(b, `,"error":{"status":`...)
		b = appendJSONString(b, out.err.code)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, out.err.msg)
		return append(b, "}}"...)
	}
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(out.status), 10)
	b = append(b, `,"transaction":`...)
	b = out.tx.appendJSON(b)
	return append(b, '}')
}
