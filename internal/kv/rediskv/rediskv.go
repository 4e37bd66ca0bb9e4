// Package rediskv is a [kv.Store] in Redis (github.com/redis/go-redis/v9), shared by
// every gateway replica that names the same Redis.
package rediskv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ws-dev/ws/internal/kv"
)

// Prefix starts every key ws writes, so a Redis shared with other programs stays tidy.
const Prefix = "ws:"

// Options configures [New].
type Options struct {
	// URL names the Redis: redis://[user:password@]host:port/db, rediss:// for TLS,
	// unix:///path; redis+sentinel:// (rediss+sentinel://) with ?master_name=NAME and more
	// sentinels as &addr=host:port; redis+cluster:// (rediss+cluster://) with more nodes as
	// &addr=host:port. Other query parameters are go-redis options (dial_timeout=3s, ...).
	URL string
	// OnError is called with every error Redis answers or the network gives (not "no
	// such key"): the gateway counts them.
	OnError func(error)
}

// Store is a [kv.Store] in Redis.
type Store struct {
	c       redis.UniversalClient
	onError func(error)
}

var _ kv.Store = (*Store)(nil)

// New connects to the Redis of o.URL (lazily: the first command dials).
func New(o Options) (*Store, error) {
	c, err := client(o.URL)
	if err != nil {
		return nil, err
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	return &Store{c: c, onError: o.OnError}, nil
}

// client builds the go-redis client of raw.
func client(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return nil, fmt.Errorf("redis URL %s: want redis://host:port[/db], rediss://, unix://, redis+sentinel:// or redis+cluster://", Redact(raw))
	}
	base, mode, _ := strings.Cut(u.Scheme, "+")
	if base != "redis" && base != "rediss" && (base != "unix" || mode != "") {
		return nil, fmt.Errorf("redis URL %s: unknown scheme %q: want redis://host:port[/db], rediss://, unix://, redis+sentinel:// or redis+cluster://", Redact(raw), u.Scheme)
	}
	plain := *u
	plain.Scheme = base
	switch mode {
	case "":
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("redis URL %s: %w", Redact(raw), err)
		}
		return redis.NewClient(opt), nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(plain.String())
		if err != nil {
			return nil, fmt.Errorf("redis URL %s: %w", Redact(raw), err)
		}
		if opt.MasterName == "" {
			return nil, fmt.Errorf("redis URL %s: a sentinel URL needs ?master_name=NAME", Redact(raw))
		}
		return redis.NewFailoverClient(opt), nil
	case "cluster":
		opt, err := redis.ParseClusterURL(plain.String())
		if err != nil {
			return nil, fmt.Errorf("redis URL %s: %w", Redact(raw), err)
		}
		return redis.NewClusterClient(opt), nil
	}
	return nil, fmt.Errorf("redis URL %s: unknown scheme %q", Redact(raw), u.Scheme)
}

// Redact returns raw with its password replaced, for logs and errors.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close closes the connections.
func (s *Store) Close() error { return s.c.Close() }

// check reports err to OnError unless it is "no such key", and maps that to kv.ErrNotFound.
func (s *Store) check(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return kv.ErrNotFound
	}
	s.onError(err)
	return fmt.Errorf("redis: %w", err)
}

// Get implements [kv.Store].
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.c.Get(ctx, Prefix+key).Bytes()
	if err := s.check(err); err != nil {
		return nil, err
	}
	return b, nil
}

// Set implements [kv.Store].
func (s *Store) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return s.check(s.c.Set(ctx, Prefix+key, val, ttl).Err())
}

// Take implements [kv.Store] with GETDEL: atomic, so one caller gets the value.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	b, err := s.c.GetDel(ctx, Prefix+key).Bytes()
	if err := s.check(err); err != nil {
		return nil, err
	}
	return b, nil
}

// Del implements [kv.Store]. One key at a time: in a cluster the keys may live on
// different nodes.
func (s *Store) Del(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := s.check(s.c.Del(ctx, Prefix+k).Err()); err != nil {
			return err
		}
	}
	return nil
}

// swapScript compares KEYS[1] with ARGV[2] (ARGV[1] = "1": it must be absent instead) and,
// if equal, sets it to ARGV[4] for ARGV[5] ms (ARGV[3] = "1": deletes it instead).
var swapScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
`)

// Swap implements [kv.Store] with a Lua script (one key: cluster-safe).
func (s *Store) Swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	n, err := swapScript.Run(ctx, s.c, []string{Prefix + key}, flag(old == nil), old, flag(new == nil), new, ttl.Milliseconds()).Int()
	if err := s.check(err); err != nil {
		return false, err
	}
	return n == 1, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// incrScript adds one to KEYS[1] and, for a new counter (or one that lost its TTL), sets
// its window of ARGV[1] ms.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// Incr implements [kv.Store].
func (s *Store) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := incrScript.Run(ctx, s.c, []string{Prefix + key}, window.Milliseconds()).Int64()
	if err := s.check(err); err != nil {
		return 0, err
	}
	return n, nil
}

// Count implements [kv.Store].
func (s *Store) Count(ctx context.Context, key string) (int64, error) {
	n, err := s.c.Get(ctx, Prefix+key).Int64()
	if err := s.check(err); err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	return n, nil
}

// ListAdd implements [kv.Store] with a sorted set.
func (s *Store) ListAdd(ctx context.Context, key, member string, score int64, ttl time.Duration) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, Prefix+key, redis.Z{Score: float64(score), Member: member})
		p.PExpire(ctx, Prefix+key, ttl)
		return nil
	})
	return s.check(err)
}

// List implements [kv.Store].
func (s *Store) List(ctx context.Context, key string) ([]string, error) {
	m, err := s.c.ZRange(ctx, Prefix+key, 0, -1).Result()
	if err := s.check(err); err != nil {
		return nil, err
	}
	return m, nil
}

// ListRemove implements [kv.Store].
func (s *Store) ListRemove(ctx context.Context, key string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	return s.check(s.c.ZRem(ctx, Prefix+key, args...).Err())
}

// Ping implements [kv.Store].
func (s *Store) Ping(ctx context.Context) error { return s.check(s.c.Ping(ctx).Err()) }
