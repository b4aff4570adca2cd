package client

import (
	"errors"
	"fmt"
)

// Error codes the API answers with (docs/API.md §3). A Failed transaction
// carries one of the transaction codes in APIError.Code, with the index of
// the operation that failed.
const (
	CodeIllegalData            = "ILLEGAL_DATA"
	CodeValidation             = "VALIDATION_ERROR"
	CodeFractionInAmount       = "FRACTION_IN_AMOUNT_NOT_VALID"
	CodeNoKey                  = "NO_KEY"
	CodeIllegalToken           = "ILLEGAL_TOKEN"
	CodeIllegalSignature       = "ILLEGAL_SIGNATURE"
	CodeExpired                = "EXPIRED"
	CodeKeyPairNotFound        = "API_KEY_PAIR_NOT_FOUND"
	CodeAccessDenied           = "ACCESS_DENIED"
	CodeNotFound               = "NOT_FOUND"
	CodeLimitExceeded          = "LIMIT_EXCEEDED"
	CodeUnavailable            = "UNAVAILABLE"
	CodeUnknown                = "UNKNOWN_ERROR"
	CodeProjectNotFound        = "PROJECT_NOT_FOUND"
	CodeAssetNotFound          = "ASSET_NOT_FOUND"
	CodeCustomerNotFound       = "CUSTOMER_NOT_FOUND"
	CodeWalletNotFound         = "WALLET_NOT_FOUND"
	CodeTransactionNotFound    = "TRANSACTION_NOT_FOUND"
	CodeAssetIsUsed            = "ASSET_IS_USED"
	CodeCustomerHasWallets     = "CUSTOMER_HAS_ACTIVE_WALLETS"
	CodeChangeWalletStatus     = "CHANGE_WALLET_STATUS_ERROR"
	CodeWrongWalletStatus      = "WRONG_WALLET_STATUS"
	CodeCustomerAlreadyExist   = "CUSTOMER_ALREADY_EXIST"
	CodeDuplicateReferenceID   = "DuplicateReferenceId"
	CodeInsufficientFunds      = "INSUFFICIENT_FUNDS"
	CodeWrongTransactionStatus = "WRONG_TRANSACTION_STATUS"
)

// NoOperation is APIError.OperationIndex when no operation is to blame.
const NoOperation = -1

// APIError is an answer the API gave that is not a success: its HTTP
// status, its code and message, and for a Failed transaction the index
// of the operation that failed (else NoOperation). Match it with
// errors.As and compare Code, never the message.
type APIError struct {
	HTTPStatus     int
	Code           string
	Message        string
	OperationIndex int
}

func (e *APIError) Error() string {
	if e.OperationIndex != NoOperation {
		return fmt.Sprintf("cloudwallet: %d %s at operation %d: %s", e.HTTPStatus, e.Code, e.OperationIndex, e.Message)
	}
	return fmt.Sprintf("cloudwallet: %d %s: %s", e.HTTPStatus, e.Code, e.Message)
}

// IsCode reports whether err is an APIError with this code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// ErrOutcomeUnknown: a write's outcome was still not known when its
// context ended (no answer, 202 Waiting or 503 to every try). It may yet
// apply; ask again with the same referenceId.
var ErrOutcomeUnknown = errors.New("cloudwallet: the outcome is not known yet; retry with the same referenceId")

// failedTx is the error of a Failed transaction.
func failedTx(tx *Transaction) *APIError {
	if tx.Error == nil {
		return &APIError{HTTPStatus: 422, Code: "FAILED", Message: "the transaction failed", OperationIndex: NoOperation}
	}
	return &APIError{HTTPStatus: 422, Code: tx.Error.Code, Message: tx.Error.Message, OperationIndex: tx.Error.OperationIndex}
}
