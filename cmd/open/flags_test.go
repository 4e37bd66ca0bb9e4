package open

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

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
	for _, args := range [][]string{{}, {"demo", "web", "extra"}} {
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
		browser, goos string
		want          [][]string
	}{
		{"", "linux", [][]string{{"xdg-open", u}}},
		{"", "darwin", [][]string{{"open", u}}},
		{"firefox", "linux", [][]string{{"firefox", u}, {"xdg-open", u}}},
		{"w3m -o x:lynx %s", "linux", [][]string{{"w3m", "-o", "x", u}, {"lynx", u}, {"xdg-open", u}}},
		{"chromium --new-window %s::firefox", "windows", [][]string{{"chromium", "--new-window", u}, {"firefox", u}, {"rundll32", "url.dll,FileProtocolHandler", u}}},
	} {
		if got := browseCommands(tc.browser, tc.goos, u); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("browseCommands(%q, %s) = %q, want %q", tc.browser, tc.goos, got, tc.want)
		}
	}
}

// TestOpenHonoursBROWSER runs ws open with $BROWSER naming a script that
// records the URL it was given.
func TestOpenHonoursBROWSER(t *testing.T) {
	srv, _ := fakeGateway(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "url")
	script := filepath.Join(dir, "browser")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" > "+rec+".tmp && mv "+rec+".tmp "+rec+"\n"), 0o755); err != nil {
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(rec)
		if err == nil {
			if got := strings.TrimSpace(string(b)); got != want {
				t.Fatalf("$BROWSER was given %q, want %q", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("$BROWSER was not run within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
