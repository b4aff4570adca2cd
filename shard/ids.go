package shard

// Server-made ids are a one-letter kind, then fixed-width lowercase Crockford
// base32 digits: the shard (2 digits, < 1024) where the object lives, and its
// dense index inside that partition (7 digits, < 2^35). Indexes are assigned
// in apply order, so every replica derives the same id, and an id is unique
// forever because nothing is ever removed from a partition's slices.
//
//	project  p + index            8 chars
//	asset    a + index            8 chars
//	key pair k + index            8 chars
//	wallet   w + shard + index   10 chars
//	tx       t + shard + index   10 chars
//	entry    e + shard + wallet index + entry index   17 chars

const b32digits = "0123456789abcdefghjkmnpqrstvwxyz"

var b32values = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(b32digits); i++ {
		v[b32digits[i]] = int8(i)
	}
	return v
}()

const (
	shardDigits = 2
	indexDigits = 7
)

func appendB32(dst []byte, v uint64, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		dst = append(dst, b32digits[(v>>(5*uint(i)))&31])
	}
	return dst
}

func parseB32(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		d := b32values[s[i]]
		if d < 0 {
			return 0, false
		}
		v = v<<5 | uint64(d)
	}
	return v, true
}

// WalletID addresses a wallet: its shard and its index in that shard.
type WalletID struct {
	Shard uint16
	Index uint32
}

// TxID addresses a transaction record: the shard of its referenceId and its
// index in that shard.
type TxID struct {
	Shard uint16
	Index uint32
}

func appendLocalID(dst []byte, kind byte, shard uint16, index uint32) []byte {
	dst = append(dst, kind)
	dst = appendB32(dst, uint64(shard), shardDigits)
	return appendB32(dst, uint64(index), indexDigits)
}

func parseLocalID(s string, kind byte) (shard uint16, index uint32, ok bool) {
	if len(s) != 1+shardDigits+indexDigits || s[0] != kind {
		return 0, 0, false
	}
	sh, ok1 := parseB32(s[1 : 1+shardDigits])
	ix, ok2 := parseB32(s[1+shardDigits:])
	if !ok1 || !ok2 || sh >= ShardsMax || ix > IndexMax {
		return 0, 0, false
	}
	return uint16(sh), uint32(ix), true
}

func (w WalletID) String() string { return string(appendLocalID(nil, 'w', w.Shard, w.Index)) }

// AppendText appends the id's text form to dst without allocating.
func (w WalletID) AppendText(dst []byte) []byte { return appendLocalID(dst, 'w', w.Shard, w.Index) }

// ParseWalletID parses a wallet id's text form. It checks the shape only.
func ParseWalletID(s string) (WalletID, bool) {
	sh, ix, ok := parseLocalID(s, 'w')
	return WalletID{sh, ix}, ok
}

func (t TxID) String() string { return string(appendLocalID(nil, 't', t.Shard, t.Index)) }

// AppendText appends the id's text form to dst without allocating.
func (t TxID) AppendText(dst []byte) []byte { return appendLocalID(dst, 't', t.Shard, t.Index) }

// ParseTxID parses a transaction id's text form. It checks the shape only.
func ParseTxID(s string) (TxID, bool) {
	sh, ix, ok := parseLocalID(s, 't')
	return TxID{sh, ix}, ok
}

// EntryID is the text id of the n-th entry of a wallet.
func EntryID(w WalletID, n uint32) string {
	b := make([]byte, 0, 17)
	b = appendLocalID(b, 'e', w.Shard, w.Index)
	return string(appendB32(b, uint64(n), indexDigits))
}

// Meta ids: projects, assets and key pairs live in the meta partition.

func metaID(kind byte, index uint32) string {
	b := make([]byte, 0, 1+indexDigits)
	b = append(b, kind)
	return string(appendB32(b, uint64(index), indexDigits))
}

func parseMetaID(s string, kind byte) (uint32, bool) {
	if len(s) != 1+indexDigits || s[0] != kind {
		return 0, false
	}
	v, ok := parseB32(s[1:])
	if !ok || v > IndexMax {
		return 0, false
	}
	return uint32(v), true
}

// ProjectID is the dense index of a project in the meta partition.
type ProjectID uint32

func (p ProjectID) String() string { return metaID('p', uint32(p)) }

func ParseProjectID(s string) (ProjectID, bool) {
	v, ok := parseMetaID(s, 'p')
	return ProjectID(v), ok
}

// AssetID is the dense index of an asset in the meta partition.
type AssetID uint32

func (a AssetID) String() string { return metaID('a', uint32(a)) }

func ParseAssetID(s string) (AssetID, bool) {
	v, ok := parseMetaID(s, 'a')
	return AssetID(v), ok
}

// KeyPairID is the dense index of a key pair in the meta partition.
type KeyPairID uint32

func (k KeyPairID) String() string { return metaID('k', uint32(k)) }

func ParseKeyPairID(s string) (KeyPairID, bool) {
	v, ok := parseMetaID(s, 'k')
	return KeyPairID(v), ok
}

// ValidCustomerID reports whether s is 1–64 chars of A-Z a-z 0-9 _ . : @ -.
func ValidCustomerID(s string) bool {
	if len(s) == 0 || len(s) > CustomerIDLenMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '.' || c == ':' || c == '@' || c == '-':
		default:
			return false
		}
	}
	return true
}
