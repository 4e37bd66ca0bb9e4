package down

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/testutil/cmdtest"
)

// parse runs 'ws down args...' up to runF and returns the options runF saw.
func parse(t *testing.T, args ...string) (*DownOptions, error) {
	t.Helper()
	return cmdtest.Parse(t, NewCmdDown, args...)
}

func TestDownFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want DownOptions
	}{
		{"defaults", []string{"demo"},
			DownOptions{Name: "demo", GitLabFlags: cmdutil.GitLabFlags{OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}}},
		{"delete branch", []string{"demo", "--delete-branch"},
			DownOptions{Name: "demo", DeleteBranch: true, GitLabFlags: cmdutil.GitLabFlags{OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}}},
		{"gitlab flags", []string{"-R", "group/app", "demo", "--output", "json", "--debug"},
			DownOptions{Name: "demo", GitLabFlags: cmdutil.GitLabFlags{Project: "group/app", Debug: true, OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputJSON}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.NotNil(t, o)
			assert.Equal(t, tc.want.Name, o.Name)
			assert.Equal(t, tc.want.DeleteBranch, o.DeleteBranch)
			assert.Equal(t, tc.want.GitLabFlags, o.GitLabFlags)
		})
	}
}

func TestDownUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bad jq", []string{"demo", "--jq", "..["}},
		{"two names", []string{"demo", "other"}},
		{"bad output", []string{"demo", "--output", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args...)
			cmdtest.RequireUsageError(t, err, "down")
		})
	}
}
