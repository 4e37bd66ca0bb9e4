package logs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/testutil/cmdtest"
)

// parse runs 'ws logs args...' up to runF and returns the options runF saw.
func parse(t *testing.T, args ...string) (*LogsOptions, error) {
	t.Helper()
	return cmdtest.Parse(t, NewCmdLogs, args...)
}

func TestLogsFlags(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantFollow bool
		want       cmdutil.GitLabFlags
	}{
		{"defaults", []string{"demo"}, false, cmdutil.GitLabFlags{OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}},
		{"-f", []string{"demo", "-f"}, true, cmdutil.GitLabFlags{OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}},
		{"--follow with project", []string{"--follow", "-R", "group/app", "demo"}, true,
			cmdutil.GitLabFlags{Project: "group/app", OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}},
		{"json without follow", []string{"demo", "--output", "json", "--debug"}, false,
			cmdutil.GitLabFlags{Debug: true, OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputJSON}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.NotNil(t, o)
			assert.Equal(t, "demo", o.Name)
			assert.Equal(t, tc.wantFollow, o.Follow)
			assert.Equal(t, tc.want, o.GitLabFlags)
		})
	}
}

func TestLogsUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"jq with text", []string{"demo", "--jq", ".log", "--output", "text"}},
		{"two names", []string{"demo", "other"}},
		{"bad output", []string{"demo", "--output", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args...)
			cmdtest.RequireUsageError(t, err, "logs")
		})
	}
}
