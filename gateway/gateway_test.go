package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/internal/identity"
	"github.com/ws-dev/ws/internal/kv"
	"github.com/ws-dev/ws/tunnel"
)

// stubAuth knows job tokens "job-<id>-<ref>" (project 42, launched by user
// 7) while the job is running, and user tokens in users; it counts calls.
type stubAuth struct {
	mu        sync.Mutex
	users     map[string]identity.User
	ended     map[string]bool // job tokens of jobs that ended (401)
	userCalls int
	jobCalls  int
	level     int
}

func newStubAuth() *stubAuth {
	return &stubAuth{
		users: map[string]identity.User{"tok-ada": {ID: 7, Username: "ada"}, "tok-bob": {ID: 8, Username: "bob"}},
		ended: map[string]bool{},
	}
}

func (a *stubAuth) Job(_ context.Context, tok string) (*identity.Job, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jobCalls++
	var id int64
	var ref string
	if n, err := fmt.Sscanf(tok, "job-%d-%s", &id, &ref); n != 2 || err != nil || a.ended[tok] {
		return nil, fmt.Errorf("job: %w", identity.ErrTokenInvalid)
	}
	return &identity.Job{JobID: id, Status: "running", Ref: ref, PipelineID: 1, ProjectID: 42, ProjectPath: "g/app", UserID: 7, Username: "ada"}, nil
}

func (a *stubAuth) User(_ context.Context, tok string) (*identity.User, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.userCalls++
	u, ok := a.users[tok]
	if !ok {
		return nil, fmt.Errorf("user: %w", identity.ErrTokenInvalid)
	}
	return &u, nil
}

func (a *stubAuth) AccessLevel(context.Context, string, int64, int64) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.level, nil
}

func (a *stubAuth) calls() (user, job int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.userCalls, a.jobCalls
}

type testGateway struct {
	s    *Server
	url  string
	auth *stubAuth
}

func startGateway(t *testing.T, mod func(*Config)) *testGateway {
	t.Helper()
	a := newStubAuth()
	cfg := Config{PublicURL: "http://gw.test", EndpointDomain: "ws.example.com", Auth: a, JobCheckInterval: -1}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testGateway{s: s, url: srv.URL, auth: a}
}

