package shard

// Bounds on everything the state machine stores. The transport checks them
// before a command is proposed; the command decoder checks them again so a
// corrupt or hostile log entry cannot make the machine allocate without bound.
const (
	ShardsMax                 = 1024 // ids carry the shard in two base32 digits
	OperationsPerTxMax        = 1000
	ReferenceIDLenMax         = 30
	CustomerIDLenMax          = 64
	NameLenMax                = 200
	DescriptionLenMax         = 1000
	AssetCodeLenMax           = 16
	ResumeWalletsMax          = 1000 // wallet ids in one resume request
	PageSizeMax               = 1000
	PageSizeDefault           = 20
	KeyPairSecretLenMax       = 128
	IndexMax                  = 1<<32 - 1 // dense indexes are uint32
	AmountMax           int64 = 1<<63 - 1
	HoldTimeoutMsMax    int64 = 366 * 24 * 3600 * 1000 // a hold's longest timeout: a year
)
