package shell

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

func runFlags(t *testing.T, args ...string) (*ShellOptions, error) {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Getenv: func(string) string { return "" }}
	var got *ShellOptions
	cmd := NewCmdShell(f, func(o *ShellOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return got, err
}

func TestShellFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command []string
		noTTY   bool
		project string
		gateway string
	}{
		{[]string{"demo"}, []string{}, false, "", ""},
		{[]string{"demo", "--", "sh", "-c", "echo hi; exit 7"}, []string{"sh", "-c", "echo hi; exit 7"}, false, "", ""},
		{[]string{"-T", "-R", "g/app", "demo", "--", "ls", "-l"}, []string{"ls", "-l"}, true, "g/app", ""},
		{[]string{"--gateway", "https://ws.example.com", "demo", "--no-tty"}, []string{}, true, "", "https://ws.example.com"},
	} {
		o, err := runFlags(t, tc.args...)
		if err != nil {
			t.Errorf("ws shell %q: %v", tc.args, err)
			continue
		}
		if o.Name != "demo" || !reflect.DeepEqual(o.Command, tc.command) || o.NoTTY != tc.noTTY || o.Conn.Project != tc.project || o.Conn.Gateway != tc.gateway {
			t.Errorf("ws shell %q = %+v, want command %q no-tty %v project %q gateway %q", tc.args, o, tc.command, tc.noTTY, tc.project, tc.gateway)
		}
	}
}

// Without NAME, the default workspace is resolved when the command runs.
func TestShellDefaultName(t *testing.T) {
	for _, args := range [][]string{{}, {"--", "ls", "-l"}} {
		o, err := runFlags(t, args...)
		if err != nil || o.Name != "" || len(o.Command) != len(args[min(len(args), 1):]) {
			t.Errorf("ws shell %q = %+v, %v; want no name and the command", args, o, err)
		}
	}
}

func TestShellUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "ls"},                // command without --
		{"demo", "uname", "-a"},       // the command's flag read as ws's
		{"demo", "extra", "--", "ls"}, // two names
		{"demo", "--output", "json"},  // JSON needs a command
	} {
		o, err := runFlags(t, args...)
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || fe.Cmd != "shell" {
			t.Errorf("ws shell %q = %v, want a FlagError (exit 2)", args, err)
		}
		if o != nil {
			t.Errorf("ws shell %q ran with %+v", args, o)
		}
	}
}
