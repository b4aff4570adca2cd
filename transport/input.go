package transport

import (
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"unicode/utf8"

	"github.com/cloudwallet/cloudwallet/shard"
)

// decodeJSON decodes a request body. Not JSON, or a value of the wrong JSON
// type, is ILLEGAL_DATA; unknown fields are ignored.
func decodeJSON(body []byte, v any) *apiError {
	if len(body) == 0 {
		return badData("a JSON body is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return badData("field " + typeErr.Field + " has the wrong JSON type")
		}
		return badData("the body is not valid JSON of the expected shape")
	}
	return nil
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

// parseAmount reads an amount: a JSON number, or a string of digits. A
// value with a fractional part is FRACTION_IN_AMOUNT_NOT_VALID; anything
// else outside 1..2^63-1 is VALIDATION_ERROR.
func parseAmount(field string, raw json.RawMessage) (int64, *apiError) {
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
	r, ok := new(big.Rat).SetString(string(raw)) // 10.5, 1e3, huge
	if !ok || len(raw) > 64 {
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
