// Package kv is the state that gateway replicas share: small values with a time to live,
// read and written by key, with the few atomic operations the gateway needs (take once,
// compare and swap, count in a window, capped lists). [NewMemory] keeps it in one
// process, the default of a single gateway and of 'ws up --local'; package
// internal/kv/rediskv keeps it in Redis for several replicas. [Sealed] encrypts and
// authenticates every value with the replicas' secret, so what Redis holds is neither
// readable nor forgeable without it.
package kv

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for a key that does not exist (or has expired).
var ErrNotFound = errors.New("kv: not found")

// ErrFull is returned by a memory store that holds its maximum number of live entries:
// the value was not stored (callers treat it as a refusal or leave it uncounted).
var ErrFull = errors.New("kv: store full")

// Store is a shared key-value store. Every value has a time to live (ttl > 0). Keys are
// ASCII without spaces; secrets never appear in them (callers hash them).
type Store interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores val under key for ttl.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Take returns the value of key and deletes it, atomically: of several callers at
	// once, one gets it (single-use links and codes); the others get ErrNotFound.
	Take(ctx context.Context, key string) ([]byte, error)
	// Del deletes keys; missing ones are not an error.
	Del(ctx context.Context, keys ...string) error
	// Swap replaces key's value by new (for ttl) if it is old, atomically, and says
	// whether it did. old == nil: only if key does not exist; new == nil: delete key.
	// Swap(k, v, v, ttl) extends the life of a value still v.
	Swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error)
	// Incr adds one to the counter key and returns it; a new counter lives window
	// (a fixed window, started by the first Incr).
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	// Count returns the counter key (0 when absent).
	Count(ctx context.Context, key string) (int64, error)
	// ListAdd adds member to the list key with score (lists are ordered by score); the
	// list lives ttl from this call.
	ListAdd(ctx context.Context, key, member string, score int64, ttl time.Duration) error
	// List returns the members of key, lowest score first.
	List(ctx context.Context, key string) ([]string, error)
	// ListRemove removes members from the list key.
	ListRemove(ctx context.Context, key string, members ...string) error
	// Ping checks that the store can be reached.
	Ping(ctx context.Context) error
}
