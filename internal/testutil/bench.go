package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// WSBinary returns $WS_BIN (the make bench-* targets build it), or builds ./cmd/ws as a
// release does (-trimpath, stripped, CGO_ENABLED=0) into a temporary directory.
func WSBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("WS_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "ws")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/ws")
	build.Dir = RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ws: %v\n%s", err, out)
	}
	return bin
}

// Median is the median of v (v is not changed); 0 for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
