package status

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/testutil/cmdtest"
)

// parse runs 'ws status args...' up to runF and returns the options runF saw.
func parse(t *testing.T, args ...string) (*StatusOptions, error) {
	t.Helper()
	return cmdtest.Parse(t, NewCmdStatus, args...)
}

func TestStatusFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantName string
		want     cmdutil.GitLabFlags
	}{
		{"defaults", []string{"demo"}, "demo", cmdutil.GitLabFlags{OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}},
		{"json", []string{"demo", "--output", "json"}, "demo", cmdutil.GitLabFlags{OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputJSON}}},
		{"project before NAME", []string{"-R", "group/app", "--debug", "demo"}, "demo",
			cmdutil.GitLabFlags{Project: "group/app", Debug: true, OutputFlags: cmdutil.OutputFlags{Output: cmdutil.OutputText}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.NotNil(t, o)
			assert.Equal(t, tc.wantName, o.Name)
			assert.Equal(t, tc.want, o.GitLabFlags)
		})
	}
}

func TestStatusUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"two names", []string{"demo", "other"}},
		{"bad output", []string{"demo", "--output", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args...)
			cmdtest.RequireUsageError(t, err, "status")
		})
	}
}
