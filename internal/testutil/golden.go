package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Update reports whether golden files should be rewritten (WS_UPDATE=1).
func Update() bool { return os.Getenv("WS_UPDATE") == "1" }

// Golden compares got with the file at path (relative to the test's
// package), or rewrites the file when WS_UPDATE=1. CRLF is normalised.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if Update() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with WS_UPDATE=1 to create it): %v", err)
	}
	w := strings.ReplaceAll(string(want), "\r\n", "\n")
	g := strings.ReplaceAll(string(got), "\r\n", "\n")
	if w != g {
		t.Errorf("%s differs from output (WS_UPDATE=1 rewrites it):\n%s", path, LineDiff(w, g))
	}
}

// LineDiff returns a small line-oriented diff of want and got.
func LineDiff(want, got string) string {
	wl := strings.Split(want, "\n")
	gl := strings.Split(got, "\n")
	var b strings.Builder
	n := max(len(wl), len(gl))
	shown := 0
	for i := 0; i < n && shown < 40; i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("line ")
			b.WriteString(itoa(i + 1))
			b.WriteString(":\n  - want: " + w + "\n  + got:  " + g + "\n")
			shown++
		}
	}
	return b.String()
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for i > 0 {
		d = append([]byte{byte('0' + i%10)}, d...)
		i /= 10
	}
	return string(d)
}
