package shard

// keyIndex maps a key the client chose within a project (a customer id, a
// referenceId) to the dense index of its record in a shard.
//
// It keys by a 64-bit hash of (project, key), not by the key: the record
// already holds the key, and a lookup checks it there. An entry then costs
// a hash and an index instead of a string header, a copy of the key and
// the index — about 30 bytes less for every customer and every
// transaction. Two keys with the same hash are rare; the later one goes to
// spill, keyed by the full key. The results never depend on the hash, only
// the memory does.
type keyIndex struct {
	byHash map[uint64]uint32
	spill  map[string]uint32 // projectKey → index, for keys whose hash was taken
}

func newKeyIndex() keyIndex { return keyIndex{byHash: map[uint64]uint32{}} }

// keyHash is the hash the indexes use; a test swaps it to force collisions.
var keyHash = fnvKeyHash

// fnvKeyHash is FNV-1a over the project and the key.
func fnvKeyHash(p ProjectID, key string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < 4; i++ {
		h = (h ^ uint64(byte(p>>(8*i)))) * prime
	}
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * prime
	}
	return h
}

// get finds the index whose record is (p, key); is reports whether the
// record at an index is.
func (x *keyIndex) get(p ProjectID, key string, is func(i uint32) bool) (uint32, bool) {
	i, ok := x.byHash[keyHash(p, key)]
	if !ok {
		return 0, false // no key with this hash: not present, not even spilled
	}
	if is(i) {
		return i, true
	}
	if x.spill == nil {
		return 0, false
	}
	i, ok = x.spill[projectKey(p, key)]
	return i, ok
}

// put adds a key that get did not find.
func (x *keyIndex) put(p ProjectID, key string, i uint32) {
	h := keyHash(p, key)
	if _, taken := x.byHash[h]; !taken {
		x.byHash[h] = i
		return
	}
	if x.spill == nil {
		x.spill = map[string]uint32{}
	}
	x.spill[projectKey(p, key)] = i
}
