package root

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

func run(args ...string) (code int, out, errOut string) {
	ios, _, o, e := cmdutil.Test()
	f := cmdutil.New()
	f.IO = ios
	code = Run(f, args)
	return code, o.String(), e.String()
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	code, _, errOut := run("--no-such-flag")
	assert.Equal(t, cmdutil.ExitUsage, code)
	assert.Contains(t, errOut, "unknown flag: --no-such-flag")
	assert.Contains(t, errOut, "Run 'ws --help' for usage.")
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	code, _, errOut := run("frobnicate")
	assert.Equal(t, cmdutil.ExitUsage, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
	assert.NotContains(t, errOut, "Did you mean")
}

func TestExitCodesTopic(t *testing.T) {
	code, out, _ := run("exit-codes")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "3  the devfile is invalid")
}

func TestVersion(t *testing.T) {
	code, out, _ := run("version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^ws version \S+`, out)
}

func TestExitCodeMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{nil, 0, ""},
		{errors.New("boom"), 1, "ws: boom\n"},
		{fmt.Errorf("compile: %w", cmdutil.ErrDevfileInvalid), 3, ""},
		{&cmdutil.AuthError{Err: errors.New("GitLab rejected the token"), Hint: "set GITLAB_TOKEN"}, 4, "ws: GitLab rejected the token\nhint: set GITLAB_TOKEN\n"},
		{&cmdutil.ExitError{Code: 7}, 7, ""},
		{fmt.Errorf("x: %w", cmdutil.ErrSilent), 1, ""},
		{&cmdutil.HintError{Err: errors.New("no runner"), Hint: "tag one"}, 1, "ws: no runner\nhint: tag one\n"},
	} {
		var buf = new(bytesBuffer)
		assert.Equal(t, tc.code, exitCodeColor(tc.err, buf, cmdutil.ColorScheme{}), "%v", tc.err)
		assert.Equal(t, tc.msg, buf.String())
	}
}

type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *bytesBuffer) String() string              { return string(w.b) }

func TestEnvironmentTopicListsEveryVariable(t *testing.T) {
	code, out, _ := run("environment")
	assert.Equal(t, 0, code)
	for _, v := range []string{"GITLAB_HOST", "GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN", "GLAB_CONFIG_DIR",
		"WS_GATEWAY_URL", "BROWSER", "WS_GATEWAY_CONFIG", "WS_PLAN", "CI_JOB_TOKEN", "WS_AGENT_GATEWAY", "WS_AGENT_LOG",
		"WS_LOCAL_ENGINE", "XDG_STATE_HOME", "NO_COLOR", "GITLAB_URI", "GL_HOST", "CI_SERVER_URL", "WS_CONFIG_DIR", "XDG_CACHE_HOME"} {
		assert.Contains(t, out, v)
	}
}

// A wrong number of arguments is a usage error (exit 2) for every command,
// not only for those that wrap cobra's checks themselves.
func TestWrongArgumentCountIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"compile", "a.yaml", "b.yaml"},
		{"validate", "a.yaml", "b.yaml"},
		{"shell", "a", "b"},
		{"port-forward"},
		{"version", "extra"},
		{"down", "a", "b"},
		{"status", "a", "b"},
	} {
		code, _, errOut := run(args...)
		assert.Equal(t, cmdutil.ExitUsage, code, "ws %v: %s", args, errOut)
		assert.Contains(t, errOut, "Run 'ws "+args[0]+" --help' for usage.", "ws %v", args)
	}
}
