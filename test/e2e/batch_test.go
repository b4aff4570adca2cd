package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cw "github.com/cloudwallet/cloudwallet/client"
	"github.com/cloudwallet/cloudwallet/transport"
)

// batchResult is one item's result in a batch answer.
type batchResult struct {
	Status      int
	Transaction map[string]any
	Error       map[string]any
}

// batchResults decodes a 200 batch answer.
func batchResults(t *testing.T, r resp) []batchResult {
	t.Helper()
	var out struct{ Results []batchResult }
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatal(err)
	}
	return out.Results
}

// POST /transactions/batch answers each item as POST /transactions would,
// in request order: items run in order where their wallets overlap (the
// second transfer spends what the first brought), a failed item is
// recorded, a referenceId repeated in the batch or used before is 409, an
// item with a 400 does not use its referenceId, and money is conserved.
func TestBatchAnswersEachItemInOrder(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	var ws []string
	for _, c := range []string{"c0", "c1", "c2"} {
		s.customer(c)
		ws = append(ws, s.wallet(c, a))
	}
	s.expect(s.ak("POST", "/transactions", tx("before", op("Issue", "", ws[0], 100))), 201, "")
	items := []any{
		tx("b-move", op("Transfer", ws[0], ws[1], 100)),                      // 201: c1 gets 100
		tx("b-spend", op("Transfer", ws[1], ws[2], 60)),                      // 201: only after b-move
		tx("b-broke", op("Transfer", ws[1], ws[2], 41)),                      // 422: 40 left
		tx("b-move", op("Issue", "", ws[0], 5)),                              // 409: made by the first item
		tx("before", op("Issue", "", ws[0], 5)),                              // 409: used before the batch
		tx("b-bad", op("Issue", "", ws[0], -5)),                              // 400: stores nothing
		tx("b-bad", op("Issue", "", ws[2], 7)),                               // 201: the 400 left it free
		map[string]any{"referenceId": "b-shape", "operations": "not a list"}, // 400
	}
	res := batchResults(t, s.ak("POST", "/transactions/batch", map[string]any{"transactions": items}))
	want := []int{201, 201, 422, 409, 409, 400, 201, 400}
	if len(res) != len(want) {
		t.Fatalf("%d results for %d items", len(res), len(want))
	}
	for i, w := range want {
		if res[i].Status != w {
			t.Errorf("item %d: status %d, want %d: %+v", i, res[i].Status, w, res[i])
		}
	}
	if res[2].Transaction["status"] != "Failed" || res[2].Transaction["error"].(map[string]any)["code"] != "INSUFFICIENT_FUNDS" {
		t.Errorf("the failed item: %+v", res[2].Transaction)
	}
	if res[3].Transaction["id"] != res[0].Transaction["id"] || res[4].Transaction["referenceId"] != "before" {
		t.Errorf("a 409 does not carry the stored transaction: %+v %+v", res[3], res[4])
	}
	if res[5].Error["status"] != "VALIDATION_ERROR" || res[7].Error["status"] != "ILLEGAL_DATA" || res[5].Transaction != nil {
		t.Errorf("400 items: %+v %+v", res[5], res[7])
	}
	// Each made transaction is there, as a single call finds it.
	for _, i := range []int{0, 1, 2, 6} {
		id, _ := res[i].Transaction["id"].(string)
		got := s.expect(s.ak("GET", "/transactions/"+id, nil), 200, "")
		if got.str("referenceId") != res[i].Transaction["referenceId"] || got.str("status") != res[i].Transaction["status"] {
			t.Errorf("item %d reads back as %s", i, got.raw)
		}
	}
	if b0, b1, b2 := s.balance(ws[0]), s.balance(ws[1]), s.balance(ws[2]); b0 != 0 || b1 != 40 || b2 != 67 {
		t.Fatalf("balances %d %d %d, want 0 40 67", b0, b1, b2)
	}
	// A transaction is found by its referenceId too.
	if pg := s.expect(s.ak("GET", "/transactions?page=0&referenceId=b-spend", nil), 200, ""); pg.num("total") != 1 ||
		pg.body["items"].([]any)[0].(map[string]any)["id"] != res[1].Transaction["id"] {
		t.Fatalf("by referenceId: %s", pg.raw)
	}
	if pg := s.expect(s.ak("GET", "/transactions?page=0&referenceId=b-none", nil), 200, ""); pg.num("total") != 0 {
		t.Fatalf("an unused referenceId: %s", pg.raw)
	}
	// The operator reaches it under the project's prefix; a Customer Key
	// may not call it.
	r := s.call("POST", "/projects/"+s.projectID+"/transactions/batch", s.operator, map[string]any{"transactions": []any{tx("b-op", op("Issue", "", ws[0], 1))}})
	if res := batchResults(t, r); res[0].Status != 201 {
		t.Fatalf("operator batch: %+v", res)
	}
	ck, err := cw.MintCustomerKey(s.accessKey, s.sigKey, "c0", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.expect(s.call("POST", "/transactions/batch", ck, map[string]any{"transactions": []any{tx("b-ck", op("Issue", "", ws[0], 1))}}), 403, "ACCESS_DENIED")
}

// A body that is not the envelope is a 400 for the whole request, and
// stores nothing.
func TestBatchRefusesABadEnvelopeWhole(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.customer("c0")
	w := s.wallet("c0", a)
	item := fmt.Sprintf(`{"referenceId":"envelope-%%05d","operations":[{"type":"Issue","destinationWalletId":%q,"amount":1}]}`, w)
	many := make([]string, transport.BatchItemsMax+1)
	for i := range many {
		many[i] = fmt.Sprintf(item, i)
	}
	for _, c := range []struct{ body, code string }{
		{`{"transactions":[` + fmt.Sprintf(item, 1) + `,`, "ILLEGAL_DATA"},           // cut off
		{`{"transactions":{}}`, "ILLEGAL_DATA"},                                      // not a list
		{`{"transactions":[` + fmt.Sprintf(item, 1) + `],"more":1}`, "ILLEGAL_DATA"}, // another key
		{`{"transactions":[],"transactions":[]}`, "ILLEGAL_DATA"},                    // a key twice
		{`[` + fmt.Sprintf(item, 1) + `]`, "ILLEGAL_DATA"},                           // no envelope
		{`{"transactions":[` + fmt.Sprintf(item, 1) + `]} {}`, "ILLEGAL_DATA"},       // two values
		{`{"transactions":[]}`, "VALIDATION_ERROR"},                                  // no item
		{`{}`, "VALIDATION_ERROR"},                                                   // no list
		{`{"transactions":[` + strings.Join(many, ",") + `]}`, "VALIDATION_ERROR"},   // 10,001 items
	} {
		if r := s.ak("POST", "/transactions/batch", c.body); r.status != 400 || r.code() != c.code {
			t.Errorf("%s: %d %s, want 400 %s", clip(c.body), r.status, r.raw, c.code)
		}
	}
	if b := s.balance(w); b != 0 {
		t.Fatalf("a refused batch moved money: balance %d", b)
	}
	// 10,000 items are one batch, and its body is over the 1 MiB of other
	// routes.
	body := `{"transactions":[` + strings.Join(many[:transport.BatchItemsMax], ",") + `]}`
	if len(body) <= 1<<20 {
		t.Fatalf("the test batch is only %d bytes", len(body))
	}
	res := batchResults(t, s.ak("POST", "/transactions/batch", body))
	for i, r := range res {
		if r.Status != 201 {
			t.Fatalf("item %d of 10,000: %+v", i, r)
		}
	}
	if b := s.balance(w); b != transport.BatchItemsMax {
		t.Fatalf("balance %d after 10,000 issues of 1", b)
	}
	s.expectBodyTooLarge("/transactions", len(body)) // the same size is too large for the other routes
}

// A batch that would take the items in flight past the proposal queue's
// bound is refused whole with 429, and nothing of it happens.
func TestBatchBeyondTheQueueIs429(t *testing.T) {
	s := startServer(t, t.TempDir(), nil, "--proposal-queue", "8")
	a := s.asset("USD")
	s.customer("c0")
	w := s.wallet("c0", a)
	items := make([]any, 9)
	for i := range items {
		items[i] = tx(fmt.Sprintf("q-%d", i), op("Issue", "", w, 1))
	}
	s.expect(s.ak("POST", "/transactions/batch", map[string]any{"transactions": items}), 429, "LIMIT_EXCEEDED")
	if b := s.balance(w); b != 0 {
		t.Fatalf("a refused batch issued %d", b)
	}
	for _, r := range batchResults(t, s.ak("POST", "/transactions/batch", map[string]any{"transactions": items[:8]})) {
		if r.Status != 201 {
			t.Fatalf("a batch within the bound: %+v", r)
		}
	}
}
