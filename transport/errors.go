package transport

import (
	"errors"
	"net/http"

	"github.com/cloudwallet/cloudwallet/engine"
	"github.com/cloudwallet/cloudwallet/shard"
)

// apiError is an error answer: HTTP status and the body's status code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, msg string) *apiError { return &apiError{status, code, msg} }

// Error codes of API.md §3 that are not shard codes.
const (
	codeIllegalData     = "ILLEGAL_DATA"
	codeValidation      = "VALIDATION_ERROR"
	codeFraction        = "FRACTION_IN_AMOUNT_NOT_VALID"
	codeNoKey           = "NO_KEY"
	codeIllegalToken    = "ILLEGAL_TOKEN"
	codeIllegalSig      = "ILLEGAL_SIGNATURE"
	codeExpired         = "EXPIRED"
	codeKeyPairNotFound = "API_KEY_PAIR_NOT_FOUND"
	codeAccessDenied    = "ACCESS_DENIED"
	codeNotFound        = "NOT_FOUND"
	codeLimitExceeded   = "LIMIT_EXCEEDED"
	codeUnknown         = "UNKNOWN_ERROR"
	codeUnavailable     = "UNAVAILABLE"
)

func badData(msg string) *apiError      { return errf(http.StatusBadRequest, codeIllegalData, msg) }
func invalid(msg string) *apiError      { return errf(http.StatusBadRequest, codeValidation, msg) }
func denied(msg string) *apiError       { return errf(http.StatusForbidden, codeAccessDenied, msg) }
func unauth(code, msg string) *apiError { return errf(http.StatusUnauthorized, code, msg) }

// codeHTTP is the HTTP status (API.md §3) and default message of each
// shard code a non-transaction command can fail with.
var codeHTTP = map[shard.Code]struct {
	status int
	msg    string
}{
	shard.ProjectNotFound:          {http.StatusNotFound, "project not found"},
	shard.AssetNotFound:            {http.StatusNotFound, "asset not found"},
	shard.CustomerNotFound:         {http.StatusNotFound, "customer not found"},
	shard.WalletNotFound:           {http.StatusNotFound, "wallet not found"},
	shard.TransactionNotFound:      {http.StatusNotFound, "transaction not found"},
	shard.KeyPairNotFound:          {http.StatusNotFound, "key pair not found"},
	shard.AssetIsUsed:              {http.StatusForbidden, "the asset has wallets and cannot be deleted"},
	shard.CustomerHasActiveWallets: {http.StatusForbidden, "every wallet of the customer must be Closed first"},
	shard.ChangeWalletStatusError:  {http.StatusForbidden, "the wallet status cannot change that way"},
	shard.WrongWalletStatus:        {http.StatusForbidden, "the customer is not Active"},
	shard.CustomerAlreadyExist:     {http.StatusConflict, "the customer was deleted and cannot come back"},
	shard.ValidationError:          {http.StatusBadRequest, "validation failed"},
	shard.LimitExceeded:            {http.StatusUnprocessableEntity, "a limit was reached"},
	shard.WrongTransactionStatus:   {http.StatusConflict, "the hold cannot move that way"},
	shard.AccessDenied:             {http.StatusForbidden, "a Customer Key changes only its own customer and wallets, and not once the customer is deleted"},
}

// refused turns a write's refusal into an error. A key's write refused
// with KeyPairNotFound met its key pair's revocation in the log: that is
// the key's failure (401), not a missing object's.
func (c *call) refused(r shard.Result) *apiError {
	if r.Code == shard.KeyPairNotFound && !c.who.operator {
		return unauth(codeKeyPairNotFound, "the key pair of this key was deleted")
	}
	return fromResult(r)
}

// fromResult turns a failed (non-transaction) command result into an error.
func fromResult(r shard.Result) *apiError {
	h, ok := codeHTTP[r.Code]
	if !ok {
		return errf(http.StatusInternalServerError, codeUnknown, "unexpected result "+r.Code.String())
	}
	msg := h.msg
	if s, ok := r.Value.(string); ok && s != "" {
		msg = s
	}
	return errf(h.status, r.Code.String(), msg)
}

// fromEngine maps the engine's operating errors.
func fromEngine(err error) *apiError {
	switch {
	case errors.Is(err, engine.ErrOverloaded):
		return errf(http.StatusTooManyRequests, codeLimitExceeded, "the server is at capacity; retry shortly")
	case errors.Is(err, engine.ErrUnavailable):
		return errf(http.StatusServiceUnavailable, codeUnavailable, "no quorum or shutting down; safe to retry")
	case errors.Is(err, engine.ErrOutcomeUnknown):
		return errf(http.StatusServiceUnavailable, codeUnavailable, "the outcome is not known yet; retry with the same request")
	}
	return errf(http.StatusInternalServerError, codeUnknown, err.Error())
}

// unsettled answers a read that could not finish first the transactions
// across groups holding what it reads (engine/held.go).
func unsettled(err error) *apiError {
	if errors.Is(err, engine.ErrOverloaded) {
		return fromEngine(err)
	}
	return errf(http.StatusServiceUnavailable, codeUnavailable,
		"a transaction across groups that holds what this reads could not be finished yet (no quorum?); retry, or read with ?consistency=stale")
}

func notFound(c shard.Code) *apiError { return fromResult(shard.Result{Code: c}) }
