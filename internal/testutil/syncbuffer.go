package testutil

import (
	"bytes"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers, for
// capturing the logs of servers and agents under test. WaitFor waits for
// what a test expects to be written, woken by each write: no polling.
type SyncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// next returns the contents and a channel closed by the next write.
func (s *SyncBuffer) next() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.b.String(), s.changed
}

// WaitFor waits until the contents match re at least n times and returns
// the contents. It fails t after limit, which only bounds a broken run: a
// healthy one returns as soon as the write arrives.
func (s *SyncBuffer) WaitFor(t testing.TB, limit time.Duration, n int, re string) string {
	t.Helper()
	got, err := s.Wait(limit, n, regexp.MustCompile(re))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Wait is WaitFor returning an error instead of failing a test.
func (s *SyncBuffer) Wait(limit time.Duration, n int, re *regexp.Regexp) (string, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		got, changed := s.next()
		if len(re.FindAllStringIndex(got, n)) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return got, fmt.Errorf("%d× %q not written within %s; got:\n%s", n, re, limit, got)
		}
	}
}
