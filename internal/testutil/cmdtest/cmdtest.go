// Package cmdtest runs one command's flag parsing in tests, through the
// runF hook every command constructor takes (as gh's commands do: NewCmdX(f, runF)).
package cmdtest

import (
	"io"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// Parse builds the command with newCmd, runs it with args up to runF and
// returns the options runF saw (nil when it did not run, as on a usage error).
func Parse[O any](t testing.TB, newCmd func(*cmdutil.Factory, func(*O) error) *cobra.Command, args ...string) (*O, error) {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	var got *O
	cmd := newCmd(&cmdutil.Factory{IO: ios}, func(o *O) error { got = o; return nil })
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

// RequireUsageError checks that err is a usage error (exit code 2) naming
// the command whose --help the user is sent to.
func RequireUsageError(t testing.TB, err error, cmd string) {
	t.Helper()
	var fe *cmdutil.FlagError
	require.ErrorAs(t, err, &fe, "a usage error (exit 2)")
	assert.Equal(t, cmd, fe.Cmd)
}
