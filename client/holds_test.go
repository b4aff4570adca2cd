package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/client"
)

// Holds through the API: authorize, see the available balance drop and
// nothing posted, capture (idempotent), void refused after capture; void
// and expiry release; a Failed hold; a wallet with a hold cannot close;
// the open holds listed with status=Held; batch items may be holds.
func TestClientHolds(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, _ := project(t, s.url, client.BatchConfig{})
	a := must(c.CreateAsset(ctx, "Dollar", "USD", 2))(t)
	must(c.UpsertCustomer(ctx, "alice", client.CustomerFields{}))(t)
	must(c.UpsertCustomer(ctx, "shop", client.CustomerFields{}))(t)
	wa, ws := must(c.CreateWallet(ctx, "alice", a.ID))(t), must(c.CreateWallet(ctx, "shop", a.ID))(t)
	must(c.CreateTransaction(ctx, "fund", client.Issue(wa.ID, 1000)))(t)

	wallet := func(id string) client.Wallet { return must(c.Wallet(ctx, id))(t) }
	h := must(c.CreateHold(ctx, "auth-1", time.Hour, client.Transfer(wa.ID, ws.ID, 300)))(t)
	if h.Status != client.TxHeld || h.Hold == nil || h.Hold.ExpiresAt != h.CreatedAt+3_600_000 {
		t.Fatalf("hold: %+v", h)
	}
	if w := wallet(wa.ID); w.Balance != 1000 || w.Available != 700 {
		t.Fatalf("source after the hold: %+v", w)
	}
	if w := wallet(ws.ID); w.Balance != 0 || w.Available != 0 {
		t.Fatalf("destination after the hold (its credit is not spendable): %+v", w)
	}
	if pg := must(c.Entries(ctx, wa.ID, client.TimeRange{}, 0, 10))(t); pg.Total != 1 {
		t.Fatalf("a hold wrote entries: %+v", pg)
	}
	_, err := c.CreateTransaction(ctx, "spend", client.Redeem(wa.ID, 701))
	wantAPIError(t, err, 422, client.CodeInsufficientFunds)
	_, err = c.SetWalletStatus(ctx, ws.ID, "Closed")
	wantAPIError(t, err, 403, client.CodeChangeWalletStatus)
	if pg := must(c.TransactionsWithStatus(ctx, client.TxHeld, client.TimeRange{}, 0, 10))(t); pg.Total != 1 || pg.Items[0].ID != h.ID {
		t.Fatalf("open holds: %+v", pg)
	}
	// A Failed hold is recorded like a Failed transaction.
	_, err = c.CreateHold(ctx, "auth-big", 0, client.Redeem(wa.ID, 701))
	wantAPIError(t, err, 422, client.CodeInsufficientFunds)

	done := must(c.CaptureHold(ctx, h.ID))(t)
	if done.Status != client.TxCompleted || done.Hold.FinishedAt < h.CreatedAt {
		t.Fatalf("capture: %+v", done)
	}
	if again := must(c.CaptureHold(ctx, h.ID))(t); again.Status != client.TxCompleted || again.Hold.FinishedAt != done.Hold.FinishedAt {
		t.Fatalf("capture again: %+v", again)
	}
	_, err = c.VoidHold(ctx, h.ID)
	wantAPIError(t, err, 409, client.CodeWrongTransactionStatus)
	if w := wallet(wa.ID); w.Balance != 700 || w.Available != 700 {
		t.Fatalf("source after the capture: %+v", w)
	}
	entries := must(c.Entries(ctx, ws.ID, client.TimeRange{}, 0, 10))(t)
	if entries.Total != 1 || entries.Items[0].Balance != 300 || entries.Items[0].CreatedAt != done.Hold.FinishedAt {
		t.Fatalf("the capture's entry: %+v", entries)
	}

	v := must(c.CreateHold(ctx, "auth-2", 0, client.Redeem(wa.ID, 100)))(t)
	if got := must(c.VoidHold(ctx, v.ID))(t); got.Status != client.TxVoided {
		t.Fatalf("void: %+v", got)
	}
	_, err = c.CaptureHold(ctx, v.ID)
	wantAPIError(t, err, 409, client.CodeWrongTransactionStatus)
	_, err = c.CaptureHold(ctx, "t000000000") // "fund": no hold
	wantAPIError(t, err, 409, client.CodeWrongTransactionStatus)
	_, err = c.CaptureHold(ctx, "tzz0000000")
	wantAPIError(t, err, 404, client.CodeTransactionNotFound)

	// Expiry: the leader proposes it within about a second of the deadline.
	e := must(c.CreateHold(ctx, "auth-3", 200*time.Millisecond, client.Redeem(wa.ID, 100)))(t)
	deadline := time.Now().Add(10 * time.Second)
	for must(c.Transaction(ctx, e.ID))(t).Status == client.TxHeld {
		if time.Now().After(deadline) {
			t.Fatal("the hold did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := must(c.Transaction(ctx, e.ID))(t); got.Status != client.TxExpired {
		t.Fatalf("expired: %+v", got)
	}
	_, err = c.CaptureHold(ctx, e.ID)
	wantAPIError(t, err, 409, client.CodeWrongTransactionStatus)
	if w := wallet(wa.ID); w.Balance != 700 || w.Available != 700 {
		t.Fatalf("after the void and the expiry: %+v", w)
	}

	// A batch item may be a hold.
	res := must(c.CreateTransactions(ctx, []client.TxRequest{
		{ReferenceID: "b1", Operations: []client.Operation{client.Redeem(wa.ID, 50)}, Hold: &client.HoldRequest{}},
		{ReferenceID: "b2", Operations: []client.Operation{client.Redeem(wa.ID, 50)}},
	}))(t)
	if res[0].Err != nil || res[0].Transaction.Status != client.TxHeld || res[1].Transaction.Status != client.TxCompleted {
		t.Fatalf("batch: %+v %+v", res[0], res[1])
	}
	if w := wallet(wa.ID); w.Balance != 650 || w.Available != 600 {
		t.Fatalf("after the batch: %+v", w)
	}
}

// A Customer Key sees its wallets' available balance and the holds that
// name them, read-only: not other transactions, not others' holds, and it
// cannot capture.
func TestClientCustomerKeySeesItsHolds(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, kp := project(t, s.url, client.BatchConfig{})
	a := must(c.CreateAsset(ctx, "Dollar", "USD", 2))(t)
	for _, id := range []string{"alice", "bob", "shop"} {
		must(c.UpsertCustomer(ctx, id, client.CustomerFields{}))(t)
	}
	wa, wb, ws := must(c.CreateWallet(ctx, "alice", a.ID))(t), must(c.CreateWallet(ctx, "bob", a.ID))(t), must(c.CreateWallet(ctx, "shop", a.ID))(t)
	fund := must(c.CreateTransaction(ctx, "fund", client.Issue(wa.ID, 100), client.Issue(wb.ID, 100)))(t)
	ha := must(c.CreateHold(ctx, "ha", 0, client.Transfer(wa.ID, ws.ID, 30)))(t)
	hb := must(c.CreateHold(ctx, "hb", 0, client.Transfer(wb.ID, ws.ID, 40)))(t)

	key := must(client.MintCustomerKey(kp.AccessKey, kp.SignatureKey, "alice", time.Hour, time.Now()))(t)
	ck := newClient(t, s.url, key, client.BatchConfig{})
	if w := must(ck.Wallet(ctx, wa.ID))(t); w.Balance != 100 || w.Available != 70 {
		t.Fatalf("alice's wallet through her key: %+v", w)
	}
	if got := must(ck.Transaction(ctx, ha.ID))(t); got.Status != client.TxHeld {
		t.Fatalf("alice's hold through her key: %+v", got)
	}
	if pg := must(ck.TransactionsWithStatus(ctx, client.TxHeld, client.TimeRange{}, 0, 10))(t); pg.Total != 1 || pg.Items[0].ID != ha.ID {
		t.Fatalf("alice's open holds: %+v", pg)
	}
	_, err := ck.Transaction(ctx, hb.ID)
	wantAPIError(t, err, 403, client.CodeAccessDenied)
	_, err = ck.Transaction(ctx, fund.ID) // hers too, but no hold
	wantAPIError(t, err, 403, client.CodeAccessDenied)
	_, err = ck.Transactions(ctx, client.TimeRange{}, 0, 10)
	wantAPIError(t, err, 403, client.CodeAccessDenied)
	_, err = ck.CaptureHold(ctx, ha.ID)
	wantAPIError(t, err, 403, client.CodeAccessDenied)
	must(c.CaptureHold(ctx, ha.ID))(t)
	if got := must(ck.Transaction(ctx, ha.ID))(t); got.Status != client.TxCompleted {
		t.Fatalf("alice's captured hold through her key: %+v", got)
	}
	if pg := must(ck.TransactionsWithStatus(ctx, client.TxHeld, client.TimeRange{}, 0, 10))(t); pg.Total != 0 {
		t.Fatalf("alice's open holds after the capture: %+v", pg)
	}
}
