package restart

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/up"
	"github.com/ws-dev/ws/internal/testutil/cmdtest"
)

// parse runs 'ws restart args...' up to runF and returns the options runF saw.
func parse(t *testing.T, args ...string) (*up.UpOptions, error) {
	t.Helper()
	return cmdtest.Parse(t, NewCmdRestart, args...)
}

func TestRestartFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, o *up.UpOptions)
	}{
		{"defaults", []string{"demo"}, func(t *testing.T, o *up.UpOptions) {
			assert.Equal(t, "demo", o.Name)
			assert.Empty(t, o.Devfile, "devfile found by up.Run")
			assert.True(t, o.Recreate, "a restart always recreates")
			assert.Equal(t, "restart", o.Command)
			assert.Equal(t, cmdutil.OutputText, o.Output)
			assert.Equal(t, 15*time.Minute, o.WaitTimeout)
			assert.False(t, o.NoWait)
			assert.Empty(t, o.Project)
		}},
		{"devfile and launch flags", []string{"demo", "dev.yaml", "--no-wait", "-R", "group/app", "--ref", "main",
			"--output", "json", "--tag", "a", "--var", "X=1", "--wait-timeout", "2m"}, func(t *testing.T, o *up.UpOptions) {
			assert.Equal(t, "demo", o.Name)
			assert.Equal(t, "dev.yaml", o.Devfile)
			assert.True(t, o.NoWait)
			assert.Equal(t, "group/app", o.Project)
			assert.Equal(t, "main", o.Ref)
			assert.Equal(t, cmdutil.OutputJSON, o.Output)
			assert.Equal(t, []string{"a"}, o.Tags)
			assert.Equal(t, []string{"X=1"}, o.Vars)
			assert.Equal(t, 2*time.Minute, o.WaitTimeout)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.NotNil(t, o)
			tc.check(t, o)
		})
	}
}

func TestRestartUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"extra argument", []string{"demo", "dev.yaml", "extra"}},
		{"bad output", []string{"demo", "--output", "yaml"}},
		{"bad workspace name", []string{"Bad_Name"}},
		{"bad var", []string{"demo", "--var", "X"}},
		{"zero wait timeout", []string{"demo", "--wait-timeout", "0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args...)
			cmdtest.RequireUsageError(t, err, "restart")
		})
	}
}
