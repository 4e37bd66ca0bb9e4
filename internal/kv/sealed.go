package kv

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"time"
)

// sealed encrypts and authenticates the values of a Store (AES-256-GCM, keys derived from
// a secret with HKDF). The key a value is stored under is its associated data, so a value
// cannot be moved to another key. The nonce is an HMAC of key and value (a synthetic IV):
// the same value under the same key seals to the same bytes, which is what lets Swap
// compare sealed values. Counters and lists (hashes and numbers) are not sealed.
type sealed struct {
	Store
	aead  cipher.AEAD
	nonce []byte // HMAC key of the synthetic nonce
}

// ErrTampered is returned for a value that does not open with the secret: written by
// someone without it, or under another secret.
var ErrTampered = errors.New("kv: value does not open with the replica secret")

// Sealed returns s with every value sealed with secret (at least 32 bytes).
func Sealed(s Store, secret []byte) (Store, error) {
	if len(secret) < 32 {
		return nil, errors.New("kv: the secret must be at least 32 bytes")
	}
	ek, err := hkdf.Key(sha256.New, secret, nil, "ws gateway kv encryption", 32)
	if err != nil {
		return nil, err
	}
	nk, err := hkdf.Key(sha256.New, secret, nil, "ws gateway kv nonce", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(ek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealed{Store: s, aead: aead, nonce: nk}, nil
}

func (s *sealed) seal(key string, v []byte) []byte {
	if v == nil {
		return nil
	}
	mac := hmac.New(sha256.New, s.nonce)
	mac.Write([]byte(key))
	mac.Write([]byte{0})
	mac.Write(v)
	n := mac.Sum(nil)[:s.aead.NonceSize()]
	return s.aead.Seal(n, n, v, []byte(key))
}

func (s *sealed) open(key string, b []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(b) < ns {
		return nil, ErrTampered
	}
	v, err := s.aead.Open(nil, b[:ns], b[ns:], []byte(key))
	if err != nil {
		return nil, ErrTampered
	}
	return v, nil
}

func (s *sealed) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.open(key, b)
}

func (s *sealed) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return s.Store.Set(ctx, key, s.seal(key, val), ttl)
}

func (s *sealed) Take(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.Take(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.open(key, b)
}

func (s *sealed) Swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	return s.Store.Swap(ctx, key, s.seal(key, old), s.seal(key, new), ttl)
}
