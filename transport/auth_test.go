package transport

import (
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/client"
	"github.com/cloudwallet/cloudwallet/shard"
)

type keyMap map[shard.KeyPairID]shard.KeyPair

func (k keyMap) KeyPair(id shard.KeyPairID) (shard.KeyPair, bool) {
	kp, ok := k[id]
	return kp, ok
}

// A token remembered as verified must still expire on time and still stop
// working the moment its key pair is deleted.
func TestVerifiedTokenStillExpiresAndIsRevoked(t *testing.T) {
	kp := shard.KeyPair{ID: 1, Project: 0, Secret: "s", SignatureKey: "sig", CreatedAt: 1_700_000_000_000}
	keys := keyMap{kp.ID: kp}
	var cache verifiedCache
	ck, err := client.MintCustomerKey(MintAccessKey(kp), kp.SignatureKey, "alice", 1500*time.Millisecond, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	header := []byte("Bearer " + ck)
	for i := 0; i < 2; i++ { // first verifies, second comes from the cache
		p, e := authenticate(header, "", keys, &cache)
		if e != nil || p.customer != "alice" {
			t.Fatalf("call %d: %v %+v", i, e, p)
		}
	}
	if _, ok := cache.get(ck); !ok {
		t.Fatal("a verified token was not remembered")
	}
	time.Sleep(1600 * time.Millisecond)
	if _, e := authenticate(header, "", keys, &cache); e == nil || e.code != codeExpired {
		t.Fatalf("cached token after exp: %v, want EXPIRED", e)
	}

	ak := []byte("Bearer " + MintAccessKey(kp))
	if _, e := authenticate(ak, "", keys, &cache); e != nil {
		t.Fatal(e)
	}
	delete(keys, kp.ID)
	if _, e := authenticate(ak, "", keys, &cache); e == nil || e.code != codeKeyPairNotFound {
		t.Fatalf("cached token after key pair delete: %v, want API_KEY_PAIR_NOT_FOUND", e)
	}
}

// The scheme name is case-insensitive (RFC 7235 §2.1); anything that is not
// the Bearer scheme is ILLEGAL_TOKEN.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	kp := shard.KeyPair{ID: 1, Project: 0, Secret: "s", SignatureKey: "sig", CreatedAt: 1_700_000_000_000}
	keys := keyMap{kp.ID: kp}
	ak := MintAccessKey(kp)
	for _, scheme := range []string{"Bearer ", "bearer ", "BEARER ", "bEaReR  "} {
		var cache verifiedCache
		if p, e := authenticate([]byte(scheme+ak), "", keys, &cache); e != nil || p.project != kp.Project {
			t.Errorf("%q: %v", scheme, e)
		}
		if p, e := authenticate([]byte(scheme+"op-token"), "op-token", keys, &cache); e != nil || !p.operator {
			t.Errorf("%q with the operator token: %v", scheme, e)
		}
	}
	for _, bad := range []string{"Basic " + ak, "Bearer" + ak, "Bear " + ak, ak, "Bearer"} {
		var cache verifiedCache
		if _, e := authenticate([]byte(bad), "", keys, &cache); e == nil || e.code != codeIllegalToken {
			t.Errorf("%q: want ILLEGAL_TOKEN, got %v", bad, e)
		}
	}
}
