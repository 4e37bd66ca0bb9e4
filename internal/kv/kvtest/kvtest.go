// Package kvtest checks that a [kv.Store] keeps the contract the gateway relies on; the
// memory store and the Redis store run the same checks.
package kvtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/kv"
)

// Run checks s. expire moves s's time on past d (a fake clock's Advance; nil skips the
// expiry checks, for a store on real time).
func Run(t *testing.T, s kv.Store, expire func(d time.Duration)) {
	ctx := context.Background()
	n := 0
	key := func() string { n++; return fmt.Sprintf("kvtest/%s/%d/%d", t.Name(), time.Now().UnixNano(), n) }

	t.Run("SetGetDel", func(t *testing.T) {
		k := key()
		if _, err := s.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
		}
		if err := s.Set(ctx, k, []byte("v1"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, k); err != nil || string(v) != "v1" {
			t.Fatalf("Get = %q, %v; want v1", v, err)
		}
		if err := s.Del(ctx, k, key()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get after Del = %v, want ErrNotFound", err)
		}
	})

	t.Run("TakeOnceAmongMany", func(t *testing.T) {
		k := key()
		if err := s.Set(ctx, k, []byte("link"), time.Minute); err != nil {
			t.Fatal(err)
		}
		var got atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.Take(ctx, k)
				switch {
				case err == nil && string(v) == "link":
					got.Add(1)
				case !errors.Is(err, kv.ErrNotFound):
					t.Errorf("Take = %q, %v", v, err)
				}
			}()
		}
		wg.Wait()
		if got.Load() != 1 {
			t.Fatalf("%d of 16 concurrent Takes got the value, want exactly 1", got.Load())
		}
	})

	t.Run("Swap", func(t *testing.T) {
		k := key()
		steps := []struct {
			old, new string
			nilOld   bool
			nilNew   bool
			want     bool
			after    string // "" = absent
		}{
			{nilOld: true, new: "a", want: true, after: "a"},
			{nilOld: true, new: "b", want: false, after: "a"},
			{old: "x", new: "b", want: false, after: "a"},
			{old: "a", new: "b", want: true, after: "b"},
			{old: "b", new: "b", want: true, after: "b"},
			{old: "a", nilNew: true, want: false, after: "b"},
			{old: "b", nilNew: true, want: true, after: ""},
			{old: "b", new: "c", want: false, after: ""},
		}
		for i, st := range steps {
			var old, nw []byte
			if !st.nilOld {
				old = []byte(st.old)
			}
			if !st.nilNew {
				nw = []byte(st.new)
			}
			ok, err := s.Swap(ctx, k, old, nw, time.Minute)
			if err != nil || ok != st.want {
				t.Fatalf("step %d: Swap(%q→%q) = %v, %v; want %v", i, st.old, st.new, ok, err, st.want)
			}
			v, err := s.Get(ctx, k)
			if st.after == "" && !errors.Is(err, kv.ErrNotFound) || st.after != "" && string(v) != st.after {
				t.Fatalf("step %d: value %q, %v; want %q", i, v, err, st.after)
			}
		}
	})

	t.Run("IncrCount", func(t *testing.T) {
		k := key()
		if c, err := s.Count(ctx, k); err != nil || c != 0 {
			t.Fatalf("Count(missing) = %d, %v", c, err)
		}
		for i := 1; i <= 3; i++ {
			if c, err := s.Incr(ctx, k, time.Minute); err != nil || c != int64(i) {
				t.Fatalf("Incr #%d = %d, %v", i, c, err)
			}
		}
		if c, err := s.Count(ctx, k); err != nil || c != 3 {
			t.Fatalf("Count = %d, %v; want 3", c, err)
		}
	})

	t.Run("Lists", func(t *testing.T) {
		k := key()
		for i, m := range []string{"c", "a", "b"} {
			if err := s.ListAdd(ctx, k, m, int64(10-i), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.List(ctx, k); err != nil || fmt.Sprint(got) != "[b a c]" {
			t.Fatalf("List = %v, %v; want [b a c] (by score)", got, err)
		}
		if err := s.ListRemove(ctx, k, "a", "zz"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.List(ctx, k); fmt.Sprint(got) != "[b c]" {
			t.Fatalf("List after remove = %v", got)
		}
	})

	if expire == nil {
		return
	}
	t.Run("Expiry", func(t *testing.T) {
		v, c, l := key(), key(), key()
		_ = s.Set(ctx, v, []byte("x"), time.Second)
		_, _ = s.Incr(ctx, c, time.Second)
		_ = s.ListAdd(ctx, l, "m", 1, time.Second)
		expire(2 * time.Second)
		if _, err := s.Get(ctx, v); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("value lived past its TTL: %v", err)
		}
		if n, _ := s.Count(ctx, c); n != 0 {
			t.Errorf("counter lived past its window: %d", n)
		}
		if m, _ := s.List(ctx, l); len(m) != 0 {
			t.Errorf("list lived past its TTL: %v", m)
		}
	})
}
