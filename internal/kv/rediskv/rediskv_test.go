package rediskv_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ws-dev/ws/internal/kv"
	"github.com/ws-dev/ws/internal/kv/kvtest"
	"github.com/ws-dev/ws/internal/kv/rediskv"
	"github.com/ws-dev/ws/internal/testutil/realserver"
)

// TestRedis runs the store contract against a real redis-server.
func TestRedis(t *testing.T) {
	r := realserver.StartRedis(t)
	s, err := rediskv.New(rediskv.Options{URL: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kvtest.Run(t, s, nil)
	sealed, _ := kv.Sealed(s, []byte("0123456789abcdef0123456789abcdef"))
	t.Run("Sealed", func(t *testing.T) { kvtest.Run(t, sealed, nil) })
}

// TestRedisErrorsCounted: a Redis that went away is an error, counted, never a panic.
func TestRedisErrorsCounted(t *testing.T) {
	r := realserver.StartRedis(t)
	var n atomic.Int32
	s, err := rediskv.New(rediskv.Options{URL: r.URL(), OnError: func(error) { n.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if _, err := s.Get(ctx, "x"); err == nil {
		t.Fatal("Get with Redis stopped succeeded")
	}
	if n.Load() == 0 {
		t.Error("the error was not reported to OnError")
	}
	r.Start(t)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after Redis came back: %v", err)
	}
}

func TestURLs(t *testing.T) {
	for _, c := range []struct{ url, err string }{
		{"redis://:pw@localhost:6379/2", ""},
		{"rediss://user:pw@redis.example.com:6380/0", ""},
		{"unix:///run/redis.sock", ""},
		{"redis+sentinel://:pw@s1:26379?master_name=ws&addr=s2:26379", ""},
		{"redis+sentinel://s1:26379", "master_name"},
		{"redis+cluster://n1:6379?addr=n2:6379", ""},
		{"redis+cluster://n1:6379?bogus=1", "bogus"},
		{"mysql://:secretpw@db/x", "unknown scheme"},
		{"localhost:6379", "want redis://"},
	} {
		s, err := rediskv.New(rediskv.Options{URL: c.url})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("New(%s) = %v", c.url, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("New(%s) = %v, want an error saying %q", c.url, err, c.err)
		case err != nil && strings.Contains(err.Error(), "secretpw"):
			t.Errorf("New(%s): the error shows the password: %v", c.url, err)
		}
		if s != nil {
			s.Close()
		}
	}
}