// get sends GET path with headers h and returns the status and body.
func (g *testGateway) get(t *testing.T, path string, h ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.url+path, nil)
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// connectAgent dials as an agent with a job token and says Hello for
// workspace; it returns the session and the gateway's Welcome.
func (g *testGateway) connectAgent(t *testing.T, token, workspace string, version int) (*yamux.Session, tunnel.Welcome) {
	t.Helper()
	h := http.Header{}
	h.Set(tunnel.JobTokenHeader, token)
	ws, status, err := tunnel.Dial(context.Background(), g.url+tunnel.AgentPath, h, nil)
	if err != nil {
		t.Fatalf("agent dial: status %d: %v", status, err)
	}
	sess, err := tunnel.Client(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	// The Welcome says how it went. A write may report "session shutdown" although its bytes
	// arrived: a refusing gateway closes the session at once, and yamux then picks either
	// outcome for a write still waiting for its confirmation (seen in CI).
	_ = tunnel.WriteLine(st, tunnel.Header{Kind: tunnel.KindControl})
	_ = tunnel.WriteLine(st, tunnel.Hello{Version: version, Workspace: workspace})
	var w tunnel.Welcome
	if err := tunnel.NewLineReader(st, tunnel.MaxHeaderBytes).Read(&w); err != nil {
		t.Fatalf("read Welcome: %v", err)
	}
	return sess, w
}

// waitFor waits until cond holds, checking it again whenever s's state changes (agents,
// phases, port connections); it fails after 10 s.
func waitFor(t *testing.T, s *Server, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		changed := s.reg.changes.wait()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitClosed waits until ch is closed; it fails after 10 s.
func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestAuthAnswersCarryNoDetail(t *testing.T) {
	g := startGateway(t, nil)
	if _, w := g.connectAgent(t, "job-5-ws/demo", "demo", tunnel.Version); !w.OK {
		t.Fatalf("agent refused: %+v", w)
	}
	for _, tc := range []struct {
		name string
		path string
		h    []string
		code int
		body string
	}{
		{"no credential", "/api/v1/workspaces/42/demo", nil, 401, `{"error":"unauthorized"}`},
		{"bad token", "/api/v1/workspaces/42/demo", []string{"Authorization", "Bearer nope"}, 401, `{"error":"unauthorized"}`},
		{"bad PRIVATE-TOKEN", "/api/v1/workspaces/42/demo", []string{"PRIVATE-TOKEN", "nope"}, 401, `{"error":"unauthorized"}`},
		{"another user", "/api/v1/workspaces/42/demo", []string{"Authorization", "Bearer tok-bob"}, 403, `{"error":"forbidden"}`},
		{"another user's tunnel", "/api/v1/workspaces/42/demo/tunnel", []string{"Authorization", "Bearer tok-bob"}, 403, `{"error":"forbidden"}`},
		{"bad job token", tunnel.AgentPath, []string{tunnel.VersionHeader, "1", tunnel.JobTokenHeader, "nope"}, 401, `{"error":"unauthorized"}`},
		{"job not on a ws/ ref", tunnel.AgentPath, []string{tunnel.VersionHeader, "1", tunnel.JobTokenHeader, "job-6-main"}, 403, `{"error":"forbidden"}`},
	} {
		code, body, _ := g.get(t, tc.path, tc.h...)
		if code != tc.code || strings.TrimSpace(body) != tc.body {
			t.Errorf("%s: GET %s = %d %s, want %d %s", tc.name, tc.path, code, body, tc.code, tc.body)
		}
		if strings.Contains(body, "nope") || strings.Contains(body, "tok-") {
			t.Errorf("%s: body %s repeats the credential", tc.name, body)
		}
	}
	// The owner gets through.
	if code, body, _ := g.get(t, "/api/v1/workspaces/42/demo", "Authorization", "Bearer tok-ada"); code != 200 {
		t.Errorf("owner: GET status = %d %s, want 200", code, body)
	}
}

func TestRepeatedFailuresAreRateLimited(t *testing.T) {
	g := startGateway(t, func(c *Config) { c.AuthFailLimit = 3 })
	for i := range 3 {
		if code, _, _ := g.get(t, "/api/v1/workspaces", "Authorization", "Bearer nope"); code != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, code)
		}
	}
	// Now even a good token from this address is refused, without asking GitLab.
	before, _ := g.auth.calls()
	code, body, h := g.get(t, "/api/v1/workspaces", "Authorization", "Bearer tok-ada")
	if code != 429 || h.Get("Retry-After") == "" || strings.TrimSpace(body) != `{"error":"too_many_requests"}` {
		t.Errorf("after 3 failures: %d %s (Retry-After %q), want 429 too_many_requests with Retry-After", code, body, h.Get("Retry-After"))
	}
	if after, _ := g.auth.calls(); after != before {
		t.Errorf("rate-limited request still verified the token (%d calls)", after-before)
	}
	// Agents from the same address are limited too.
	if code, _, _ := g.get(t, tunnel.AgentPath, tunnel.VersionHeader, "1", tunnel.JobTokenHeader, "job-5-ws/demo"); code != 429 {
		t.Errorf("agent after failures: status %d, want 429", code)
	}
}

func TestRateLimitWindowEnds(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g := startGateway(t, func(c *Config) { c.AuthFailLimit = 1; c.AuthFailWindow = time.Minute; c.Clock = clock })
	g.get(t, "/api/v1/workspaces", "Authorization", "Bearer nope")
	if code, _, _ := g.get(t, "/api/v1/workspaces", "Authorization", "Bearer tok-ada"); code != 429 {
		t.Fatalf("within the window: %d, want 429", code)
	}
	clock.Advance(time.Minute + time.Second)
	if code, _, _ := g.get(t, "/api/v1/workspaces", "Authorization", "Bearer tok-ada"); code != 200 {
		t.Fatalf("after the window: %d, want 200", code)
	}
}

