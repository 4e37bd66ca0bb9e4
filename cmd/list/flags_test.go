package list

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/testutil/cmdtest"
)

// parse runs 'ws list args...' up to runF and returns the options runF saw.
func parse(t *testing.T, args ...string) (*ListOptions, error) {
	t.Helper()
	return cmdtest.Parse(t, NewCmdList, args...)
}

func TestListFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want cmdutil.GitLabFlags
	}{
		{"defaults", nil, cmdutil.GitLabFlags{OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}},
		{"project and json", []string{"-R", "group/app", "--output", "json"},
			cmdutil.GitLabFlags{Project: "group/app", OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputJSON}}},
		{"numeric project and debug", []string{"--project", "42", "--debug"},
			cmdutil.GitLabFlags{Project: "42", Debug: true, OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.NotNil(t, o)
			assert.Equal(t, tc.want, o.GitLabFlags)
		})
	}
}

func TestListUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"a NAME", []string{"demo"}},
		{"bad output", []string{"--output", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args...)
			cmdtest.RequireUsageError(t, err, "list")
		})
	}
}
