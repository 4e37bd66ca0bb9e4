package open

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

func TestOpenFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Getenv: func(string) string { return "" }}
	for _, tc := range []struct {
		args                []string
		name, endpoint, prj string
		noBrowser           bool
	}{
		{[]string{"demo"}, "demo", "", "", false},
		{[]string{"demo", "web", "--no-browser"}, "demo", "web", "", true},
		{[]string{"-R", "42", "demo", "8080"}, "demo", "8080", "42", false},
	} {
		var got *OpenOptions
		cmd := NewCmdOpen(f, func(o *OpenOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if err := cmd.Execute(); err != nil {
			t.Errorf("ws open %q: %v", tc.args, err)
			continue
		}
		if got.Name != tc.name || got.Endpoint != tc.endpoint || got.Conn.Project != tc.prj || got.NoBrowser != tc.noBrowser {
			t.Errorf("ws open %q = %+v", tc.args, got)
		}
	}
	for _, args := range [][]string{{"demo", "web", "extra"}, {"demo", "--output", "yaml"}} {
		ran := false
		cmd := NewCmdOpen(f, func(*OpenOptions) error { ran = true; return nil })
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if err := cmd.Execute(); err == nil || ran {
			t.Errorf("ws open %q: err %v, ran %v; want a usage error", args, err, ran)
		}
	}
}

func TestBrowseCommands(t *testing.T) {
	const u = "https://ws.example.com/x"
	for _, tc := range []struct {
		browser string
		want    [][]string
	}{
		{"", nil},
		{"firefox", [][]string{{"firefox", u}}},
		{"w3m -o x:lynx %s", [][]string{{"w3m", "-o", "x", u}, {"lynx", u}}},
		{"chromium --new-window %s::firefox", [][]string{{"chromium", "--new-window", u}, {"firefox", u}}},
	} {
		if got := browseCommands(tc.browser, u); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("browseCommands(%q) = %q, want %q", tc.browser, got, tc.want)
		}
	}
}

// TestOpenHonoursBROWSER runs ws open with $BROWSER naming a script that
// records the URL it was given; ws waits for the browser command (as gh
// does), so the file is there when the command returns.
func TestOpenHonoursBROWSER(t *testing.T) {
	srv, _ := fakeGateway(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "url")
	script := filepath.Join(dir, "browser")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" > "+rec+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ios, _, stdout, _ := cmdutil.Test()
	ios.SetTTY(false, true, false)
	env := map[string]string{"GITLAB_TOKEN": "glpat-test", "WS_GATEWAY_URL": srv.URL, "BROWSER": "/nonexistent/browser:" + script}
	f := &cmdutil.Factory{IO: ios, Getenv: func(k string) string { return env[k] }}
	cmd := NewCmdOpen(f, nil)
	cmd.SetArgs([]string{"demo", "web"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := "https://8080-demo--42.ws.example.com/"
	if strings.TrimSpace(stdout.String()) != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatalf("$BROWSER was not run: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Fatalf("$BROWSER was given %q, want %q", got, want)
	}
}
