package kv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/internal/kv"
	"github.com/ws-dev/ws/internal/kv/kvtest"
)

func TestMemory(t *testing.T) {
	clock := clockwork.NewFakeClock()
	kvtest.Run(t, kv.NewMemory(clock, 0), clock.Advance)
}

func TestSealedMemory(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s, err := kv.Sealed(kv.NewMemory(clock, 0), []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	kvtest.Run(t, s, clock.Advance)
}

// TestSealedValues: what the underlying store holds is neither the value nor openable
// under another key or another secret.
func TestSealedValues(t *testing.T) {
	ctx := context.Background()
	mem := kv.NewMemory(nil, 0)
	a, _ := kv.Sealed(mem, []byte("0123456789abcdef0123456789abcdef"))
	b, _ := kv.Sealed(mem, []byte("another secret, 32 bytes or more!"))
	if err := a.Set(ctx, "k1", []byte("glpat-secret-token"), time.Minute); err != nil {
		t.Fatal(err)
	}
	raw, _ := mem.Get(ctx, "k1")
	if len(raw) == 0 || string(raw) == "glpat-secret-token" || containsBytes(raw, "glpat") {
		t.Fatalf("the store holds the value in the clear: %q", raw)
	}
	if _, err := b.Get(ctx, "k1"); !errors.Is(err, kv.ErrTampered) {
		t.Errorf("opened with another secret: %v", err)
	}
	_ = mem.Set(ctx, "k2", raw, time.Minute) // moved to another key
	if _, err := a.Get(ctx, "k2"); !errors.Is(err, kv.ErrTampered) {
		t.Errorf("a value moved to another key opened: %v", err)
	}
	_ = mem.Set(ctx, "k3", []byte("forged by someone with Redis access"), time.Minute)
	if _, err := a.Get(ctx, "k3"); !errors.Is(err, kv.ErrTampered) {
		t.Errorf("a value written without the secret opened: %v", err)
	}
	if _, err := kv.Sealed(mem, []byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}

// TestMemoryFull: a full store refuses new entries but still updates existing ones, and
// makes room once entries expire.
func TestMemoryFull(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	m := kv.NewMemory(clock, 2)
	_ = m.Set(ctx, "a", []byte("1"), time.Second)
	_ = m.Set(ctx, "b", []byte("1"), time.Minute)
	if err := m.Set(ctx, "c", []byte("1"), time.Minute); !errors.Is(err, kv.ErrFull) {
		t.Fatalf("Set on a full store = %v, want ErrFull", err)
	}
	if err := m.Set(ctx, "b", []byte("2"), time.Minute); err != nil {
		t.Fatalf("updating a key of a full store: %v", err)
	}
	clock.Advance(2 * time.Second)
	if err := m.Set(ctx, "c", []byte("1"), time.Minute); err != nil {
		t.Fatalf("Set after an entry expired: %v", err)
	}
}

func containsBytes(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}
