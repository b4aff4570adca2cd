package transport

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

var txJSONCases = []string{
	`{"referenceId":"r1","operations":[{"type":"Issue","destinationWalletId":"w000000000","amount":5}]}`,
	`{"referenceId":"r2","operations":[{"type":"Transfer","sourceWalletId":"w0","destinationWalletId":"w1","amount":"12"}]}`,
	` { "REFERENCEID" : "caseless" , "Operations" : [ { "TYPE" : "Issue" , "amount" : 1e3 } ] } `,
	`{"referenceId":"a\"b\\c\u00e9\ud83d\ude00","operations":[]}`,
	`{"referenceId":"bad \x01 control","operations":[]}`,
	"{\"referenceId\":\"invalid \xff utf8\",\"operations\":[]}",
	`{"referenceId":"é unicode","operations":null}`,
	`{"referenceId":null,"operations":[null,{"type":null,"amount":null}]}`,
	`{"referenceId":5}`,
	`{"referenceId":"x","operations":{}}`,
	`{"referenceId":"x","operations":[1]}`,
	`{"referenceId":"x","operations":[{"type":7}]}`,
	`{"referenceId":"x","operations":[{"amount":{"deep":[1,2,{"x":[]}]}}]}`,
	`{"unknown":{"a":[1,{"b":"c"},[[[]]],true,false,null,-0.5e+7]},"referenceId":"k"}`,
	`{"operations":[{"type":"Issue","amount":1}],"operations":[{"amount":2}]}`,
	`{"operations":[{"type":"Issue"},{"type":"Redeem"}],"operations":[null]}`,
	`{"referenceId":"a","referenceId":null}`,
	`null`, `[]`, `"s"`, `1`, `true`, `{}`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1}x`, `{"a":01}`,
	`{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":.5}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":tru}`, `{"a":nul}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"unterminated}`, `{"a":[}`, `{"a":{]}`, `{"a" 1}`, "\t{\n}\r ",
	`{"referenceId":"x","operations":[{"type":"Issue","amount":5,}]}`,
	`{"referenceId":"x"} {}`,
	`{"referenceId":"x","operations":[` + strings.Repeat(`{},`, 1200) + `{}]}`,
	`{"k":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
}

// decodeTxReq answers exactly as encoding/json does: the same value when
// both accept, a refusal when encoding/json refuses.
func checkTxDecoderMatches(t *testing.T, body []byte) {
	var fast, std txReq
	ef := decodeTxReq(body, &fast)
	es := decodeJSON(body, &std)
	if (ef == nil) != (es == nil) {
		t.Fatalf("%q: decodeTxReq error %v, encoding/json error %v", body, ef, es)
	}
	if ef != nil {
		if ef.status != es.status || ef.code != es.code {
			t.Fatalf("%q: %d %s vs %d %s", body, ef.status, ef.code, es.status, es.code)
		}
		return
	}
	if diff := cmp.Diff(std, fast); diff != "" {
		t.Fatalf("%q: encoding/json (-) vs decodeTxReq (+):\n%s", body, diff)
	}
}

func TestDecodeTxReqMatchesEncodingJSON(t *testing.T) {
	for _, c := range txJSONCases {
		checkTxDecoderMatches(t, []byte(c))
	}
}

func FuzzDecodeTxReqMatchesEncodingJSON(f *testing.F) {
	for _, c := range txJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) == 0 {
			return
		}
		checkTxDecoderMatches(t, body)
	})
}

// Deep nesting in an ignored field costs linear time, and is refused past
// encoding/json's depth limit like there.
func TestDecodeTxReqDeepNesting(t *testing.T) {
	for _, depth := range []int{9_999, 10_001} {
		body := []byte(`{"k":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
		checkTxDecoderMatches(t, body)
	}
	long := []byte(`{"k":[` + strings.Repeat(`1,`, 300_000) + `1]}`)
	checkTxDecoderMatches(t, long)
}

// appendJSON writes the bytes json.Marshal writes.
func TestTxJSONAppendMatchesMarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		str := rapid.OneOf(rapid.StringMatching(`[a-z0-9]{0,12}`), rapid.String())
		v := txJSON{ID: str.Draw(t, "id"), ReferenceID: str.Draw(t, "ref"), Status: str.Draw(t, "status"),
			CreatedAt: rapid.Int64().Draw(t, "createdAt")}
		if rapid.Bool().Draw(t, "hasOps") {
			v.Operations = []opJSON{}
			for range rapid.IntRange(0, 4).Draw(t, "ops") {
				v.Operations = append(v.Operations, opJSON{Type: str.Draw(t, "type"), Source: str.Draw(t, "src"),
					Destination: str.Draw(t, "dst"), Amount: rapid.Int64().Draw(t, "amount")})
			}
		}
		if rapid.Bool().Draw(t, "failed") {
			v.Error = &txErrorJSON{Code: str.Draw(t, "code"), OperationIndex: rapid.Int32().Draw(t, "idx"), Message: str.Draw(t, "msg")}
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("appendJSON\n%s\njson.Marshal\n%s", got, want)
		}
	})
}
