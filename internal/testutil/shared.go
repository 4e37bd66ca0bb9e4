// Package testutil holds test helpers shared by packages: the location of
// ../shared, golden files and the fake GitLab. Only tests import it.
package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the absolute path of the repository root.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns the absolute path of ../shared (the project's shared
// material: devfile corpus, CI schema). When it is absent the test is
// skipped with a message, except under CI=true, where it fails.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(), "..", "shared")
	if fi, err := os.Stat(filepath.Join(dir, "corpus")); err == nil && fi.IsDir() {
		return dir
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("../shared is missing at %s; CI must run with the shared material beside the project", dir)
	}
	t.Skipf("skipping: ../shared (devfile corpus, CI schema) not found at %s", dir)
	return ""
}
