package transport

import (
	"testing"

	"github.com/cloudwallet/cloudwallet/shard"
)

type oneKey shard.KeyPair

func (k oneKey) KeyPair(id shard.KeyPairID) (shard.KeyPair, bool) {
	return shard.KeyPair(k), id == k.ID
}

// BenchmarkAuthenticate is the per-request cost of verifying an Access Key:
// the first sight of a token (a full JWT verification) and every later one.
func BenchmarkAuthenticate(b *testing.B) {
	kp := shard.KeyPair{ID: 3, Project: 1, Secret: "secret-secret-secret", SignatureKey: "sig", CreatedAt: 1_700_000_000_000}
	header := []byte("Bearer " + MintAccessKey(kp))
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := authenticate(header, "op", oneKey(kp), &verifiedCache{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		var cache verifiedCache
		b.ReportAllocs()
		for b.Loop() {
			if _, err := authenticate(header, "op", oneKey(kp), &cache); err != nil {
				b.Fatal(err)
			}
		}
	})
}
