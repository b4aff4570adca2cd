package client

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cloudwallet/cloudwallet/shard"
)

// MintCustomerKey makes a Customer Key from an Access Key, offline, as a
// client's backend does for its users: the Access Key's claims plus
// aud = the customer (and exp when ttl > 0), signed HS256 with the key
// pair's signature key. A Customer Key reaches only its customer's data.
func MintCustomerKey(accessKey, signatureKey, customer string, ttl time.Duration, now time.Time) (string, error) {
	if !shard.ValidCustomerID(customer) {
		return "", errors.New("cloudwallet: the customer id must be 1-64 chars of A-Z a-z 0-9 _ . : @ -")
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(accessKey, claims); err != nil {
		return "", errors.New("cloudwallet: the access key is not a JWT: " + err.Error())
	}
	if _, ok := claims["kid"].(string); !ok {
		return "", errors.New("cloudwallet: the access key has no kid claim")
	}
	claims["aud"] = customer
	if ttl > 0 {
		claims["exp"] = now.Add(ttl).Unix()
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(signatureKey))
}
