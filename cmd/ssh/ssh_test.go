package ssh

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

func runFlags(t *testing.T, args ...string) (*SSHOptions, error) {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Getenv: func(string) string { return "" }}
	var got *SSHOptions
	cmd := NewCmdSSH(f, func(o *SSHOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return got, err
}

func TestSSHFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want SSHOptions
	}{
		{[]string{"demo"}, SSHOptions{Name: "demo", Command: []string{}}},
		{[]string{"-A", "demo", "--", "git", "push"}, SSHOptions{Name: "demo", Command: []string{"git", "push"}, ForwardAgent: true}},
		{[]string{"-t", "-R", "g/app", "demo", "--", "top"}, SSHOptions{Name: "demo", Command: []string{"top"}, ForceTTY: true}},
		{[]string{"--stdio", "demo"}, SSHOptions{Name: "demo", Command: []string{}, Stdio: true}},
		{[]string{"--stdio", "--known-hosts", "/k", "--host-key-alias", "ws.demo.local", "demo"}, SSHOptions{Name: "demo", Command: []string{}, Stdio: true, KnownHosts: "/k", HostKeyAlias: "ws.demo.local"}},
	} {
		o, err := runFlags(t, tc.args...)
		if err != nil {
			t.Errorf("ws ssh %q: %v", tc.args, err)
			continue
		}
		got := SSHOptions{Name: o.Name, Command: o.Command, Stdio: o.Stdio, KnownHosts: o.KnownHosts, HostKeyAlias: o.HostKeyAlias, ForwardAgent: o.ForwardAgent, NoTTY: o.NoTTY, ForceTTY: o.ForceTTY}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ws ssh %q = %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func TestSSHUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--stdio"},                             // a ProxyCommand must name its workspace
		{"--stdio", "demo", "--", "ls"},         // and runs nothing
		{"--known-hosts", "/k", "demo"},         // without --stdio
		{"--stdio", "--known-hosts", "/k", "d"}, // without an alias
		{"-t", "-T", "demo"},
		{"demo", "ls", "-l"}, // the command's flags read as ws's
		{"demo", "ls"},       // the command without --
	} {
		o, err := runFlags(t, args...)
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || fe.Cmd != "ssh" {
			t.Errorf("ws ssh %q = %v, want a FlagError (exit 2)", args, err)
		}
		if o != nil {
			t.Errorf("ws ssh %q ran with %+v", args, o)
		}
	}
}
