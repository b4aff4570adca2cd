package engine

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"

	"github.com/cloudwallet/cloudwallet/shard"
)

// keyCache mirrors what every request needs of the meta partition without
// a trip to its worker: the live key pairs (authentication) and each
// project's placement (routing). The meta group's FSM goroutine writes it
// during apply; request goroutines read it.
type keyCache struct {
	mu       sync.RWMutex // guards pairs
	pairs    map[shard.KeyPairID]shard.KeyPair
	perGroup int // S: set once before the groups open
	// placements[p] is project p's placement; the slice is replaced, never
	// changed, so readers load it without a lock. Written by the FSM
	// goroutine only.
	placements atomic.Pointer[[]shard.Placement]
}

func (k *keyCache) reset(m *shard.Meta) {
	pairs := map[shard.KeyPairID]shard.KeyPair{}
	var placements []shard.Placement
	if m != nil {
		for _, p := range m.Projects() {
			placements = append(placements, shard.Placement{Groups: p.Groups, PerGroup: k.perGroup})
			for _, kp := range m.KeyPairs(p.ID) {
				pairs[kp.ID] = kp
			}
		}
	}
	k.mu.Lock()
	k.pairs = pairs
	k.mu.Unlock()
	k.placements.Store(&placements)
}

// addProject makes a new project known.
func (k *keyCache) addProject(p shard.ProjectView) {
	old := *k.placements.Load()
	next := append(old[:len(old):len(old)], shard.Placement{Groups: p.Groups, PerGroup: k.perGroup})
	k.placements.Store(&next)
}

// placement is a project's placement, or false for a project this node
// has not seen created.
func (k *keyCache) placement(p shard.ProjectID) (shard.Placement, bool) {
	all := *k.placements.Load()
	if int(p) >= len(all) {
		return shard.Placement{}, false
	}
	return all[p], true
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

// revoke forgets a key pair some group has revoked.
func (k *keyCache) revoke(id shard.KeyPairID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.pairs, id)
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
