package auth

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// parse runs 'ws auth args...' up to runF and returns the options runF saw
// (nil when runF did not run).
func parse(t *testing.T, args ...string) (*StatusOptions, error) {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	var got *StatusOptions
	cmd := NewCmdAuth(&cmdutil.Factory{IO: ios}, func(o *StatusOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	if err != nil {
		assert.Nil(t, got, "runF must not run on a usage error")
	}
	return got, err
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
			var fe *cmdutil.FlagError
			require.ErrorAs(t, err, &fe, "a usage error (exit 2)")
			assert.Equal(t, tc.wantCmd, fe.Cmd)
		})
	}
}
