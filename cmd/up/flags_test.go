package up

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// ws up takes the compile settings ws compile takes, so a launched job can
// be compiled the same way.
func TestUpPassesCompileFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios}
	var got *UpOptions
	cmd := NewCmdUp(f, func(o *UpOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"dev.yaml", "--name", "demo", "--tag", "a", "--tag", "b", "--timeout", "4h",
		"--agent-source", "service", "--agent-image", "reg/ws:1", "--profile", "gitlab",
		"--gateway", "https://ws.example.com", "--var", "X=1"})
	require.NoError(t, cmd.Execute())
	require.NotNil(t, got)
	assert.Equal(t, "dev.yaml", got.Devfile)
	assert.Equal(t, []string{"a", "b"}, got.Tags)
	assert.Equal(t, "service", got.AgentSource)
	assert.Equal(t, "reg/ws:1", got.AgentImage)
	assert.Equal(t, "gitlab", got.Profile)
	assert.Equal(t, []string{"X=1"}, got.Vars)
	assert.Equal(t, "https://ws.example.com", f.ConfigFlags.Gateway, "--gateway feeds the resolved settings")
}

func TestUpRejectsBadName(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	cmd := NewCmdUp(&cmdutil.Factory{IO: ios}, func(*UpOptions) error { return nil })
	cmd.SetArgs([]string{"--name", "Bad_Name"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	var fe *cmdutil.FlagError
	require.ErrorAs(t, err, &fe, "a bad --name is a usage error (exit 2)")
}
