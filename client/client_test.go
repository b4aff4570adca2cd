package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudwallet/cloudwallet/client"
	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/transport"
)

const operatorToken = "operator-token-of-the-client-tests"

// server is a real node and its HTTP API on loopback, in this process.
type server struct {
	url     string
	metrics *prometheus.Registry
}

func startServer(t *testing.T) server {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.DataDir, cfg.PeerAddr, cfg.Shards, cfg.RaftLogLevel = t.TempDir(), "127.0.0.1:0", 2, "error"
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	node, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	hcfg := transport.DefaultConfig()
	hcfg.OperatorToken, hcfg.Metrics = operatorToken, reg
	srv, err := transport.New(node, hcfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	srv.Open()
	return server{url: "http://" + ln.Addr().String(), metrics: reg}
}

func newClient(t *testing.T, url, token string, batch client.BatchConfig) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Server: url, Token: token, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// project makes a project and a key pair through the operator API, and
// returns a client with its Access Key and the key pair.
func project(t *testing.T, url string, batch client.BatchConfig) (*client.Client, client.KeyPair) {
	t.Helper()
	ctx := context.Background()
	op := newClient(t, url, operatorToken, client.BatchConfig{})
	p, err := op.CreateProject(ctx, "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := op.CreateKeyPair(ctx, p.ID, "backend")
	if err != nil || kp.AccessKey == "" || kp.SignatureKey == "" {
		t.Fatalf("key pair: %+v %v", kp, err)
	}
	return newClient(t, url, kp.AccessKey, batch), kp
}

// must(call())(t) is call's value; an error fails the test.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// wantAPIError checks that err is an *APIError with this status and code.
func wantAPIError(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	var e *client.APIError
	if !errors.As(err, &e) || e.HTTPStatus != status || e.Code != code {
		t.Fatalf("got %v, want an APIError %d %s", err, status, code)
	}
	return e
}

// Every endpoint through its typed call, against a real server: the
// operator's, the project's, a Customer Key's; API errors come back typed,
// with their code, status and (for a Failed transaction) operation.
func TestClientCallsEveryEndpoint(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	op := newClient(t, s.url, operatorToken, client.BatchConfig{})
	c, kp := project(t, s.url, client.BatchConfig{})

	p := must(c.Project(ctx))(t)
	if p.Groups != 1 || p.Name != "shop" {
		t.Fatalf("project: %+v", p)
	}
	if got := must(op.RenameProject(ctx, p.ID, "store"))(t); got.Name != "store" {
		t.Fatalf("rename: %+v", got)
	}
	if ps := must(op.Projects(ctx))(t); len(ps) < 1 {
		t.Fatal("no projects listed")
	}
	if got := must(op.ProjectByID(ctx, p.ID))(t); got.Name != "store" {
		t.Fatalf("project by id: %+v", got)
	}
	if ks := must(op.KeyPairs(ctx, p.ID))(t); len(ks) != 1 || ks[0].AccessKey != "" {
		t.Fatalf("key pairs (no secrets): %+v", ks)
	}

	a := must(c.CreateAsset(ctx, "Dollar", "USD", 2))(t)
	if got := must(c.RenameAsset(ctx, a.ID, "US Dollar"))(t); got.Name != "US Dollar" {
		t.Fatalf("rename asset: %+v", got)
	}
	if as := must(c.Assets(ctx))(t); len(as) != 1 || must(c.Asset(ctx, a.ID))(t).Code != "USD" {
		t.Fatalf("assets: %+v", as)
	}
	name := "Alice"
	if cu := must(c.UpsertCustomer(ctx, "alice", client.CustomerFields{Name: &name}))(t); cu.Name != "Alice" || cu.Status != client.CustomerActive {
		t.Fatalf("upsert: %+v", cu)
	}
	must(c.UpsertCustomer(ctx, "bob", client.CustomerFields{}))(t)
	if pg := must(c.Customers(ctx, 0, 10))(t); pg.Total != 2 || len(pg.Items) != 2 {
		t.Fatalf("customers: %+v", pg)
	}
	wa, wb := must(c.CreateWallet(ctx, "alice", a.ID))(t), must(c.CreateWallet(ctx, "bob", a.ID))(t)
	sys := must(c.CreateSystemWallet(ctx, a.ID))(t)
	if ws := must(c.SystemWallets(ctx))(t); len(ws) != 1 || !ws[0].System || ws[0].ID != sys.ID {
		t.Fatalf("system wallets: %+v", ws)
	}
	must(c.SetWalletName(ctx, wa.ID, "main"))(t)
	if w := must(c.SetWalletDescription(ctx, wa.ID, "spending"))(t); w.Name != "main" || w.Description != "spending" {
		t.Fatalf("wallet fields: %+v", w)
	}

	tx := must(c.CreateTransaction(ctx, "fund", client.Issue(wa.ID, 1000), client.Transfer(wa.ID, wb.ID, 250)))(t)
	if tx.Status != client.TxCompleted || tx.ID == "" {
		t.Fatalf("transaction: %+v", tx)
	}
	again, err := c.CreateTransaction(ctx, "fund", client.Issue(wa.ID, 1))
	if wantAPIError(t, err, 409, client.CodeDuplicateReferenceID); again == nil || again.ID != tx.ID {
		t.Fatalf("a duplicate does not carry the stored transaction: %+v", again)
	}
	failed, err := c.CreateTransaction(ctx, "too-much", client.Issue(wb.ID, 1), client.Transfer(wb.ID, wa.ID, 10_000))
	if e := wantAPIError(t, err, 422, client.CodeInsufficientFunds); e.OperationIndex != 1 || failed == nil || failed.Status != client.TxFailed {
		t.Fatalf("a Failed transaction: %+v %+v", e, failed)
	}
	_, err = c.CreateTransaction(ctx, "bad", client.Issue(wb.ID, -1))
	wantAPIError(t, err, 400, client.CodeValidation)
	if got := must(c.Transaction(ctx, tx.ID))(t); got.ReferenceID != "fund" {
		t.Fatalf("transaction by id: %+v", got)
	}
	if pg := must(c.Transactions(ctx, client.TimeRange{}, 0, 10))(t); pg.Total != 2 {
		t.Fatalf("transactions: %+v", pg)
	}
	if pg := must(c.Entries(ctx, wa.ID, client.TimeRange{}, 0, 10))(t); len(pg.Items) != 2 || pg.Items[1].Balance != 750 {
		t.Fatalf("entries: %+v", pg)
	}
	if w := must(c.Wallet(ctx, wb.ID))(t); w.Balance != 250 {
		t.Fatalf("bob: %+v", w)
	}

	res, err := c.CreateTransactions(ctx, []client.TxRequest{
		{ReferenceID: "b1", Operations: []client.Operation{client.Transfer(wb.ID, wa.ID, 50)}},
		{ReferenceID: "b2", Operations: []client.Operation{client.Transfer(wb.ID, wa.ID, 500)}},
		{ReferenceID: "fund", Operations: []client.Operation{client.Issue(wa.ID, 1)}},
	})
	if err != nil || len(res) != 3 || res[0].Err != nil || !client.IsCode(res[1].Err, client.CodeInsufficientFunds) ||
		!client.IsCode(res[2].Err, client.CodeDuplicateReferenceID) || res[2].Transaction.ID != tx.ID {
		t.Fatalf("a batch: %v %+v", err, res)
	}

	ck, err := client.MintCustomerKey(kp.AccessKey, kp.SignatureKey, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	alice := newClient(t, s.url, ck, client.BatchConfig{})
	if ws := must(alice.OwnWallets(ctx))(t); len(ws) != 1 || ws[0].ID != wa.ID {
		t.Fatalf("alice's own wallets: %+v", ws)
	}
	_, err = alice.Wallet(ctx, wb.ID)
	wantAPIError(t, err, 403, client.CodeAccessDenied)
	if ws := must(c.CustomerWallets(ctx, "alice"))(t); len(ws) != 1 {
		t.Fatalf("customer wallets: %+v", ws)
	}

	if cu := must(c.SuspendCustomer(ctx, "bob"))(t); cu.Status != client.CustomerSuspended {
		t.Fatalf("suspend: %+v", cu)
	}
	if cu := must(c.ResumeCustomer(ctx, "bob", wb.ID))(t); cu.Status != client.CustomerActive {
		t.Fatalf("resume: %+v", cu)
	}
	_, err = c.DeleteAsset(ctx, a.ID)
	wantAPIError(t, err, 403, client.CodeAssetIsUsed)
	must(c.UpsertCustomer(ctx, "carol", client.CustomerFields{}))(t)
	wc := must(c.CreateWallet(ctx, "carol", a.ID))(t)
	must(c.SetWalletStatus(ctx, wc.ID, client.WalletClosed))(t)
	if cu := must(c.DeleteCustomer(ctx, "carol"))(t); cu.Status != client.CustomerDeleted {
		t.Fatalf("delete: %+v", cu)
	}
	if must(c.Customer(ctx, "carol"))(t).Status != client.CustomerDeleted {
		t.Fatal("a deleted customer reads back otherwise")
	}
	if st := must(op.ClusterStatus(ctx))(t); !strings.Contains(string(st), `"groups"`) {
		t.Fatalf("cluster status: %s", st)
	}
	if ok := must(c.Ready(ctx))(t); !ok {
		t.Fatal("not ready")
	}
	_, err = op.RenameProject(ctx, "pnope", "x")
	wantAPIError(t, err, 404, client.CodeProjectNotFound)
	if err := op.DeleteKeyPair(ctx, p.ID, kp.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Project(ctx)
	wantAPIError(t, err, 401, client.CodeKeyPairNotFound)
}

// With auto-batching on, concurrent CreateTransaction calls share batch
// requests, and each caller gets its own result: its transaction, or its
// own Failed one.
func TestClientAutoBatchesConcurrentCalls(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, _ := project(t, s.url, client.BatchConfig{Window: 5 * time.Millisecond})
	a := must(c.CreateAsset(ctx, "Points", "PTS", 1))(t)
	must(c.UpsertCustomer(ctx, "a", client.CustomerFields{}))(t)
	w := must(c.CreateWallet(ctx, "a", a.ID))(t)

	const calls = 200
	var wg sync.WaitGroup
	errs := make([]error, calls)
	txs := make([]*client.Transaction, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := client.Issue(w.ID, 1)
			if i%10 == 9 {
				op = client.Redeem(w.ID, 1_000_000) // fails: never that much
			}
			txs[i], errs[i] = c.CreateTransaction(ctx, fmt.Sprintf("auto-%d", i), op)
		}()
	}
	wg.Wait()
	for i := range calls {
		if i%10 == 9 {
			if !client.IsCode(errs[i], client.CodeInsufficientFunds) || txs[i].ReferenceID != fmt.Sprintf("auto-%d", i) {
				t.Fatalf("call %d: %v %+v, want its own Failed transaction", i, errs[i], txs[i])
			}
			continue
		}
		if errs[i] != nil || txs[i].ReferenceID != fmt.Sprintf("auto-%d", i) || txs[i].Status != client.TxCompleted {
			t.Fatalf("call %d: %v %+v", i, errs[i], txs[i])
		}
	}
	if b := must(c.Wallet(ctx, w.ID))(t).Balance; b != calls-calls/10 {
		t.Fatalf("balance %d, want %d", b, calls-calls/10)
	}
	batches, singles := posts(t, s.metrics, "/transactions/batch"), posts(t, s.metrics, "/transactions")
	if batches == 0 || batches > calls/4 || singles != 0 {
		t.Fatalf("%v batch requests and %v single ones for %d calls: not batched", batches, singles, calls)
	}
}

// posts counts the POST requests to route the server answered.
func posts(t *testing.T, reg *prometheus.Registry, route string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "cloudwallet_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["method"] == "POST" {
				n += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return n
}

// An answer lost on the way back (the transaction applied, the client saw
// the connection close) is asked again with the same referenceId: the
// 409 to the retry is the call's own transaction, answered as made, and
// it applied once; the same for the items of a batch.
func TestClientRetriesALostAnswerOnce(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, kp := project(t, s.url, client.BatchConfig{})
	a := must(c.CreateAsset(ctx, "Points", "PTS", 1))(t)
	must(c.UpsertCustomer(ctx, "a", client.CustomerFields{}))(t)
	w := must(c.CreateWallet(ctx, "a", a.ID))(t)

	var dropped, droppedBatch atomic.Int32
	proxy := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest(r.Method, s.url+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if (r.URL.Path == "/transactions" && dropped.Add(1) == 1) || (r.URL.Path == "/transactions/batch" && droppedBatch.Add(1) == 1) {
			conn, _, _ := rw.(http.Hijacker).Hijack() // the answer never comes back
			conn.Close()
			return
		}
		for k, v := range resp.Header {
			rw.Header()[k] = v
		}
		rw.WriteHeader(resp.StatusCode)
		rw.Write(body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go proxy.Serve(ln)
	defer proxy.Close()

	viaProxy := newClient(t, "http://"+ln.Addr().String(), kp.AccessKey, client.BatchConfig{})
	tx, err := viaProxy.CreateTransaction(ctx, "lost-answer", client.Issue(w.ID, 7))
	if err != nil || tx.Status != client.TxCompleted || tx.ReferenceID != "lost-answer" {
		t.Fatalf("after a lost answer: %v %+v", err, tx)
	}
	if dropped.Load() < 2 {
		t.Fatal("the first answer was not dropped: the test proved nothing")
	}
	if b := must(c.Wallet(ctx, w.ID))(t).Balance; b != 7 {
		t.Fatalf("balance %d: the retry applied twice (or never)", b)
	}
	// The same for a batch: its lost answer is asked again, and each item
	// is its own transaction, applied once.
	res, err := viaProxy.CreateTransactions(ctx, []client.TxRequest{
		{ReferenceID: "lost-batch-1", Operations: []client.Operation{client.Issue(w.ID, 2)}},
		{ReferenceID: "lost-batch-2", Operations: []client.Operation{client.Issue(w.ID, 3)}},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil || res[1].Transaction.ReferenceID != "lost-batch-2" || droppedBatch.Load() < 2 {
		t.Fatalf("a batch after a lost answer: %v %+v (%d batch requests)", err, res, droppedBatch.Load())
	}
	if b := must(c.Wallet(ctx, w.ID))(t).Balance; b != 12 {
		t.Fatalf("balance %d after the batch: applied twice (or never)", b)
	}
}
