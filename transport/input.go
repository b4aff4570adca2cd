package transport

import (
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/cloudwallet/cloudwallet/shard"
)

// decodeJSON decodes a request body strictly (go-json-experiment/json, the
// module encoding/json/v2 comes from): object keys match the field names
// exactly, a key twice in one object is refused, and so is invalid UTF-8 —
// raw, or an escaped lone surrogate. encoding/json would match keys in any
// case, keep the last duplicate and replace bad bytes with U+FFFD: two
// different bodies would then mean the same request, and a proxy or WAF in
// front could read a body differently from the server. Anything refused is
// ILLEGAL_DATA; unknown fields are ignored.
func decodeJSON(body []byte, v any) *apiError {
	if len(body) == 0 {
		return badData("a JSON body is required")
	}
	if err := jsonv2.Unmarshal(body, v); err != nil {
		return jsonRefusal(body, err)
	}
	return nil
}

// jsonRefusal explains why a body was refused, most specific reason first.
func jsonRefusal(body []byte, err error) *apiError {
	var sem *jsonv2.SemanticError
	switch {
	case !utf8.Valid(body):
		return badData("the body is not valid UTF-8")
	case errors.Is(err, jsontext.ErrDuplicateName):
		return badData("the body has a key twice in one object")
	case errors.As(err, &sem) && len(sem.JSONPointer) > 1:
		return badData("field " + strings.TrimPrefix(string(sem.JSONPointer), "/") + " has the wrong JSON type")
	}
	return badData("the body is not valid JSON of the expected shape (UTF-8, one value, each key once)")
}

// checkText validates an optional or required free-text field.
func checkText(field string, s *string, required bool, maxLen int) *apiError {
	if s == nil {
		if required {
			return invalid(field + " is required")
		}
		return nil
	}
	if required && *s == "" {
		return invalid(field + " must not be empty")
	}
	if len(*s) > maxLen || !utf8.ValidString(*s) {
		return invalid(field + " must be valid UTF-8 of at most " + strconv.Itoa(maxLen) + " bytes")
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var maxAmount = new(big.Rat).SetInt64(shard.AmountMax)

const (
	// amountTextLenMax bounds the text of a JSON number amount.
	amountTextLenMax = 64
	// amountExponentMax bounds its exponent: with at most 64 characters of
	// digits, anything past 10^±100 is far outside 1..2^63-1 or not whole.
	amountExponentMax = 100
)

// splitExponent splits a JSON number into the part before e/E and the
// exponent's value, saturated past ±amountExponentMax (no overflow).
func splitExponent(num []byte) (mantissa []byte, exp int) {
	i := strings.IndexAny(string(num), "eE")
	if i < 0 {
		return num, 0
	}
	digits, sign := num[i+1:], 1
	if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
		if digits[0] == '-' {
			sign = -1
		}
		digits = digits[1:]
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return num[:i], 0 // not a number: big.Rat refuses it
		}
		if exp <= amountExponentMax {
			exp = exp*10 + int(d-'0')
		}
	}
	return num[:i], sign * exp
}

// parseAmount reads an amount: a JSON number, or a string of digits. A
// value with a fractional part is FRACTION_IN_AMOUNT_NOT_VALID; anything
// else outside 1..2^63-1 is VALIDATION_ERROR.
func parseAmount(field string, raw []byte) (int64, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, invalid(field + " is required")
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" || len(s) > 19 {
			return 0, invalid(field + " must be a whole number from 1 to 2^63-1")
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				if s[i] == '.' {
					return 0, errf(400, codeFraction, field+" has a fractional part; amounts count the asset's smallest parts")
				}
				return 0, invalid(field + " must be a string of digits")
			}
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			return 0, invalid(field + " must be a whole number from 1 to 2^63-1")
		}
		return v, nil
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, badData(field + " must be a number")
	}
	if v, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		if v < 1 {
			return 0, invalid(field + " must be at least 1")
		}
		return v, nil
	}
	// 10.5, 1e3, huge. Bound the text and the exponent before big.Rat sees
	// them: it would compute 10^999999 for 1e-999999 (30 ms of CPU).
	if len(raw) > amountTextLenMax {
		return 0, invalid(field + " must be a whole number from 1 to 2^63-1")
	}
	mantissa, exp := splitExponent(raw)
	if exp < -amountExponentMax || exp > amountExponentMax {
		switch {
		case strings.Trim(string(mantissa), "-0.") == "":
			return 0, invalid(field + " must be at least 1")
		case exp < 0: // at most 63 digits times 10^-101: not whole
			return 0, errf(400, codeFraction, field+" has a fractional part; amounts count the asset's smallest parts")
		}
		return 0, invalid(field + " must be a whole number from 1 to 2^63-1")
	}
	r, ok := new(big.Rat).SetString(string(raw))
	if !ok {
		return 0, badData(field + " must be a number")
	}
	if !r.IsInt() {
		return 0, errf(400, codeFraction, field+" has a fractional part; amounts count the asset's smallest parts")
	}
	if r.Sign() < 1 || r.Cmp(maxAmount) > 0 {
		return 0, invalid(field + " must be a whole number from 1 to 2^63-1")
	}
	return r.Num().Int64(), nil
}

// pageParams reads page (required, 0-based) and pageSize (default 20).
func pageParams(q func(string) (string, bool)) (page, size int, err *apiError) {
	p, ok := q("page")
	if !ok {
		return 0, 0, invalid("page is required (0-based)")
	}
	page, e := strconv.Atoi(p)
	if e != nil || page < 0 || page > 1<<31-1 {
		return 0, 0, invalid("page must be a whole number ≥ 0")
	}
	size = shard.PageSizeDefault
	if s, ok := q("pageSize"); ok {
		size, e = strconv.Atoi(s)
		if e != nil || size < 1 || size > shard.PageSizeMax {
			return 0, 0, invalid("pageSize must be from 1 to " + strconv.Itoa(shard.PageSizeMax))
		}
	}
	return page, size, nil
}

// timeRange reads from (default 0) and to (default: no end), epoch ms.
func timeRange(q func(string) (string, bool)) (from, to int64, err *apiError) {
	from, to = 0, 1<<63-1
	if s, ok := q("from"); ok {
		v, e := strconv.ParseInt(s, 10, 64)
		if e != nil || v < 0 {
			return 0, 0, invalid("from must be epoch milliseconds")
		}
		from = v
	}
	if s, ok := q("to"); ok {
		v, e := strconv.ParseInt(s, 10, 64)
		if e != nil || v < 0 {
			return 0, 0, invalid("to must be epoch milliseconds")
		}
		to = v
	}
	if from > to {
		return 0, 0, invalid("from must not be after to")
	}
	return from, to, nil
}

// rangedPage is a list request over a time range: from, to, page and
// pageSize.
type rangedPage struct {
	from, to   int64
	page, size int
}

// rangedPageParams reads a time range and a page.
func rangedPageParams(q func(string) (string, bool)) (rangedPage, *apiError) {
	from, to, err := timeRange(q)
	if err != nil {
		return rangedPage{}, err
	}
	page, size, err := pageParams(q)
	if err != nil {
		return rangedPage{}, err
	}
	return rangedPage{from: from, to: to, page: page, size: size}, nil
}
