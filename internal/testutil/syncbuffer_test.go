package testutil

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSyncBufferWait: a waiter wakes on the write that completes the
// match, counts matches, and reports what was written when it gives up.
func TestSyncBufferWait(t *testing.T) {
	var b SyncBuffer
	written := make(chan struct{})
	go func() {
		for _, s := range []string{"conn", "ected\n", "other\n", "connected\n"} {
			if _, err := b.Write([]byte(s)); err != nil {
				t.Error(err)
			}
		}
		close(written)
	}()
	got := b.WaitFor(t, time.Minute, 2, `connected\n`)
	if strings.Count(got, "connected\n") != 2 {
		t.Errorf("WaitFor returned %q", got)
	}
	<-written
	if _, err := b.Wait(0, 3, regexp.MustCompile(`connected`)); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("Wait for a third match = %v, want an error showing the contents", err)
	}
}
