package transport

import (
	"encoding/json"
	"testing"
)

var benchTxBody = []byte(`{"referenceId":"order-1234567","operations":[{"type":"Transfer","sourceWalletId":"w010000000","destinationWalletId":"w000000001","amount":250}]}`)

// BenchmarkDecodeTxReq prices the decoder of the hottest endpoint:
// decodeJSON (go-json-experiment/json, strict) against encoding/json, which
// would be faster to write but matches keys in any case, keeps the last of
// duplicate keys and replaces invalid UTF-8 (see decodeJSON).
func BenchmarkDecodeTxReq(b *testing.B) {
	b.Run("decodeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r txReq
			if err := decodeJSON(benchTxBody, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r struct {
				ReferenceID *string `json:"referenceId"`
				Operations  []struct {
					Type        *string         `json:"type"`
					Source      *string         `json:"sourceWalletId"`
					Destination *string         `json:"destinationWalletId"`
					Amount      json.RawMessage `json:"amount"`
				} `json:"operations"`
			}
			if err := json.Unmarshal(benchTxBody, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
