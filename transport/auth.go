package transport

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cloudwallet/cloudwallet/shard"
)

// principal is who a request acts as.
type principal struct {
	operator bool
	project  shard.ProjectID
	keyPair  shard.KeyPairID // an Access or Customer Key's key pair
	customer string          // set for a Customer Key: the key's customer id
}

// by is the principal as a write carries it into the log, where it is
// checked when the write applies.
func (p principal) by() shard.By {
	return shard.By{KeyPair: p.keyPair, Keyed: !p.operator, Customer: p.customer}
}

// keySource finds live key pairs (the engine's key cache).
type keySource interface {
	KeyPair(id shard.KeyPairID) (shard.KeyPair, bool)
}

var errKeyPairGone = errors.New("key pair not found")

const bearerPrefix = "Bearer "

// jwtParser accepts HS256 only; it is read-only and shared by all requests.
var jwtParser = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}))

// tokenLenMax bounds the Authorization header we parse.
const tokenLenMax = 4096

// verifiedCache remembers tokens whose signature verified, so a client's
// key costs one map lookup instead of a JWT parse (4.6 µs, 56 allocations)
// on every request. It is keyed by the whole token, signature included, and
// a hit still checks what can change: the key pair must be live (ids are
// never reused, so a live id is the key that verified) and exp must be
// ahead. When full it starts over; clients re-verify once.
type verifiedCache struct {
	mu sync.RWMutex // guards m
	m  map[string]verified
}

type verified struct {
	p       principal
	kid     shard.KeyPairID
	expUnix int64 // 0: no expiry
}

const verifiedCacheMax = 100_000

func (c *verifiedCache) get(tok string) (verified, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[tok]
	return v, ok
}

func (c *verifiedCache) put(tok string, v verified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= verifiedCacheMax {
		c.m = make(map[string]verified)
	}
	c.m[tok] = v
}

// authenticate checks the Authorization header (API.md §2). The checks run
// in the order that makes each 401 code mean one thing: no header, not an
// HS256 JWT, unknown key pair, bad signature, expired.
func authenticate(header []byte, operatorToken string, keys keySource, cache *verifiedCache) (principal, *apiError) {
	if len(header) == 0 {
		return principal{}, unauth(codeNoKey, "the Authorization: Bearer header is missing")
	}
	h := string(header)
	// The scheme is case-insensitive (RFC 7235 §2.1): bearer, BEARER.
	if len(h) < len(bearerPrefix) || !strings.EqualFold(h[:len(bearerPrefix)], bearerPrefix) || len(h) > tokenLenMax {
		return principal{}, unauth(codeIllegalToken, "the Authorization header must be 'Bearer <token>'")
	}
	tok := strings.TrimSpace(h[len(bearerPrefix):])
	if operatorToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(operatorToken)) == 1 {
		return principal{operator: true}, nil
	}
	if v, ok := cache.get(tok); ok {
		if _, live := keys.KeyPair(v.kid); !live {
			return principal{}, unauth(codeKeyPairNotFound, "the key pair of this key does not exist or was deleted")
		}
		if v.expUnix != 0 && time.Now().Unix() >= v.expUnix {
			return principal{}, unauth(codeExpired, "the token has expired")
		}
		return v.p, nil
	}
	if !isHS256(tok) {
		return principal{}, unauth(codeIllegalToken, "the token is not an HS256 JWT")
	}
	var p principal
	var kid shard.KeyPairID
	parsed, err := jwtParser.Parse(tok, func(t *jwt.Token) (any, error) {
		claims := t.Claims.(jwt.MapClaims)
		kidS, _ := claims["kid"].(string)
		prjS, _ := claims["prj"].(string)
		var ok1 bool
		kid, ok1 = shard.ParseKeyPairID(kidS)
		prj, ok2 := shard.ParseProjectID(prjS)
		if !ok1 || !ok2 {
			return nil, errKeyPairGone
		}
		kp, ok := keys.KeyPair(kid)
		if !ok || kp.Project != prj {
			return nil, errKeyPairGone
		}
		p.project, p.keyPair = prj, kid
		aud, err := claims.GetAudience()
		if err != nil || len(aud) > 1 {
			return nil, jwt.ErrTokenMalformed
		}
		if len(aud) == 1 {
			if !shard.ValidCustomerID(aud[0]) {
				return nil, jwt.ErrTokenMalformed
			}
			p.customer = aud[0]
			return []byte(kp.SignatureKey), nil
		}
		return []byte(kp.Secret), nil
	})
	switch {
	case err == nil:
		v := verified{p: p, kid: kid}
		if exp, _ := parsed.Claims.GetExpirationTime(); exp != nil {
			v.expUnix = exp.Unix()
		}
		cache.put(tok, v)
		return p, nil
	case errors.Is(err, errKeyPairGone):
		return principal{}, unauth(codeKeyPairNotFound, "the key pair of this key does not exist or was deleted")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return principal{}, unauth(codeIllegalSig, "the token's signature does not verify")
	case errors.Is(err, jwt.ErrTokenExpired):
		return principal{}, unauth(codeExpired, "the token has expired")
	}
	return principal{}, unauth(codeIllegalToken, "the token is not a well-formed key")
}

// isHS256 checks the JOSE header before any key lookup, so alg "none" or
// any other algorithm is ILLEGAL_TOKEN rather than a signature failure.
func isHS256(tok string) bool {
	dot := strings.IndexByte(tok, '.')
	if dot <= 0 || strings.Count(tok, ".") != 2 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok[:dot])
	if err != nil {
		return false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(raw, &hdr) == nil && hdr.Alg == "HS256"
}

// MintAccessKey signs a key pair's Access Key: claims kid, prj, iat.
func MintAccessKey(kp shard.KeyPair) string {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"kid": kp.ID.String(), "prj": kp.Project.String(), "iat": kp.CreatedAt / 1000,
	})
	s, err := t.SignedString([]byte(kp.Secret))
	if err != nil {
		panic("transport: signing an access key: " + err.Error())
	}
	return s
}
