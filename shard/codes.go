package shard

// Code is the closed set of outcomes of a command. The names are the ones the
// API uses in JSON ("status" of an error body), in metrics and in the client.
type Code uint8

const (
	OK Code = iota
	ProjectNotFound
	AssetNotFound
	CustomerNotFound
	WalletNotFound
	TransactionNotFound
	KeyPairNotFound
	AssetIsUsed
	CustomerHasActiveWallets
	ChangeWalletStatusError
	WrongWalletStatus
	CustomerAlreadyExist
	DuplicateReferenceID
	InsufficientFunds
	ValidationError
	LimitExceeded
	AccessDenied
	WrongTransactionStatus // a hold captured or voided from a status that does not allow it
	codeCount
)

var codeNames = [codeCount]string{
	OK:                       "OK",
	ProjectNotFound:          "PROJECT_NOT_FOUND",
	AssetNotFound:            "ASSET_NOT_FOUND",
	CustomerNotFound:         "CUSTOMER_NOT_FOUND",
	WalletNotFound:           "WALLET_NOT_FOUND",
	TransactionNotFound:      "TRANSACTION_NOT_FOUND",
	KeyPairNotFound:          "API_KEY_PAIR_NOT_FOUND",
	AssetIsUsed:              "ASSET_IS_USED",
	CustomerHasActiveWallets: "CUSTOMER_HAS_ACTIVE_WALLETS",
	ChangeWalletStatusError:  "CHANGE_WALLET_STATUS_ERROR",
	WrongWalletStatus:        "WRONG_WALLET_STATUS",
	CustomerAlreadyExist:     "CUSTOMER_ALREADY_EXIST",
	DuplicateReferenceID:     "DuplicateReferenceId",
	InsufficientFunds:        "INSUFFICIENT_FUNDS",
	ValidationError:          "VALIDATION_ERROR",
	LimitExceeded:            "LIMIT_EXCEEDED",
	AccessDenied:             "ACCESS_DENIED",
	WrongTransactionStatus:   "WRONG_TRANSACTION_STATUS",
}

func (c Code) String() string {
	if c < codeCount {
		return codeNames[c]
	}
	return "UNKNOWN_ERROR"
}
