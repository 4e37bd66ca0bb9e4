package kv

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// DefaultMaxEntries bounds a memory store: values, counters and lists together.
const DefaultMaxEntries = 200_000

// Memory is a [Store] in this process's memory, on an injected clock (tests advance it
// instead of sleeping). Several in-process gateways may share one, as replicas share Redis.
type Memory struct {
	clock clockwork.Clock
	max   int

	mu        sync.Mutex
	m         map[string]*entry
	lastSweep time.Time
}

type entry struct {
	val     []byte
	n       int64            // counters
	list    map[string]int64 // lists: member → score
	expires time.Time
}

// NewMemory returns an empty memory store on clock (nil: the real one) holding at most
// max live entries (0: DefaultMaxEntries).
func NewMemory(clock clockwork.Clock, max int) *Memory {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if max <= 0 {
		max = DefaultMaxEntries
	}
	return &Memory{clock: clock, max: max, m: map[string]*entry{}}
}

// live returns key's entry if it has not expired; m.mu is held.
func (m *Memory) live(key string, now time.Time) *entry {
	e := m.m[key]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		delete(m.m, key)
		return nil
	}
	return e
}

// room makes room for one more entry, sweeping expired ones at most once a second when
// the store is full; m.mu is held.
func (m *Memory) room(now time.Time) error {
	if len(m.m) < m.max {
		return nil
	}
	if now.Sub(m.lastSweep) >= time.Second {
		m.lastSweep = now
		for k, e := range m.m {
			if !now.Before(e.expires) {
				delete(m.m, k)
			}
		}
	}
	if len(m.m) >= m.max {
		return ErrFull
	}
	return nil
}

func (m *Memory) put(key string, e *entry, now time.Time) error {
	if m.live(key, now) == nil {
		if err := m.room(now); err != nil {
			return err
		}
	}
	m.m[key] = e
	return nil
}

// Get implements [Store].
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, m.clock.Now())
	if e == nil || e.val == nil {
		return nil, ErrNotFound
	}
	return slices.Clone(e.val), nil
}

// Set implements [Store].
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.put(key, &entry{val: slices.Clone(val), expires: now.Add(ttl)}, now)
}

// Take implements [Store].
func (m *Memory) Take(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, m.clock.Now())
	if e == nil || e.val == nil {
		return nil, ErrNotFound
	}
	delete(m.m, key)
	return e.val, nil
}

// Del implements [Store].
func (m *Memory) Del(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.m, k)
	}
	return nil
}

// Swap implements [Store].
func (m *Memory) Swap(_ context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, now)
	switch {
	case old == nil && e != nil, old != nil && (e == nil || e.val == nil || !bytes.Equal(e.val, old)):
		return false, nil
	case new == nil:
		delete(m.m, key)
		return true, nil
	}
	if err := m.put(key, &entry{val: slices.Clone(new), expires: now.Add(ttl)}, now); err != nil {
		return false, err
	}
	return true, nil
}

// Incr implements [Store].
func (m *Memory) Incr(_ context.Context, key string, window time.Duration) (int64, error) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, now)
	if e == nil {
		e = &entry{expires: now.Add(window)}
		if err := m.put(key, e, now); err != nil {
			return 0, err
		}
	}
	e.n++
	return e.n, nil
}

// Count implements [Store].
func (m *Memory) Count(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.live(key, m.clock.Now()); e != nil {
		return e.n, nil
	}
	return 0, nil
}

// ListAdd implements [Store].
func (m *Memory) ListAdd(_ context.Context, key, member string, score int64, ttl time.Duration) error {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, now)
	if e == nil {
		e = &entry{list: map[string]int64{}}
		if err := m.put(key, e, now); err != nil {
			return err
		}
	}
	e.list[member] = score
	e.expires = now.Add(ttl)
	return nil
}

// List implements [Store].
func (m *Memory) List(_ context.Context, key string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, m.clock.Now())
	if e == nil {
		return nil, nil
	}
	out := make([]string, 0, len(e.list))
	for k := range e.list {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(e.list[a], e.list[b]), cmp.Compare(a, b))
	})
	return out, nil
}

// ListRemove implements [Store].
func (m *Memory) ListRemove(_ context.Context, key string, members ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.live(key, m.clock.Now()); e != nil {
		for _, x := range members {
			delete(e.list, x)
		}
		if len(e.list) == 0 {
			delete(m.m, key)
		}
	}
	return nil
}

// Ping implements [Store].
func (m *Memory) Ping(context.Context) error { return nil }

// Len returns the number of entries held, expired ones not yet swept included (tests,
// benchmarks).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

// FormatInt is strconv.FormatInt base 10, for keys.
func FormatInt(v int64) string { return strconv.FormatInt(v, 10) }
