package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/testutil/cmdtest"
)

// parse runs 'ws auth args...' up to runF and returns the options runF saw.
func parse(t *testing.T, args ...string) (*StatusOptions, error) {
	t.Helper()
	return cmdtest.Parse(t, NewCmdAuth, args...)
}

func TestAuthStatusFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		wantDebug bool
		wantOut   string
	}{
		{"defaults", []string{"status"}, false, cmdutil.OutputText},
		{"json and debug", []string{"status", "--output", "json", "--debug"}, true, cmdutil.OutputJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.NotNil(t, o)
			assert.Equal(t, tc.wantDebug, o.Debug)
			assert.Equal(t, tc.wantOut, o.Output)
		})
	}
}

// 'ws auth' alone prints its help; it runs nothing.
func TestAuthAloneShowsHelp(t *testing.T) {
	o, err := parse(t)
	require.NoError(t, err)
	assert.Nil(t, o)
}

func TestAuthUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantCmd string
	}{
		{"unknown subcommand", []string{"login"}, "auth"},
		{"argument to status", []string{"status", "extra"}, "auth status"},
		{"bad output", []string{"status", "--output", "yaml"}, "auth status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args...)
			cmdtest.RequireUsageError(t, err, tc.wantCmd)
		})
	}
}
