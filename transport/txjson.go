package transport

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeTxReq decodes the body of POST /transactions exactly as
// decodeJSON(body, req) does — same fields, same case-insensitive names,
// same treatment of null, unknown fields, duplicate keys and invalid
// UTF-8, same refusals — without reflection and with one allocation for
// the operations. It is the hottest decoder of the server; a differential
// fuzz test (FuzzDecodeTxReqMatchesEncodingJSON) holds it to
// encoding/json's answers.
func decodeTxReq(body []byte, req *txReq) *apiError {
	if len(body) == 0 {
		return badData("a JSON body is required")
	}
	d := txDecoder{b: body}
	ok := d.txReq(req)
	d.ws()
	switch {
	case !ok || d.i != len(d.b):
		return badData("the body is not valid JSON of the expected shape")
	case d.typeErr != "":
		return badData("field " + d.typeErr + " has the wrong JSON type")
	}
	return nil
}

// txDecoder is a cursor over a JSON document. Every method returns false
// on malformed JSON or a value of the wrong type (typeErr names the field);
// the caller then refuses the body.
type txDecoder struct {
	b       []byte
	i       int
	typeErr string
}

// jsonDepthMax matches encoding/json's nesting limit.
const jsonDepthMax = 10000

func (d *txDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *txDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *txDecoder) literal(lit string) bool {
	if !strings.HasPrefix(string(d.b[d.i:]), lit) {
		return false
	}
	d.i += len(lit)
	return true
}

// wrongType records a type error and skips the value, so the rest of the
// document is still checked (a syntax error anywhere wins, as in
// encoding/json), then fails.
func (d *txDecoder) wrongType(field string) bool {
	if !d.skip() {
		return false
	}
	if d.typeErr == "" {
		d.typeErr = field
	}
	return true
}

// object calls field for each key; field must consume the value.
func (d *txDecoder) object(field func(key string) bool) bool {
	d.i++ // '{'
	if d.peek() == '}' {
		d.i++
		return true
	}
	for {
		if d.peek() != '"' {
			return false
		}
		key, ok := d.str()
		if !ok || d.peek() != ':' {
			return false
		}
		d.i++
		d.ws()
		if !field(key) {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

func (d *txDecoder) txReq(req *txReq) bool {
	switch d.peek() {
	case 'n':
		return d.literal("null") // a null body decodes to nothing, as in encoding/json
	case '{':
	default:
		return false // not an object: the wrong shape
	}
	return d.object(func(key string) bool {
		switch {
		case strings.EqualFold(key, "referenceId"):
			return d.optString(&req.ReferenceID, "referenceId")
		case strings.EqualFold(key, "operations"):
			return d.operations(&req.Operations)
		}
		return d.skip()
	})
}

func (d *txDecoder) operations(ops *[]opReq) bool {
	switch d.peek() {
	case 'n':
		*ops = nil
		return d.literal("null")
	case '[':
	default:
		return d.wrongType("operations")
	}
	d.i++
	// encoding/json reuses the slice of an earlier "operations" key without
	// zeroing its elements; so do we.
	list := (*ops)[:0]
	if list == nil {
		list = []opReq{} // [] is an empty list, not null
	}
	if d.peek() == ']' {
		d.i++
		*ops = list
		return true
	}
	for {
		if len(list) < cap(list) {
			list = list[:len(list)+1]
		} else {
			list = append(list, opReq{})
		}
		if !d.op(&list[len(list)-1]) {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			*ops = list
			return true
		default:
			return false
		}
	}
}

func (d *txDecoder) op(o *opReq) bool {
	switch d.peek() {
	case 'n':
		return d.literal("null") // null leaves the element as it was
	case '{':
	default:
		return d.wrongType("operations")
	}
	return d.object(func(key string) bool {
		switch {
		case strings.EqualFold(key, "type"):
			return d.optString(&o.Type, "operations.type")
		case strings.EqualFold(key, "sourceWalletId"):
			return d.optString(&o.Source, "operations.sourceWalletId")
		case strings.EqualFold(key, "destinationWalletId"):
			return d.optString(&o.Destination, "operations.destinationWalletId")
		case strings.EqualFold(key, "amount"):
			start := d.i
			if !d.skip() {
				return false
			}
			o.Amount = json.RawMessage(d.b[start:d.i])
			return true
		}
		return d.skip()
	})
}

// optString reads a string or null into *p.
func (d *txDecoder) optString(p **string, field string) bool {
	switch d.peek() {
	case 'n':
		*p = nil
		return d.literal("null")
	case '"':
		s, ok := d.str()
		if ok {
			*p = &s
		}
		return ok
	}
	return d.wrongType(field)
}

// str reads a string token. The common case — no escapes, valid UTF-8 — is
// a slice of the body; anything else goes through encoding/json so escapes
// and invalid bytes (replaced by U+FFFD) come out the same.
func (d *txDecoder) str() (string, bool) {
	start := d.i
	d.i++ // '"'
	plain := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			tok := d.b[start:d.i]
			if plain {
				return string(tok[1 : len(tok)-1]), true
			}
			var s string
			if json.Unmarshal(tok, &s) != nil {
				return "", false
			}
			return s, true
		case c == '\\':
			plain = false
			d.i += 2
			continue
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			plain = false
		}
		d.i++
	}
	return "", false
}

// skip validates and passes over one value of any type. Containers are
// tracked on a stack, so the work is linear in the value's size.
func (d *txDecoder) skip() bool {
	var stack []byte // '{' or '[' of each open container
	for {
		switch c := d.peek(); {
		case c == '{' || c == '[':
			if len(stack) >= jsonDepthMax {
				return false
			}
			d.i++
			closing := byte('}')
			if c == '[' {
				closing = ']'
			}
			if d.peek() == closing {
				d.i++
				break // an empty container is a whole value
			}
			stack = append(stack, c)
			if c == '{' && !d.key() {
				return false
			}
			continue // the container's first value
		case c == '"':
			if _, ok := d.str(); !ok {
				return false
			}
		case c == 't':
			if !d.literal("true") {
				return false
			}
		case c == 'f':
			if !d.literal("false") {
				return false
			}
		case c == 'n':
			if !d.literal("null") {
				return false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if !d.number() {
				return false
			}
		default:
			return false
		}
		// After a value: close containers, or move to the next element.
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			c := d.peek()
			if c == ',' {
				d.i++
				if top == '{' && !d.key() {
					return false
				}
				break
			}
			if (top == '{' && c != '}') || (top == '[' && c != ']') {
				return false
			}
			d.i++
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return true
		}
	}
}

// key reads `"name" :` inside an object being skipped.
func (d *txDecoder) key() bool {
	if d.peek() != '"' {
		return false
	}
	if _, ok := d.str(); !ok || d.peek() != ':' {
		return false
	}
	d.i++
	return true
}

// number passes over a JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (d *txDecoder) number() bool {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return true
}

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
