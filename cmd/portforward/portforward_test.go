package portforward

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

func runFlags(t *testing.T, args ...string) (*PortForwardOptions, error) {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Getenv: func(string) string { return "" }}
	var got *PortForwardOptions
	cmd := NewCmdPortForward(f, func(o *PortForwardOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return got, err
}

func TestPortForwardFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []Mapping
		project string
		address string
	}{
		{[]string{"demo", "8080"}, []Mapping{{8080, 8080}}, "", "127.0.0.1"},
		{[]string{"demo", "9000:8080", "5432"}, []Mapping{{9000, 8080}, {5432, 5432}}, "", "127.0.0.1"},
		{[]string{"demo", "0:3000"}, []Mapping{{0, 3000}}, "", "127.0.0.1"},
		{[]string{"-R", "g/app", "--address", "0.0.0.0", "demo", "65535:1"}, []Mapping{{65535, 1}}, "g/app", "0.0.0.0"},
	} {
		o, err := runFlags(t, tc.args...)
		if err != nil {
			t.Errorf("ws port-forward %v: %v", tc.args, err)
			continue
		}
		if o.Name != "demo" || !reflect.DeepEqual(o.Mappings, tc.want) || o.Conn.Project != tc.project || o.Address != tc.address {
			t.Errorf("ws port-forward %v: name %q mappings %v project %q address %q; want demo %v %q %q",
				tc.args, o.Name, o.Mappings, o.Conn.Project, o.Address, tc.want, tc.project, tc.address)
		}
	}
}

func TestPortForwardUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"demo"},
		{"demo", "0"},             // remote 0
		{"demo", "http"},          // not a number
		{"demo", "8080:"},         // empty remote
		{"demo", ":8080"},         // empty local
		{"demo", "1:2:3"},         // too many parts
		{"demo", "70000"},         // out of range
		{"demo", "--", "-1:8080"}, // negative local
		{"demo", "8080:-80"},      // negative remote
	} {
		o, err := runFlags(t, args...)
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || fe.Cmd != "port-forward" {
			t.Errorf("ws port-forward %q = %v, want a FlagError (exit 2)", args, err)
		}
		if o != nil {
			t.Errorf("ws port-forward %q ran with %+v", args, o)
		}
	}
}