func TestUserTokenCacheExpires(t *testing.T) {
	const ttl = time.Minute
	clock := clockwork.NewFakeClock()
	g := startGateway(t, func(c *Config) { c.UserCacheTTL = ttl; c.Clock = clock })
	for range 3 {
		if code, _, _ := g.get(t, "/api/v1/workspaces", "Authorization", "Bearer tok-ada"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if n, _ := g.auth.calls(); n != 1 {
		t.Fatalf("3 requests within the TTL asked GitLab %d times, want 1", n)
	}
	clock.Advance(ttl)
	g.get(t, "/api/v1/workspaces", "Authorization", "Bearer tok-ada")
	if n, _ := g.auth.calls(); n != 2 {
		t.Fatalf("after the TTL GitLab was asked %d times in all, want 2", n)
	}
	// A token refused by GitLab is not cached as valid.
	g.auth.mu.Lock()
	delete(g.auth.users, "tok-ada")
	g.auth.mu.Unlock()
	clock.Advance(ttl)
	if code, _, _ := g.get(t, "/api/v1/workspaces", "Authorization", "Bearer tok-ada"); code != 401 {
		t.Fatalf("revoked token after the TTL: %d, want 401", code)
	}
}

func TestParseEndpointHost(t *testing.T) {
	g := startGateway(t, nil)
	for _, tc := range []struct {
		host          string
		port          int
		name, project string
		ok            bool
	}{
		{"8080-demo--42.ws.example.com", 8080, "demo", "42", true},
		{"8080-demo--42.ws.example.com:8443", 8080, "demo", "42", true},
		{"8080-Demo--42.WS.example.com", 8080, "demo", "42", true},
		{"3000-my-app-2--7.ws.example.com", 3000, "my-app-2", "7", true},
		{"ws.example.com", 0, "", "", false},
		{"8080-demo--42.evil.com", 0, "", "", false},
		{"8080-demo--42.ws.example.com.evil.com", 0, "", "", false},
		{"x.8080-demo--42.ws.example.com", 0, "", "", false},
		{"8080-demo--x.ws.example.com", 0, "", "", false},
		{"8080-demo.ws.example.com", 0, "", "", false},
		{"123456-demo--42.ws.example.com", 0, "", "", false},
		{"8080--demo--42.ws.example.com", 0, "", "", false},
		{"8080-demo---42.ws.example.com", 0, "", "", false},
		{"8080-de_mo--42.ws.example.com", 0, "", "", false},
		{"-demo--42.ws.example.com", 0, "", "", false},
		{"", 0, "", "", false},
		{"[::1]:8080", 0, "", "", false},
	} {
		ep, ok := g.s.parseEndpointHost(tc.host)
		port, name, project := ep.Port, ep.Name, ep.ProjectID
		if ok != tc.ok || port != tc.port || name != tc.name || project != tc.project {
			t.Errorf("parseEndpointHost(%q) = %d, %q, %q, %v; want %d, %q, %q, %v", tc.host, port, name, project, ok, tc.port, tc.name, tc.project, tc.ok)
		}
	}
}

func TestEndpointHostOutOfRangePort(t *testing.T) {
	g := startGateway(t, nil)
	req, _ := http.NewRequest("GET", g.url+"/", nil)
	req.Host = "99999-demo--42.ws.example.com"
	req.Header.Set("Authorization", "Bearer tok-ada")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("port 99999: status %d, want 404", resp.StatusCode)
	}
}

func TestRegistryReplacement(t *testing.T) {
	r := newRegistry()
	conn := func(job int64) *agentConn {
		return &agentConn{id: r.nextID.Add(1), jobID: job, projectID: 42, name: "demo"}
	}
	first := conn(5)
	if old, ok := r.add(first); !ok || old != nil {
		t.Fatalf("add(job 5) = %v, %v; want nil, true", old, ok)
	}
	newer := conn(6)
	if old, ok := r.add(newer); !ok || old != first {
		t.Fatalf("add(job 6) = %v, %v; want the job-5 connection replaced", old, ok)
	}
	if !first.replaced.Load() {
		t.Error("replaced connection not marked")
	}
	if old, ok := r.add(conn(4)); ok || old != nil {
		t.Fatalf("add(job 4) = %v, %v; want refused", old, ok)
	}
	if ac, _ := r.find("42", "demo", 0); ac != newer {
		t.Fatalf("find after replacement = %v, want job 6", ac)
	}
	// The replaced connection's cleanup must not unregister its successor.
	if r.remove(first) {
		t.Error("remove(replaced) reported removing the current agent")
	}
	if ac, _ := r.find("42", "demo", 0); ac != newer {
		t.Fatal("remove(replaced) unregistered the newer agent")
	}
	// The same job reconnecting replaces its own earlier connection.
	again := conn(6)
	if old, ok := r.add(again); !ok || old != newer {
		t.Fatalf("add(job 6 again) = %v, %v; want its old connection replaced", old, ok)
	}
}

func TestAgentReplacementOverTheWire(t *testing.T) {
	g := startGateway(t, nil)
	old, w := g.connectAgent(t, "job-5-ws/demo", "demo", tunnel.Version)
	if !w.OK || w.Workspace != "42/demo" {
		t.Fatalf("job 5: %+v", w)
	}
	if _, w := g.connectAgent(t, "job-6-ws/demo", "demo", tunnel.Version); !w.OK {
		t.Fatalf("job 6 refused: %+v", w)
	}
	waitClosed(t, "the job-5 connection to close", old.CloseChan())
	if _, w := g.connectAgent(t, "job-4-ws/demo", "demo", tunnel.Version); w.OK || !strings.Contains(w.Error, "newer job") {
		t.Fatalf("job 4 after job 6: %+v, want refused", w)
	}
	if ac, _ := g.s.reg.find("42", "demo", 0); ac == nil || ac.jobID != 6 {
		t.Fatalf("workspace held by %+v, want job 6", ac)
	}
}

func TestAnotherJobCannotClaimWorkspace(t *testing.T) {
	g := startGateway(t, nil)
	if _, w := g.connectAgent(t, "job-5-ws/demo", "demo", tunnel.Version); !w.OK {
		t.Fatalf("demo: %+v", w)
	}
	// A (newer) job of workspace "other" names "demo" in its Hello.
	_, w := g.connectAgent(t, "job-9-ws/other", "demo", tunnel.Version)
	if w.OK || !strings.Contains(w.Error, "ws/other") {
		t.Fatalf("job of ws/other claiming demo: %+v, want refused", w)
	}
	if ac, _ := g.s.reg.find("42", "demo", 0); ac == nil || ac.jobID != 5 {
		t.Fatalf("demo held by %+v, want job 5 still", ac)
	}
}

func TestTunnelVersionMismatch(t *testing.T) {
	g := startGateway(t, nil)
	code, body, _ := g.get(t, tunnel.AgentPath, tunnel.VersionHeader, strconv.Itoa(tunnel.Version+1), tunnel.JobTokenHeader, "job-5-ws/demo")
	var e apiError
	_ = json.Unmarshal([]byte(body), &e)
	if code != 400 || !strings.Contains(e.Message, "not supported") {
		t.Errorf("WS-Tunnel-Version %d: %d %s, want 400 naming the version", tunnel.Version+1, code, body)
	}
	if _, w := g.connectAgent(t, "job-5-ws/demo", "demo", tunnel.Version+1); w.OK || !strings.Contains(w.Error, "version") {
		t.Errorf("Hello version %d: %+v, want refused", tunnel.Version+1, w)
	}
	if g.s.Agents() != 0 {
		t.Errorf("%d agents registered after version mismatches", g.s.Agents())
	}
}

func TestBadControlStreamIsDropped(t *testing.T) {
	g := startGateway(t, nil)
	h := http.Header{}
	h.Set(tunnel.JobTokenHeader, "job-5-ws/demo")
	ws, _, err := tunnel.Dial(context.Background(), g.url+tunnel.AgentPath, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tunnel.Client(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	// The gateway drops the session at once; yamux may then report "session shutdown" for
	// this write although its bytes arrived (see connectAgent): the session's end is the test.
	_, _ = io.WriteString(st, "this is not json\n")
	waitClosed(t, "the gateway to drop the session", sess.CloseChan())
	if g.s.Agents() != 0 {
		t.Error("agent with a malformed header registered")
	}
}

func TestJobEndDropsAgent(t *testing.T) {
	clock := clockwork.NewFakeClock()
	g := startGateway(t, func(c *Config) { c.JobCheckInterval = time.Minute; c.Clock = clock })
	sess, w := g.connectAgent(t, "job-5-ws/demo", "demo", tunnel.Version)
	if !w.OK {
		t.Fatal(w)
	}
	ac, _ := g.s.reg.find("42", "demo", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// While the job runs, re-checks (each within ±10% of the interval) keep the agent.
	for i := range 2 {
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatalf("check %d not scheduled: %v", i+1, err)
		}
		clock.Advance(66 * time.Second)
	}
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, n := g.auth.calls(); n != 3 || sess.IsClosed() || g.s.Agents() != 1 {
		t.Fatalf("after two re-checks: %d job checks, agent closed %v; want 3 checks and the agent kept", n, sess.IsClosed())
	}
	g.auth.mu.Lock()
	g.auth.ended["job-5-ws/demo"] = true
	g.auth.mu.Unlock()
	clock.Advance(66 * time.Second)
	select {
	case <-sess.CloseChan():
	case <-ctx.Done():
		t.Fatal("the agent was not dropped")
	}
	waitFor(t, g.s, "the workspace to be unregistered", func() bool { return g.s.Agents() == 0 })
	if p, _ := ac.getPhase(); p != PhaseStopped {
		t.Errorf("phase = %q, want %q", p, PhaseStopped)
	}
}

// TestMaintainerAccessCacheIsBounded: a full store (every entry live) still answers the
// maintainers rule correctly, without caching, and never grows past its bound.
func TestMaintainerAccessCacheIsBounded(t *testing.T) {
	store := kv.NewMemory(nil, 16)
	g := startGateway(t, func(c *Config) { c.AllowMaintainers = true; c.Store = store })
	g.auth.level = 40
	for i := 0; store.Len() < 16; i++ {
		_ = store.Set(context.Background(), fmt.Sprintf("filler/%d", i), []byte("x"), time.Hour)
	}
	ac := &agentConn{projectID: 42, userID: 7, name: "demo"}
	if !g.s.auth.mayAttach(context.Background(), &user{ID: 8, token: "tok-bob"}, ac) {
		t.Fatal("maintainer refused")
	}
	if n := store.Len(); n > 16 {
		t.Errorf("the store holds %d entries, want at most 16", n)
	}
	g.auth.level = 30 // no longer a maintainer: not cached, so GitLab is asked again
	if g.s.auth.mayAttach(context.Background(), &user{ID: 8, token: "tok-bob"}, ac) {
		t.Error("a former maintainer was let in from a cache that had no room")
	}
}
