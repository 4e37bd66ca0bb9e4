package corpustest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/root"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

// runWS runs the ws command tree in-process in dir, with an empty
// environment, and returns the exit code and output streams.
func runWS(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.New()
	f.IO = ios
	f.Getenv = func(string) string { return "" }
	f.WorkDir = func() (string, error) { return dir, nil }
	code = root.Run(f, args)
	return code, out.String(), errOut.String()
}

// TestCLIRejectsInvalidDevfiles runs `ws compile` and `ws validate` on
// invalid corpus devfiles of each kind (not YAML, devfile v1, schema error,
// reference cycle, two default commands) and wants exit 3 with a
// FILE:LINE:COL: error: line on stderr and nothing on stdout.
func TestCLIRejectsInvalidDevfiles(t *testing.T) {
	dir := filepath.Join(testutil.SharedDir(t), "corpus", "devfiles", "invalid")
	for _, name := range []string{
		"devfile-registry__stacks__nodejs-gatsby__devfile.yaml",                                  // YAML syntax error
		"devfile-api__samples__devfiles__spring-boot-http-booster-devfile.yaml.devfile-1.0.yaml", // devfile v1 (apiVersion 1.0.0)
		"devfile-api-schematest__test__v200__generated__applyCommandBadGroupKind.yaml",           // JSON schema error
		"odo__tests__examples__source__devfiles__nodejs__devfileIndirectNesting.yaml",            // composite command cycle
		"odo__tests__examples__source__devfiles__nodejs__devfile-with-multiple-defaults.yaml",
	} {
		for _, verb := range []string{"compile", "validate"} {
			code, stdout, stderr := runWS(t, dir, verb, name)
			if code != 3 {
				t.Errorf("ws %s %s: exit %d, want 3; stderr:\n%s", verb, name, code, stderr)
			}
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:[1-9][0-9]*:[1-9][0-9]*: error: \S`)
			if !re.MatchString(stderr) {
				t.Errorf("ws %s %s: stderr has no %q line:\n%s", verb, name, name+":LINE:COL: error:", stderr)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("ws %s %s: stderr shows a Go panic:\n%s", verb, name, stderr)
			}
			if verb == "compile" && stdout != "" {
				t.Errorf("ws compile %s: wrote to stdout although the devfile is invalid:\n%s", name, stdout)
			}
		}
	}
}

// TestCLICompilesValidDevfile checks the success path end to end: exit 0,
// and stdout is a CI file GitLab's schema accepts.
func TestCLICompilesValidDevfile(t *testing.T) {
	dir := filepath.Join(testutil.SharedDir(t), "corpus", "devfiles", "valid")
	name := "devfile-registry__stacks__go__devfile.yaml"
	code, stdout, stderr := runWS(t, dir, "compile", name, "--tag", "docker")
	if code != 0 {
		t.Fatalf("ws compile %s: exit %d, want 0; stderr:\n%s", name, code, stderr)
	}
	cischema.Validate(t, []byte(stdout))
}
