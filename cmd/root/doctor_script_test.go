package root

import (
	"net/http"
	"net/http/httptest"

	"github.com/rogpeppe/go-internal/testscript"

	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
)

// 'ws doctor' scenarios: each installs the expected requests twice, once
// for the text run and once for the --output json run of its script.
func init() {
	FakeScenarios["doctor-ok"] = func(s *fg.Server) *fg.Model {
		for range 2 {
			(&fg.Doctor{Version: "18.2.1-ee", Scopes: []string{"api"}, ExpiresAt: "2099-12-31", Access: 30,
				VariablesRole: "developer", Tags: []string{"ws", "docker"}, Runners: []string{"docker-1"},
				Protected: []any{fg.ProtectedBranch("ws/*", true, 30)}}).Install(s)
		}
		return &fg.Model{}
	}
	FakeScenarios["doctor-fail"] = func(s *fg.Server) *fg.Model {
		for range 2 {
			(&fg.Doctor{Version: "18.2.1-ee", Scopes: []string{"api"}, Access: 30, Tags: []string{"ws", "docker"},
				Protected: []any{fg.ProtectedBranch("ws/*", false, 40)}}).Install(s)
		}
		return &fg.Model{}
	}
	ScriptCmds["fakegateway-health"] = cmdFakeGatewayHealth
}

// cmdFakeGatewayHealth: 'fakegateway-health ok|down' starts a server whose
// /healthz answers 200 or 503 and exports WS_GATEWAY_URL.
func cmdFakeGatewayHealth(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || (args[0] != "ok" && args[0] != "down") {
		ts.Fatalf("usage: fakegateway-health ok|down")
	}
	status := http.StatusOK
	if args[0] == "down" {
		status = http.StatusServiceUnavailable
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	ts.Defer(srv.Close)
	ts.Setenv("WS_GATEWAY_URL", srv.URL)
}
