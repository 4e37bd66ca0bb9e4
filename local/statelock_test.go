package local

import (
	"sync"
	"testing"
)

// ws up and its supervisor update the state file at the same time (two processes); no
// change may be lost. Two writers each count in a field of their own: every increment must
// be there at the end (without the lock, one's save overwrote the other's change).
func TestStateUpdatesAreNotLost(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, &State{Name: "demo"}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	for _, field := range []func(*State) *int{func(s *State) *int { return &s.PID }, func(s *State) *int { return &s.WatchdogPID }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if _, err := update(dir, func(s *State) { *field(s)++ }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != n || st.WatchdogPID != n {
		t.Fatalf("PID %d, WatchdogPID %d; want %d each (updates were lost)", st.PID, st.WatchdogPID, n)
	}
}
