package compiler

import "testing"

func TestParseMinutes(t *testing.T) {
	for in, want := range map[string]int{"4h": 240, "90m": 90, "2h30m": 150, "1h 30m": 90, "3600s": 60, "61s": 2, "1 day": 1440, "0": 0, "2 hours": 120} {
		if got, err := parseMinutes(in); err != nil || got != want {
			t.Errorf("parseMinutes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "forever", "4x", "-1h", "h"} {
		if _, err := parseMinutes(in); err == nil {
			t.Errorf("parseMinutes(%q): want error", in)
		}
	}
	if got := gitlabDuration(150); got != "2h 30m" {
		t.Errorf("gitlabDuration(150) = %q", got)
	}
	// RUNNER_SCRIPT_TIMEOUT is a backstop a minute after the agent's own stop.
	for min, want := range map[int]string{240: "3h51m", 60: "51m", 30: "25m", 10: "9m", 2: "1m30s"} {
		if got := scriptTimeout(min); got != want {
			t.Errorf("scriptTimeout(%d) = %q, want %q", min, got, want)
		}
	}
}
