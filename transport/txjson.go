package transport

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendJSON writes v exactly as json.Marshal(v) does, without
// reflection: transactions are the answer to the hottest endpoint.
func (v *txJSON) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if v.ID != "" {
		b = append(b, `"id":`...)
		b = appendJSONString(b, v.ID)
		b = append(b, ',')
	}
	b = append(b, `"referenceId":`...)
	b = appendJSONString(b, v.ReferenceID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, v.Status)
	b = append(b, `,"operations":`...)
	if v.Operations == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range v.Operations {
			o := &v.Operations[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = appendJSONString(b, o.Type)
			if o.Source != "" {
				b = append(b, `,"sourceWalletId":`...)
				b = appendJSONString(b, o.Source)
			}
			if o.Destination != "" {
				b = append(b, `,"destinationWalletId":`...)
				b = appendJSONString(b, o.Destination)
			}
			b = append(b, `,"amount":`...)
			b = strconv.AppendInt(b, o.Amount, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if v.CreatedAt != 0 {
		b = append(b, `,"createdAt":`...)
		b = strconv.AppendInt(b, v.CreatedAt, 10)
	}
	if h := v.Hold; h != nil {
		b = append(b, `,"hold":{"timeoutMs":`...)
		b = strconv.AppendInt(b, h.TimeoutMs, 10)
		if h.ExpiresAt != 0 {
			b = append(b, `,"expiresAt":`...)
			b = strconv.AppendInt(b, h.ExpiresAt, 10)
		}
		if h.FinishedAt != 0 {
			b = append(b, `,"finishedAt":`...)
			b = strconv.AppendInt(b, h.FinishedAt, 10)
		}
		b = append(b, '}')
	}
	if v.Error != nil {
		b = append(b, `,"error":{"code":`...)
		b = appendJSONString(b, v.Error.Code)
		b = append(b, `,"operationIndex":`...)
		b = strconv.AppendInt(b, int64(v.Error.OperationIndex), 10)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, v.Error.Message)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSONString quotes s as encoding/json does (HTML-safe). Ids and
// codes are plain ASCII and take the fast path; anything else is handed
// to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
