package engine

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"

	"github.com/cloudwallet/cloudwallet/shard"
)

// keyCache mirrors the live key pairs and the project count for request
// authentication. The FSM goroutine writes it during apply; request
// goroutines read it.
type keyCache struct {
	mu       sync.RWMutex // guards pairs
	pairs    map[shard.KeyPairID]shard.KeyPair
	projects atomic.Uint64 // written by the FSM goroutine only
}

func (k *keyCache) reset(m *shard.Meta) {
	pairs := map[shard.KeyPairID]shard.KeyPair{}
	var projects uint64
	if m != nil {
		for _, p := range m.Projects() {
			projects++
			for _, kp := range m.KeyPairs(p.ID) {
				pairs[kp.ID] = kp
			}
		}
	}
	k.mu.Lock()
	k.pairs = pairs
	k.mu.Unlock()
	k.projects.Store(projects)
}

func (k *keyCache) put(kp shard.KeyPair) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kp.Deleted {
		delete(k.pairs, kp.ID)
	} else {
		k.pairs[kp.ID] = kp
	}
}

func (k *keyCache) get(id shard.KeyPairID) (shard.KeyPair, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	kp, ok := k.pairs[id]
	return kp, ok
}

// NewKeyPairCommand draws the secrets of a new key pair.
func NewKeyPairCommand(p shard.ProjectID, name string) *shard.Command {
	return &shard.Command{Kind: shard.CmdCreateKeyPair, Project: p, Name: name,
		Secret: RandomToken(32), SignatureKey: RandomToken(32)}
}

// RandomToken returns n random bytes as unpadded base64url.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("engine: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
