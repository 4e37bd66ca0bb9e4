package agent

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-dev/ws/plan"
)

// A command whose working directory is missing says so, not "fork/exec /bin/sh: no such
// file or directory" (what exec reports, and what gitlab-ci-local's shell executor showed:
// its $CI_PROJECT_DIR is a path that does not exist on the host).
func TestStepWorkingDirMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "builds", "group", "project")
	a := New(Config{})
	err := a.RunSteps(context.Background(), "postStart", []plan.Step{{Commands: []plan.Command{{ID: "serve", CommandLine: "true", WorkingDir: missing}}}})
	if err == nil || !strings.Contains(err.Error(), "start serve: its working directory "+missing+" does not exist") {
		t.Fatalf("err = %v", err)
	}
}
