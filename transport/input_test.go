package transport

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The decoder reads a body one way only: keys match exactly, a key twice
// in one object is refused, invalid UTF-8 is refused. With encoding/json's
// rules two different bodies could be one request, or a proxy in front
// could read a body differently from the server.
func TestDecodeJSONIsStrict(t *testing.T) {
	refused := []struct{ name, body string }{
		{"duplicate key", `{"referenceId":"a","referenceId":"b","operations":[]}`},
		{"duplicate key in an operation", `{"referenceId":"a","operations":[{"type":"Issue","type":"Redeem"}]}`},
		{"duplicate key in an ignored object", `{"referenceId":"a","x":{"k":1,"k":2}}`},
		{"invalid UTF-8", "{\"referenceId\":\"caf\xe9\"}"},
		{"invalid UTF-8 in an ignored key", "{\"referenceId\":\"a\",\"\xff\":1}"},
		{"escaped lone surrogate", `{"referenceId":"\ud800"}`},
		{"trailing value", `{"referenceId":"a"} {}`},
		{"wrong type", `{"referenceId":5}`},
		{"not JSON", `{"referenceId":`},
	}
	for _, c := range refused {
		var req txReq
		err := decodeJSON([]byte(c.body), &req)
		if err == nil || err.status != 400 || err.code != codeIllegalData {
			t.Errorf("%s: %q answered %v, want 400 ILLEGAL_DATA", c.name, c.body, err)
		}
	}

	var req txReq
	if err := decodeJSON([]byte(`{"referenceId":"a","REFERENCEID":"b","Operations":[{"type":"Issue"}]}`), &req); err != nil {
		t.Fatalf("keys of another case are unknown fields, ignored: %v", err)
	}
	if req.ReferenceID == nil || *req.ReferenceID != "a" || req.Operations != nil {
		t.Fatalf("keys must match exactly: got referenceId %v, operations %v", req.ReferenceID, req.Operations)
	}
	if _, err := parseTransaction([]byte(`{"REFERENCEID":"b","operations":[{"type":"Issue","destinationWalletId":"w000000000","amount":1}]}`), 2); err == nil || err.code != codeValidation {
		t.Fatalf("REFERENCEID is not referenceId: want VALIDATION_ERROR (referenceId is required), got %v", err)
	}
	if err := decodeJSON([]byte(`{"referenceId":"é \u00e9 😀"}`), &req); err != nil || *req.ReferenceID != "é é 😀" {
		t.Fatalf("valid UTF-8 and escapes: %v %q", err, *req.ReferenceID)
	}
	if err := decodeJSON([]byte(`{"x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`), &req); err != nil {
		t.Fatalf("deep ignored value: %v", err)
	}
}

func TestParseAmount(t *testing.T) {
	cases := []struct {
		raw  string
		want int64
		code string // "" when accepted
	}{
		{`1`, 1, ""}, {`"42"`, 42, ""}, {`1e3`, 1000, ""}, {`2.50e2`, 250, ""},
		{`9223372036854775807`, 1<<63 - 1, ""}, {`"9223372036854775807"`, 1<<63 - 1, ""},
		{`1000000000000000000000e-3`, 1e18, ""},
		{`0`, 0, codeValidation}, {`-5`, 0, codeValidation}, {`9223372036854775808`, 0, codeValidation},
		{`1.5`, 0, codeFraction}, {`"1.5"`, 0, codeFraction}, {`1e-1`, 0, codeFraction},
		{`1e-999999`, 0, codeFraction}, {`1E-99999999999999999999999`, 0, codeFraction},
		{`1e999999`, 0, codeValidation}, {`0e999999`, 0, codeValidation}, {`-0.0e-999999`, 0, codeValidation},
		{`1` + strings.Repeat("0", 70), 0, codeValidation},
		{`"12a"`, 0, codeValidation}, {`true`, 0, codeIllegalData},
	}
	for _, c := range cases {
		got, err := parseAmount("amount", []byte(c.raw))
		switch {
		case c.code == "" && (err != nil || got != c.want):
			t.Errorf("%s: got %d %v, want %d", c.raw, got, err, c.want)
		case c.code != "" && (err == nil || err.code != c.code || err.status != 400):
			t.Errorf("%s: got %d %v, want 400 %s", c.raw, got, err, c.code)
		}
	}
}

// A huge exponent is refused before any big-number arithmetic: 1e-999999
// used to make big.Rat compute 10^999999 (about 400 KB and 30 ms of CPU
// per request). Counted in bytes allocated, not in time.
func TestParseAmountHugeExponentIsCheap(t *testing.T) {
	for _, raw := range []string{`1e-999999`, `1e999999`, `7.5e+999999`} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			parseAmount("amount", []byte(raw))
		}
		runtime.ReadMemStats(&after)
		if b := after.TotalAlloc - before.TotalAlloc; b > 64<<10 {
			t.Errorf("%s: 10 parses allocated %d bytes", raw, b)
		}
	}
}

// Every customer id a client can create is reachable at its URL: the
// router's path normalization (fasthttp's: /./, /../, //) leaves
// /customers/{id} unchanged. Checked over every short id of the characters
// that could matter, and every single character.
func TestCreatableCustomerIDsSurviveThePath(t *testing.T) {
	var ids []string
	alphabet := []string{"a", ".", ":", "@", "-", "_"}
	var grow func(prefix string, n int)
	grow = func(prefix string, n int) {
		if prefix != "" {
			ids = append(ids, prefix)
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			grow(prefix+c, n-1)
		}
	}
	grow("", 4)
	for c := 0; c < 256; c++ {
		ids = append(ids, string(rune(c)))
	}
	refused := 0
	for _, id := range ids {
		if _, err := parseCustomer(nil, id); err != nil {
			refused++
			continue
		}
		for _, path := range []string{"/customers/" + id, "/projects/p0000000/customers/" + id + "/wallets"} {
			var u fasthttp.URI
			u.SetPath(path)
			if got := string(u.Path()); got != path {
				t.Errorf("customer id %q is accepted, but its path %q becomes %q", id, path, got)
			}
		}
	}
	for _, id := range []string{".", ".."} {
		if _, err := parseCustomer(nil, id); err == nil || err.code != codeValidation {
			t.Errorf("customer id %q: want 400 VALIDATION_ERROR, got %v", id, err)
		}
	}
	if refused == len(ids) {
		t.Fatal("every id was refused")
	}
}

// The HTTP layer's log lines lose every credential, whether the line quotes
// a header block raw or %q-quoted, and whatever case the header has.
func TestRedactCredentials(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJraWQiOiJrMCJ9.c2lnbmF0dXJl"
	for _, line := range []string{
		"error when serving: GET / HTTP/1.1\r\nAuthorization: Bearer " + jwt + "\r\nHost: x",
		fmt.Sprintf("cannot parse %q", "GET / HTTP/1.1\r\nauthorization: bearer "+jwt+"\r\n"),
		"AUTHORIZATION:Bearer op-token-not-a-jwt\nnext",
		"a stray key " + jwt + " in a message",
	} {
		got := redactCredentials(line)
		if strings.Contains(got, jwt) || strings.Contains(got, "op-token-not-a-jwt") || strings.Contains(got, "c2lnbmF0dXJl") {
			t.Errorf("%q\nkept a credential: %q", line, got)
		}
		if !strings.Contains(got, "[redacted]") {
			t.Errorf("%q: nothing redacted: %q", line, got)
		}
	}
	if plain := "http: connection from 127.0.0.1 closed"; redactCredentials(plain) != plain {
		t.Errorf("a line without credentials changed: %q", redactCredentials(plain))
	}
}
