package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cw "github.com/cloudwallet/cloudwallet/client"
)

func TestFirstRunWritesSecretsOnceAndRestartKeepsEverything(t *testing.T) {
	s := newServer(t)
	for _, f := range []string{"operator.token", "default-project.json"} {
		fi, err := os.Stat(filepath.Join(s.dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v, want 0600", f, err, fi.Mode().Perm())
		}
	}
	if !s.stdout.waitFor("curl", 10*time.Second) {
		t.Fatalf("no ready-to-paste curl line on first start:\n%s", s.stdout)
	}
	p := s.expect(s.ak("GET", "/project", nil), 200, "")
	if p.str("name") != "default" || p.str("id") != s.projectID {
		t.Fatalf("default project: %s", p.raw)
	}
	a := s.asset("USD")
	before, _ := os.ReadFile(filepath.Join(s.dir, "default-project.json"))
	s.stop()

	s2 := startServer(t, s.dir, s)
	after, _ := os.ReadFile(filepath.Join(s.dir, "default-project.json"))
	if string(before) != string(after) || s2.operator != s.operator {
		t.Fatal("restart rewrote the keys or the operator token")
	}
	if strings.Contains(s2.stdout.String(), "curl") {
		t.Fatal("restart printed first-run output again")
	}
	projects := s2.expect(s2.call("GET", "/projects", s2.operator, nil), 200, "")
	if len(projects.list) != 1 {
		t.Fatalf("restart created projects: %s", projects.raw)
	}
	kps := s2.expect(s2.call("GET", "/projects/"+s.projectID+"/key-pairs", s2.operator, nil), 200, "")
	if len(kps.list) != 1 {
		t.Fatalf("restart created key pairs: %s", kps.raw)
	}
	s2.expect(s2.ak("GET", "/assets/"+a, nil), 200, "")
}

func TestAssetsEndpoints(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.expect(s.ak("POST", "/assets", map[string]any{"name": "x", "code": "USD", "fractions": 1}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/assets", map[string]any{"name": "x", "code": "ABCDEFGHIJKLMNOPQ", "fractions": 1}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/assets", map[string]any{"name": "x", "code": "X", "fractions": 0}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/assets", map[string]any{"name": "x", "code": "X", "fractions": "1"}), 400, "ILLEGAL_DATA")
	if r := s.expect(s.ak("PUT", "/assets/"+a+"/name", map[string]any{"name": "Dollar"}), 200, ""); r.str("name") != "Dollar" || r.str("code") != "USD" {
		t.Fatalf("rename: %s", r.raw)
	}
	list := s.expect(s.ak("GET", "/assets", nil), 200, "")
	if len(list.list) != 1 {
		t.Fatalf("assets: %s", list.raw)
	}
	s.customer("c")
	s.wallet("c", a)
	if r := s.expect(s.ak("GET", "/assets/"+a, nil), 200, ""); r.body["used"] != true {
		t.Fatalf("used: %s", r.raw)
	}
	s.expect(s.ak("DELETE", "/assets/"+a, nil), 403, "ASSET_IS_USED")
	b := s.asset("EUR")
	s.expect(s.ak("DELETE", "/assets/"+b, nil), 200, "")
	s.expect(s.ak("GET", "/assets/"+b, nil), 404, "ASSET_NOT_FOUND")
	s.expect(s.ak("GET", "/assets/nonsense", nil), 404, "ASSET_NOT_FOUND")
	if p := s.expect(s.ak("GET", "/project", nil), 200, ""); len(p.body["assets"].([]any)) != 1 {
		t.Fatalf("project assets: %s", p.raw)
	}
}

func TestCustomersEndpoints(t *testing.T) {
	s := newServer(t)
	a := s.asset("PTS")
	s.expect(s.ak("POST", "/customers", map[string]any{"id": "alice", "name": "A"}), 201, "")
	if r := s.expect(s.ak("POST", "/customers", map[string]any{"id": "alice", "description": "d"}), 200, ""); r.str("name") != "A" || r.str("description") != "d" {
		t.Fatalf("upsert kept the wrong fields: %s", r.raw)
	}
	s.expect(s.ak("PUT", "/customers/bob", nil), 201, "")
	s.expect(s.ak("PUT", "/customers/bob", map[string]any{"name": "B"}), 200, "")
	s.expect(s.ak("POST", "/customers", map[string]any{"id": "bad id"}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/customers", map[string]any{"id": strings.Repeat("x", 65)}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/customers", map[string]any{"name": "no id"}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("GET", "/customers/nobody", nil), 404, "CUSTOMER_NOT_FOUND")
	for i := 0; i < 23; i++ {
		s.customer(fmt.Sprintf("u%02d", i))
	}
	page := s.expect(s.ak("GET", "/customers?page=1&pageSize=10", nil), 200, "")
	items := page.body["items"].([]any)
	if page.num("total") != 25 || len(items) != 10 || items[0].(map[string]any)["id"] != "u08" {
		t.Fatalf("customer page 1: %s", page.raw)
	}
	s.expect(s.ak("GET", "/customers", nil), 400, "VALIDATION_ERROR") // page is required
	s.expect(s.ak("GET", "/customers?page=0&pageSize=1001", nil), 400, "VALIDATION_ERROR")
	s.expect(s.ak("GET", "/customers?page=-1", nil), 400, "VALIDATION_ERROR")

	w1, w2 := s.wallet("alice", a), s.wallet("alice", a)
	if r := s.expect(s.ak("POST", "/customers/alice/suspend", nil), 200, ""); r.str("status") != "Suspended" {
		t.Fatalf("suspend: %s", r.raw)
	}
	if s.expect(s.ak("GET", "/wallets/"+w1, nil), 200, "").str("status") != "Suspended" {
		t.Fatal("suspending a customer left a wallet Open")
	}
	s.expect(s.ak("POST", "/wallets", map[string]any{"customerId": "alice", "assetId": a}), 403, "WRONG_WALLET_STATUS")
	s.expect(s.ak("PUT", "/wallets/"+w1+"/status", `"Open"`), 403, "CHANGE_WALLET_STATUS_ERROR")
	s.expect(s.ak("POST", "/customers/alice/resume", []string{w1}), 200, "")
	if s.balance(w1) != 0 || s.expect(s.ak("GET", "/wallets/"+w1, nil), 200, "").str("status") != "Open" ||
		s.expect(s.ak("GET", "/wallets/"+w2, nil), 200, "").str("status") != "Suspended" {
		t.Fatal("resume reopened the wrong wallets")
	}
	s.expect(s.ak("POST", "/customers/alice/resume", map[string]any{"walletIds": []string{w2}}), 200, "")
	s.expect(s.ak("POST", "/customers/alice/resume", "[]"), 200, "")
	bw := s.wallet("bob", a)
	s.expect(s.ak("POST", "/customers/alice/resume", []string{bw}), 404, "WALLET_NOT_FOUND")
	s.expect(s.ak("DELETE", "/customers/alice", nil), 403, "CUSTOMER_HAS_ACTIVE_WALLETS")
	s.expect(s.ak("PUT", "/wallets/"+w1+"/status", map[string]any{"status": "Closed"}), 200, "")
	s.expect(s.ak("PUT", "/wallets/"+w2+"/status", `"Closed"`), 200, "")
	if r := s.expect(s.ak("DELETE", "/customers/alice", nil), 200, ""); r.str("status") != "Deleted" || r.str("name") != "" {
		t.Fatalf("delete: %s", r.raw)
	}
	s.expect(s.ak("GET", "/customers/alice", nil), 200, "")
	s.expect(s.ak("POST", "/customers", map[string]any{"id": "alice"}), 409, "CUSTOMER_ALREADY_EXIST")
}

func TestWalletsEndpoints(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.customer("c")
	s.expect(s.ak("POST", "/wallets", map[string]any{"customerId": "nobody", "assetId": a}), 404, "CUSTOMER_NOT_FOUND")
	s.expect(s.ak("POST", "/wallets", map[string]any{"customerId": "c", "assetId": "a0000099"}), 404, "ASSET_NOT_FOUND")
	s.expect(s.ak("POST", "/wallets", map[string]any{"customerId": "c"}), 400, "VALIDATION_ERROR")
	w := s.expect(s.ak("POST", "/wallets", map[string]any{"customerId": "c", "assetId": a, "name": "main"}), 201, "")
	if w.str("status") != "Open" || w.body["system"] != false || w.str("customerId") != "c" || w.str("name") != "main" || len(w.str("id")) > 30 {
		t.Fatalf("wallet: %s", w.raw)
	}
	id := w.str("id")
	sys := s.expect(s.ak("POST", "/system-wallets", map[string]any{"assetId": a, "name": "fees"}), 201, "")
	if sys.body["system"] != true || sys.body["customerId"] != nil {
		t.Fatalf("system wallet: %s", sys.raw)
	}
	if l := s.expect(s.ak("GET", "/system-wallets", nil), 200, ""); len(l.list) != 1 {
		t.Fatalf("system wallets: %s", l.raw)
	}
	if l := s.expect(s.ak("GET", "/customers/c/wallets", nil), 200, ""); len(l.list) != 1 {
		t.Fatalf("customer wallets: %s", l.raw)
	}
	s.expect(s.ak("GET", "/wallets", nil), 403, "ACCESS_DENIED") // Customer Keys only
	s.expect(s.ak("PUT", "/wallets/"+id+"/name", map[string]any{"name": "n2"}), 200, "")
	if r := s.expect(s.ak("PUT", "/wallets/"+id+"/description", map[string]any{"description": "d2"}), 200, ""); r.str("name") != "n2" || r.str("description") != "d2" {
		t.Fatalf("name/description: %s", r.raw)
	}
	s.expect(s.ak("PUT", "/wallets/"+id+"/name", map[string]any{"name": strings.Repeat("n", 201)}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("PUT", "/wallets/"+id+"/status", `"Frozen"`), 400, "VALIDATION_ERROR")
	s.expect(s.ak("PUT", "/wallets/"+id+"/status", `"Suspended"`), 200, "")
	s.expect(s.ak("PUT", "/wallets/"+id+"/status", `"Suspended"`), 200, "") // no-op
	s.expect(s.ak("PUT", "/wallets/"+id+"/status", `"Open"`), 200, "")
	s.expect(s.ak("POST", "/transactions", tx("fund", op("Issue", "", id, 5))), 201, "")
	s.expect(s.ak("PUT", "/wallets/"+id+"/status", `"Closed"`), 403, "CHANGE_WALLET_STATUS_ERROR")
	s.expect(s.ak("POST", "/transactions", tx("drain", op("Redeem", id, "", 5))), 201, "")
	s.expect(s.ak("PUT", "/wallets/"+id+"/status", `"Closed"`), 200, "")
	s.expect(s.ak("PUT", "/wallets/"+id+"/status", `"Open"`), 403, "CHANGE_WALLET_STATUS_ERROR")
	s.expect(s.ak("GET", "/wallets/w000999999", nil), 404, "WALLET_NOT_FOUND")
	s.expect(s.ak("GET", "/wallets/garbage", nil), 404, "WALLET_NOT_FOUND")
}

func TestTransactionsAndEntries(t *testing.T) {
	s := newServer(t)
	usd, eur := s.asset("USD"), s.asset("EUR")
	for _, c := range []string{"a", "b"} {
		s.customer(c)
	}
	A, B, E := s.wallet("a", usd), s.wallet("b", usd), s.wallet("b", eur)
	fee := s.expect(s.ak("POST", "/system-wallets", map[string]any{"assetId": usd}), 201, "").str("id")

	r := s.expect(s.ak("POST", "/transactions", tx("t1", op("Issue", "", A, 1000), op("Transfer", A, B, "300"), op("Transfer", B, fee, 1))), 201, "")
	if r.str("status") != "Completed" || len(r.body["operations"].([]any)) != 3 || r.str("id") == "" {
		t.Fatalf("completed tx: %s", r.raw)
	}
	txID := r.str("id")
	if s.balance(A) != 700 || s.balance(B) != 299 || s.balance(fee) != 1 {
		t.Fatal("balances after t1")
	}
	failures := []struct {
		ops  []map[string]any
		code string
		at   float64
	}{
		{[]map[string]any{op("Transfer", B, A, 10), op("Transfer", B, A, 1000)}, "INSUFFICIENT_FUNDS", 1},
		{[]map[string]any{op("Issue", "", "w000999999", 1)}, "WALLET_NOT_FOUND", 0},
		{[]map[string]any{op("Transfer", A, E, 1)}, "VALIDATION_ERROR", 0},
		{[]map[string]any{op("Issue", "", A, "9223372036854775807")}, "LIMIT_EXCEEDED", 0},
	}
	for i, f := range failures {
		r := s.expect(s.ak("POST", "/transactions", tx(fmt.Sprintf("f%d", i), f.ops...)), 422, "Failed")
		e, _ := r.body["error"].(map[string]any)
		if e == nil || e["code"] != f.code || e["operationIndex"] != f.at || e["message"] == "" {
			t.Fatalf("failure %d: %s", i, r.raw)
		}
	}
	s.expect(s.ak("PUT", "/wallets/"+B+"/status", `"Suspended"`), 200, "")
	r = s.expect(s.ak("POST", "/transactions", tx("f-status", op("Transfer", A, B, 1))), 422, "Failed")
	if r.body["error"].(map[string]any)["code"] != "WRONG_WALLET_STATUS" {
		t.Fatalf("suspended wallet: %s", r.raw)
	}
	s.expect(s.ak("PUT", "/wallets/"+B+"/status", `"Open"`), 200, "")
	if s.balance(A) != 700 || s.balance(B) != 299 {
		t.Fatal("a failed transaction changed a balance")
	}
	// A used referenceId: 409 with the stored transaction, whatever the body.
	d := s.expect(s.ak("POST", "/transactions", tx("t1", op("Issue", "", A, 5))), 409, "DuplicateReferenceId")
	if d.body["transaction"].(map[string]any)["id"] != txID {
		t.Fatalf("duplicate: %s", d.raw)
	}
	s.expect(s.ak("POST", "/transactions", tx("f0", op("Issue", "", A, 5))), 409, "DuplicateReferenceId")
	if s.balance(A) != 700 {
		t.Fatal("a retry applied twice")
	}
	// Stateless checks: 400 and the referenceId stays free.
	bad := []struct {
		body any
		code string
	}{
		{`{"referenceId": "x", "operations": [`, "ILLEGAL_DATA"},
		{`{"referenceId": 5, "operations": []}`, "ILLEGAL_DATA"},
		{tx("free"), "VALIDATION_ERROR"},
		{tx("", op("Issue", "", A, 1)), "VALIDATION_ERROR"},
		{tx(strings.Repeat("r", 31), op("Issue", "", A, 1)), "VALIDATION_ERROR"},
		{tx("free", op("Issue", "", A, 10.5)), "FRACTION_IN_AMOUNT_NOT_VALID"},
		{tx("free", op("Issue", "", A, "10.5")), "FRACTION_IN_AMOUNT_NOT_VALID"},
		{tx("free", op("Issue", "", A, 0)), "VALIDATION_ERROR"},
		{tx("free", op("Issue", "", A, -3)), "VALIDATION_ERROR"},
		{tx("free", op("Issue", "", A, "9223372036854775808")), "VALIDATION_ERROR"},
		{tx("free", op("Issue", A, A, 1)), "VALIDATION_ERROR"},
		{tx("free", op("Transfer", A, "", 1)), "VALIDATION_ERROR"},
		{tx("free", op("Transfer", A, A, 1)), "VALIDATION_ERROR"},
		{tx("free", op("Mint", "", A, 1)), "VALIDATION_ERROR"},
		{tx("free", op("Issue", "", "not-a-wallet", 1)), "VALIDATION_ERROR"},
	}
	for i, b := range bad {
		if r := s.ak("POST", "/transactions", b.body); r.status != 400 || r.code() != b.code {
			t.Errorf("bad body %d: got %d %s, want 400 %s (%s)", i, r.status, r.code(), b.code, r.raw)
		}
	}
	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = op("Issue", "", A, 1)
	}
	s.expect(s.ak("POST", "/transactions", tx("free", many...)), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/transactions", tx("free", op("Issue", "", A, 1))), 201, "") // still free

	g := s.expect(s.ak("GET", "/transactions/"+txID, nil), 200, "")
	if g.str("referenceId") != "t1" {
		t.Fatalf("get tx: %s", g.raw)
	}
	s.expect(s.ak("GET", "/transactions/t000999999", nil), 404, "TRANSACTION_NOT_FOUND")
	all := s.expect(s.ak("GET", "/transactions?page=0&pageSize=100", nil), 200, "")
	if all.num("total") != 7 { // t1, four failures, f-status, free
		t.Fatalf("list: %s", all.raw)
	}
	created := int64(g.body["createdAt"].(float64))
	rng := s.expect(s.ak("GET", fmt.Sprintf("/transactions?from=%d&to=%d&page=0", created, created+1), nil), 200, "")
	if items := rng.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != txID {
		t.Fatalf("range: %s", rng.raw)
	}
	s.expect(s.ak("GET", "/transactions?page=0&from=10&to=5", nil), 400, "VALIDATION_ERROR")

	ents := s.expect(s.ak("GET", "/wallets/"+B+"/entries?page=0", nil), 200, "")
	items := ents.body["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("entries of B: %s", ents.raw)
	}
	in, out := items[0].(map[string]any), items[1].(map[string]any)
	if in["type"] != "TransferIn" || in["balance"] != 300.0 || in["counterpartyWalletId"] != A || in["transactionId"] != txID ||
		out["type"] != "TransferOut" || out["balance"] != 299.0 || out["operationIndex"] != 2.0 {
		t.Fatalf("entries: %s", ents.raw)
	}
	if p := s.expect(s.ak("GET", "/wallets/"+B+"/entries?page=1&pageSize=1", nil), 200, ""); len(p.body["items"].([]any)) != 1 || p.num("total") != 2 {
		t.Fatalf("entries page: %s", p.raw)
	}
}

func TestAuthenticationErrors(t *testing.T) {
	s := newServer(t)
	s.expect(s.call("GET", "/project", "", nil), 401, "NO_KEY")
	s.expect(s.call("GET", "/project", "garbage", nil), 401, "ILLEGAL_TOKEN")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	parts := strings.Split(s.accessKey, ".")
	s.expect(s.call("GET", "/project", none+"."+parts[1]+".", nil), 401, "ILLEGAL_TOKEN")
	s.expect(s.call("GET", "/project", parts[0]+"."+parts[1]+".AAAA"+parts[2][4:], nil), 401, "ILLEGAL_SIGNATURE")
	expired, err := cw.MintCustomerKey(s.accessKey, s.sigKey, "c", time.Hour, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s.expect(s.call("GET", "/assets", expired, nil), 401, "EXPIRED")
	// A Customer Key signed with the wrong key fails its signature.
	wrong, _ := cw.MintCustomerKey(s.accessKey, "not-the-key", "c", 0, time.Now())
	s.expect(s.call("GET", "/assets", wrong, nil), 401, "ILLEGAL_SIGNATURE")

	// Deleting a key pair revokes its Access Key and Customer Keys at once.
	kp := s.expect(s.call("POST", "/projects/"+s.projectID+"/key-pairs", s.operator, map[string]any{"name": "second"}), 201, "")
	ak2, sk2 := kp.str("accessKey"), kp.str("signatureKey")
	ck2, _ := cw.MintCustomerKey(ak2, sk2, "c", 0, time.Now())
	s.expect(s.call("GET", "/project", ak2, nil), 200, "")
	s.expect(s.call("GET", "/assets", ck2, nil), 200, "")
	if l := s.expect(s.call("GET", "/projects/"+s.projectID+"/key-pairs", s.operator, nil), 200, ""); strings.Contains(string(l.raw), sk2) {
		t.Fatal("key pair list shows secrets")
	}
	s.expect(s.call("DELETE", "/projects/"+s.projectID+"/key-pairs/"+kp.str("id"), s.operator, nil), 200, "")
	s.expect(s.call("GET", "/project", ak2, nil), 401, "API_KEY_PAIR_NOT_FOUND")
	s.expect(s.call("GET", "/assets", ck2, nil), 401, "API_KEY_PAIR_NOT_FOUND")
	s.expect(s.call("DELETE", "/projects/"+s.projectID+"/key-pairs/"+kp.str("id"), s.operator, nil), 404, "API_KEY_PAIR_NOT_FOUND")

	// Operator routes need the operator token; project routes need the prefix.
	s.expect(s.ak("GET", "/projects", nil), 403, "ACCESS_DENIED")
	s.expect(s.call("GET", "/project", s.operator, nil), 403, "ACCESS_DENIED")
	s.expect(s.call("GET", "/projects/"+s.projectID+"/project", s.operator, nil), 200, "")
	s.expect(s.call("GET", "/projects/p0000099/assets", s.operator, nil), 404, "PROJECT_NOT_FOUND")
	s.expect(s.call("GET", "/projects/p0000099", s.operator, nil), 404, "PROJECT_NOT_FOUND")
}

func TestBadInputNeverBreaksTheServer(t *testing.T) {
	s := newServer(t)
	s.expect(s.ak("GET", "/no/such/route", nil), 404, "NOT_FOUND")
	s.expect(s.ak("PATCH", "/assets", nil), 404, "NOT_FOUND")
	s.expect(s.ak("GET", "/wallets/"+strings.Repeat("w", 300), nil), 404, "WALLET_NOT_FOUND")
	// An over-long request line is answered 431, and the answer reaches a
	// client that is still sending (the server closes lingering, not with RST).
	for _, n := range []int{5000, 256 << 10} {
		s.expect(s.ak("GET", "/wallets/"+strings.Repeat("w", n), nil), 431, "LIMIT_EXCEEDED")
	}
	s.expect(s.ak("POST", "/assets", "{not json"), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/assets", "[]"), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/assets", ""), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/customers", map[string]any{"id": "x", "name": 5}), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/customers", map[string]any{"id": "x", "name": strings.Repeat("n", 201)}), 400, "VALIDATION_ERROR")
	// A body over 1 MiB is refused from its Content-Length, before it is read.
	s.expectBodyTooLarge("/transactions", 2<<20)
	// ids a URL path cannot hold, bodies with two readings, huge exponents
	s.expect(s.ak("POST", "/customers", map[string]any{"id": "."}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/customers", map[string]any{"id": ".."}), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/customers", "{\"id\":\"caf\xe9\"}"), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/customers", `{"id":"a","id":"b"}`), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/transactions", `{"referenceId":"a","REFERENCEID":"b","operations":[]}`), 400, "VALIDATION_ERROR")
	s.expect(s.ak("POST", "/transactions", `{"referenceId":"\ud800","operations":[]}`), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/transactions", `{"referenceId":"x","operations":[{"type":"Issue","destinationWalletId":"w000000000","amount":1e-999999}]}`),
		400, "FRACTION_IN_AMOUNT_NOT_VALID")
	s.expect(s.ak("GET", "/transactions?page=abc", nil), 400, "VALIDATION_ERROR")
	s.expect(s.ak("GET", "/transactions?page=0&from=yesterday", nil), 400, "VALIDATION_ERROR")
	s.expect(s.ak("GET", "/project", nil), 200, "") // still serving
}

func TestCustomerKeyPermissions(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.customer("alice")
	s.customer("bob")
	own, other := s.wallet("alice", a), s.wallet("bob", a)
	ck, err := cw.MintCustomerKey(s.accessKey, s.sigKey, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	allowed := []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/assets", nil, 200},
		{"GET", "/assets/" + a, nil, 200},
		{"GET", "/customers/alice", nil, 200},
		{"PUT", "/customers/alice", map[string]any{"name": "Alice"}, 200},
		{"GET", "/customers/alice/wallets", nil, 200},
		{"GET", "/wallets", nil, 200},
		{"GET", "/wallets/" + own, nil, 200},
		{"PUT", "/wallets/" + own + "/name", map[string]any{"name": "mine"}, 200},
		{"PUT", "/wallets/" + own + "/description", map[string]any{"description": "d"}, 200},
		{"GET", "/wallets/" + own + "/entries?page=0", nil, 200},
	}
	for _, c := range allowed {
		if r := s.call(c.method, c.path, ck, c.body); r.status != c.status {
			t.Errorf("CK %s %s: %d %s", c.method, c.path, r.status, r.raw)
		}
	}
	if l := s.expect(s.call("GET", "/wallets", ck, nil), 200, ""); len(l.list) != 1 || l.list[0].(map[string]any)["id"] != own {
		t.Fatalf("CK wallets: %s", l.raw)
	}
	denied := []struct {
		method, path string
		body         any
	}{
		{"GET", "/customers/bob", nil},
		{"PUT", "/customers/bob", nil},
		{"GET", "/customers/bob/wallets", nil},
		{"GET", "/wallets/" + other, nil},
		{"PUT", "/wallets/" + other + "/name", map[string]any{"name": "x"}},
		{"PUT", "/wallets/" + other + "/description", map[string]any{"description": "x"}},
		{"GET", "/wallets/" + other + "/entries?page=0", nil},
		{"GET", "/project", nil},
		{"POST", "/assets", map[string]any{"name": "x", "code": "X", "fractions": 1}},
		{"POST", "/customers", map[string]any{"id": "alice"}},
		{"GET", "/customers?page=0", nil},
		{"POST", "/customers/alice/suspend", nil},
		{"POST", "/wallets", map[string]any{"customerId": "alice", "assetId": a}},
		{"PUT", "/wallets/" + own + "/status", `"Suspended"`},
		{"GET", "/system-wallets", nil},
		{"POST", "/transactions", tx("ck", op("Issue", "", own, 1))},
		{"GET", "/transactions?page=0", nil},
		{"GET", "/projects", nil},
	}
	for _, c := range denied {
		if r := s.call(c.method, c.path, ck, c.body); r.status != 403 || r.code() != "ACCESS_DENIED" {
			t.Errorf("CK %s %s: %d %s, want 403 ACCESS_DENIED", c.method, c.path, r.status, r.raw)
		}
	}
	// A Deleted customer's key is refused.
	s.expect(s.ak("PUT", "/wallets/"+own+"/status", `"Closed"`), 200, "")
	s.expect(s.ak("DELETE", "/customers/alice", nil), 200, "")
	s.expect(s.call("GET", "/assets", ck, nil), 403, "ACCESS_DENIED")
}

func TestTenantIsolation(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.customer("alice")
	w := s.wallet("alice", a)
	txA := s.expect(s.ak("POST", "/transactions", tx("shared-ref", op("Issue", "", w, 10))), 201, "").str("id")

	pb := s.expect(s.call("POST", "/projects", s.operator, map[string]any{"name": "B"}), 201, "").str("id")
	kb := s.expect(s.call("POST", "/projects/"+pb+"/key-pairs", s.operator, map[string]any{"name": "kb"}), 201, "").str("accessKey")
	s.expect(s.call("GET", "/wallets/"+w, kb, nil), 404, "WALLET_NOT_FOUND")
	s.expect(s.call("GET", "/assets/"+a, kb, nil), 404, "ASSET_NOT_FOUND")
	s.expect(s.call("GET", "/customers/alice", kb, nil), 404, "CUSTOMER_NOT_FOUND")
	s.expect(s.call("GET", "/transactions/"+txA, kb, nil), 404, "TRANSACTION_NOT_FOUND")
	if l := s.expect(s.call("GET", "/transactions?page=0", kb, nil), 200, ""); l.num("total") != 0 {
		t.Fatalf("B sees A's transactions: %s", l.raw)
	}
	if l := s.expect(s.call("GET", "/assets", kb, nil), 200, ""); len(l.list) != 0 {
		t.Fatalf("B sees A's assets: %s", l.raw)
	}
	// B cannot move A's money, and the same referenceId is free in B.
	r := s.expect(s.call("POST", "/transactions", kb, tx("shared-ref", op("Redeem", w, "", 10))), 422, "Failed")
	if r.body["error"].(map[string]any)["code"] != "WALLET_NOT_FOUND" {
		t.Fatalf("B redeeming A's wallet: %s", r.raw)
	}
	if s.balance(w) != 10 {
		t.Fatal("another project moved money")
	}
	// The operator reaches B through the prefix.
	s.expect(s.call("POST", "/projects/"+pb+"/customers", s.operator, map[string]any{"id": "alice"}), 201, "")
	s.expect(s.call("GET", "/projects/"+pb+"/customers/alice", s.operator, nil), 200, "")
	s.expect(s.call("PUT", "/projects/"+pb+"/name", s.operator, map[string]any{"name": "B2"}), 200, "")
	if g := s.expect(s.call("GET", "/projects/"+pb, s.operator, nil), 200, ""); g.str("name") != "B2" || g.str("id") != pb {
		t.Fatalf("GET /projects/{id}: %s", g.raw)
	}
}

// A request the HTTP parser refuses never leaks its credentials: not in
// the 400 answer, not in the log, and every log line is still JSON.
func TestUnparsableRequestsLeakNoKeys(t *testing.T) {
	s := newServer(t)
	auth := "Authorization: Bearer " + s.accessKey + "\r\n"
	requests := []string{
		"GET /project HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n" + auth + "\r\n",                                    // a bare CR in a header
		"GET /project HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n" + auth + "\r\n",                                  // NUL
		"POST /transactions HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", // two lengths
		"GET /project HTTP/1.1\r\n" + auth + "\r\n",                                                              // no Host
		"GET /project HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: bogus\r\n\r\n",                       // bad coding
		"GET\x00/project HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n",                                                // NUL in the request line
	}
	refused := 0
	for _, raw := range requests {
		conn, err := net.DialTimeout("tcp", s.httpAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, raw)
		answer, _ := io.ReadAll(conn) // the server closes after an error answer
		conn.Close()
		if strings.Contains(string(answer), s.accessKey) || strings.Contains(string(answer), "Bearer") {
			t.Errorf("%q: the answer quotes the key:\n%s", raw, answer)
		}
		if strings.HasPrefix(string(answer), "HTTP/1.1 400") {
			refused++
			if !strings.Contains(string(answer), `"message":"the request is not valid HTTP/1.1"`) {
				t.Errorf("%q: 400 without the fixed message:\n%s", raw, answer)
			}
		}
	}
	if refused < 3 {
		t.Fatalf("only %d of %d malformed requests were refused with 400", refused, len(requests))
	}
	s.expect(s.ak("GET", "/project", nil), 200, "") // still serving
	logged := s.log()
	if strings.Contains(logged, s.accessKey) || strings.Contains(logged, strings.Split(s.accessKey, ".")[2]) {
		t.Fatalf("the log holds the access key:\n%s", logged)
	}
	for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("a log line is not JSON: %q", line)
		}
	}
	if !strings.Contains(logged, `"msg":"http: `) {
		t.Fatalf("the parser's refusals are not logged through slog:\n%s", logged)
	}
}

// expectBodyTooLarge checks that a POST to path announcing a body of n
// bytes is answered 413 LIMIT_EXCEEDED from its headers alone. Only the
// headers are sent: a client still writing the body when the server
// answers and closes may see its write fail before it reads the answer.
func (s *server) expectBodyTooLarge(path string, n int) {
	s.t.Helper()
	conn, err := net.DialTimeout("tcp", s.httpAddr, 5*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", path, s.accessKey, n)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	if hr.StatusCode != 413 || !strings.Contains(string(body), "LIMIT_EXCEEDED") {
		s.t.Fatalf("a body of %d bytes to %s: %d %s, want 413 LIMIT_EXCEEDED", n, path, hr.StatusCode, body)
	}
}
