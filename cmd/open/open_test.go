package open

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// fakeGateway answers POST /api/v1/links and the status of workspace demo, and records
// what it was asked.
func fakeGateway(t *testing.T) (*httptest.Server, *[]string) {
	t.Helper()
	var calls []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/links", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, "POST /api/v1/links "+r.Header.Get("Authorization")+" "+string(b))
		if !strings.Contains(string(b), `"name":"demo"`) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"not_found"}`) // a failed write fails the client's request
			return
		}
		_, _ = io.WriteString(w, `{"url":"https://ws.example.com/signin/link/ONCE"}`)
	})
	mux.HandleFunc("GET /api/v1/workspaces/-/demo", func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, "GET status")
		_, _ = io.WriteString(w, `{"id":"42/demo","name":"demo","endpoints":[{"name":"web","port":8080,"url":"https://8080-demo--42.ws.example.com/"}]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &calls
}

func runOpen(t *testing.T, gw string, tty bool, env map[string]string, args ...string) (out, errOut string, browsed []string, err error) {
	t.Helper()
	ios, _, stdout, stderr := cmdutil.Test()
	ios.SetTTY(false, tty, false)
	getenv := func(k string) string {
		switch k {
		case "GITLAB_TOKEN":
			return "glpat-test"
		case "WS_GATEWAY_URL":
			return gw
		}
		return env[k]
	}
	f := &cmdutil.Factory{IO: ios, Getenv: getenv}
	cmd := NewCmdOpen(f, func(o *OpenOptions) error {
		o.Browse = func(u string) error { browsed = append(browsed, u); return nil }
		return openRun(t.Context(), o)
	})
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err = cmd.Execute()
	return stdout.String(), stderr.String(), browsed, err
}

func TestOpenTerminalLink(t *testing.T) {
	srv, calls := fakeGateway(t)
	desktop := map[string]string{"DISPLAY": ":0"}
	out, _, browsed, err := runOpen(t, srv.URL, true, desktop, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if out != "https://ws.example.com/signin/link/ONCE\n" {
		t.Errorf("stdout = %q, want the link", out)
	}
	if len(browsed) != 1 || browsed[0] != "https://ws.example.com/signin/link/ONCE" {
		t.Errorf("browsed %v, want the link once", browsed)
	}
	if want := `POST /api/v1/links Bearer glpat-test {"project":"","name":"demo"}`; len(*calls) != 1 || (*calls)[0] != want {
		t.Errorf("gateway calls %q, want [%q]", *calls, want)
	}

	// No browser over SSH, without a TTY or with --no-browser; the link is still printed.
	for _, tc := range []struct {
		tty  bool
		env  map[string]string
		args []string
	}{
		{true, map[string]string{"DISPLAY": ":0", "SSH_CONNECTION": "1 2 3 4"}, []string{"demo"}},
		{false, desktop, []string{"demo"}},
		{true, desktop, []string{"demo", "--no-browser"}},
	} {
		out, _, browsed, err := runOpen(t, srv.URL, tc.tty, tc.env, tc.args...)
		if err != nil || !strings.Contains(out, "/signin/link/ONCE") || len(browsed) != 0 {
			t.Errorf("ws open %v (tty %v, env %v) = %q, browsed %v, %v; want the link printed, no browser", tc.args, tc.tty, tc.env, out, browsed, err)
		}
	}
}

func TestOpenEndpoint(t *testing.T) {
	srv, calls := fakeGateway(t)
	out, _, browsed, err := runOpen(t, srv.URL, true, map[string]string{"DISPLAY": ":0"}, "demo", "web")
	if err != nil || out != "https://8080-demo--42.ws.example.com/\n" || len(browsed) != 1 {
		t.Fatalf("ws open demo web = %q, browsed %v, %v", out, browsed, err)
	}
	if strings.Contains(strings.Join(*calls, "\n"), "links") {
		t.Errorf("ws open with an endpoint minted a link: %q", *calls)
	}
	if out, _, _, err := runOpen(t, srv.URL, false, nil, "demo", "8080"); err != nil || out != "https://8080-demo--42.ws.example.com/\n" {
		t.Errorf("ws open demo 8080 = %q, %v", out, err)
	}
	_, _, _, err = runOpen(t, srv.URL, false, nil, "demo", "db")
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "web (8080)") {
		t.Errorf("ws open demo db = %v, want a FlagError listing web (8080)", err)
	}
}

func TestOpenNoWorkspace(t *testing.T) {
	srv, _ := fakeGateway(t)
	_, _, _, err := runOpen(t, srv.URL, false, nil, "nope")
	if err == nil || !strings.Contains(err.Error(), `workspace "nope"`) {
		t.Errorf("ws open nope = %v, want the gateway's 404 explained", err)
	}
}
