package root

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zalando/go-keyring"

	"github.com/ws-dev/ws/cmd/cmdutil"
	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
)

// testHooks changes the ws of the scripts where a real process cannot be
// steered from outside; each is set by a variable only the scripts use.
//
//	WS_TEST_NOW=RFC3339       a fixed clock (JSON goldens hold ages)
//	WS_TEST_KEYRING=SVC=TOKEN the OS keyring is go-keyring's mock holding TOKEN
//	                          for service SVC (this machine has no desktop keyring)
//	WS_TEST_TTY=1             the standard streams are terminals (pickers, colour)
func testHooks(f *cmdutil.Factory) {
	if v := os.Getenv("WS_TEST_NOW"); v != "" {
		now, err := time.Parse(time.RFC3339, v)
		if err != nil {
			panic(err)
		}
		f.Now = func() time.Time { return now }
	}
	if v := os.Getenv("WS_TEST_KEYRING"); v != "" {
		keyring.MockInit()
		svc, tok, _ := strings.Cut(v, "=")
		if err := keyring.Set(svc, "", tok); err != nil {
			panic(err)
		}
	}
	if os.Getenv("WS_TEST_TTY") == "1" {
		f.IO.SetTTY(true, true, true)
	}
}

func init() {
	ScriptCmds["fakegateway"] = cmdFakeGateway
	ScriptCmds["fakeregistry"] = cmdFakeRegistry
	ScriptCmds["hostof"] = cmdHostOf
	FakeScenarios["auth-any"] = func(s *fg.Server) *fg.Model {
		authStubs(s)
		return &fg.Model{}
	}
	FakeScenarios["running-auth"] = func(s *fg.Server) *fg.Model {
		authStubs(s)
		return FakeScenarios["running"](s)
	}
}

// authStubs answers who the token belongs to, any number of times.
func authStubs(s *fg.Server) {
	s.Stub(&fg.Stub{Method: "GET", Path: "/user", Times: fg.Any, Replies: []fg.Reply{{Body: map[string]any{"id": 1, "username": "ada", "name": "Ada"}}}},
		&fg.Stub{Method: "GET", Path: "/personal_access_tokens/self", Times: fg.Any, Replies: []fg.Reply{{Body: map[string]any{
			"id": 9, "name": "laptop", "scopes": []string{"api"}, "expires_at": "2099-12-31", "active": true}}}})
}

// cmdHostOf: 'hostof NAME URL' sets NAME to URL's host[:port], as glab
// names hosts in its config and keyring.
func cmdHostOf(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hostof NAME URL")
	}
	u, err := url.Parse(args[1])
	if err != nil || u.Host == "" {
		ts.Fatalf("hostof: %q is not a URL", args[1])
	}
	ts.Setenv(args[0], u.Host)
}

// cmdFakeGateway: 'fakegateway' starts a gateway API that knows workspace
// demo of project g/p (connected, endpoint http on 8080) and mints sign-in
// links; it exports WS_GATEWAY_URL.
func cmdFakeGateway(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: fakegateway")
	}
	mux := http.NewServeMux()
	status := map[string]any{"id": "42/demo", "project": "g/p", "name": "demo", "connected": true, "phase": "running", "working_dir": "/builds/g/p",
		"endpoints": []map[string]any{{"name": "http", "port": 8080, "exposure": "public", "url": "https://8080-demo--42.ws.example.com/"}}}
	mux.HandleFunc("GET /api/v1/workspaces/{project}/{name}", func(w http.ResponseWriter, r *http.Request) {
		if p := r.PathValue("project"); r.PathValue("name") != "demo" || (p != "g/p" && p != "-") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"not_found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(status)
	})
	mux.HandleFunc("POST /api/v1/links", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"url":"https://ws.example.com/signin/link/ONCE"}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"not_found"}`))
	})
	srv := httptest.NewServer(mux)
	ts.Defer(srv.Close)
	ts.Setenv("WS_GATEWAY_URL", srv.URL)
}

// cmdFakeRegistry: 'fakeregistry DIR' serves $WORK/DIR/NAME as the devfile
// of stack NAME (GET /devfiles/NAME), as registry.devfile.io does, and
// exports REGISTRY.
func cmdFakeRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fakeregistry DIR")
	}
	dir := ts.MkAbs(args[0])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/devfiles/")
		b, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	ts.Defer(srv.Close)
	ts.Setenv("REGISTRY", srv.URL)
}
