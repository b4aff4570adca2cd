package transport

import (
	"encoding/json"
	"testing"

	"pgregory.net/rapid"
)

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
