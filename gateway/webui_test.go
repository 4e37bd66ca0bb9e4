package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/webui"
)

const (
	webJobToken = "job-token-WEB-1"
	aliceTok    = "glpat-alice-WEB"
	bobTok      = "glpat-bob-WEB"
	carolTok    = "glpat-carol-WEB" // a maintainer of group/app
)

// webGitLab is a fake GitLab for the web tests: GET /job, /user and project members.
type webGitLab struct {
	*httptest.Server
	userCalls   atomic.Int32
	bearerCalls atomic.Int32
	revoked     sync.Map // tokens GitLab no longer accepts
}

func newWebGitLab(t *testing.T) *webGitLab {
	t.Helper()
	g := &webGitLab{}
	users := map[string]string{
		aliceTok: `{"id":1,"username":"alice","name":"Alice A"}`,
		bobTok:   `{"id":2,"username":"bob","name":"Bob B"}`,
		carolTok: `{"id":3,"username":"carol","name":"Carol C"}`,
	}
	token := func(r *http.Request) string {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			g.bearerCalls.Add(1)
			return tok
		}
		return r.Header.Get("PRIVATE-TOKEN")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v4/job", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("JOB-TOKEN") != webJobToken {
			http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":101,"status":"running","ref":"ws/demo","web_url":"http://%s/group/app/-/jobs/101","pipeline":{"id":9,"project_id":42,"ref":"ws/demo","status":"running"},"user":{"id":1,"username":"alice"}}`, r.Host)
	})
	mux.HandleFunc("GET /api/v4/user", func(w http.ResponseWriter, r *http.Request) {
		g.userCalls.Add(1)
		tok := token(r)
		u, ok := users[tok]
		if _, gone := g.revoked.Load(tok); !ok || gone {
			http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, u) // a failed write fails the client's request
	})
	mux.HandleFunc("GET /api/v4/projects/42/members/all/{id}", func(w http.ResponseWriter, r *http.Request) {
		if token(r) != carolTok || r.PathValue("id") != "3" {
			http.Error(w, `{"message":"404 Not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":3,"username":"carol","access_level":40}`)
	})
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

// webGateway is a gateway with a real in-process agent serving workspace group/app demo.
type webGateway struct {
	s    *Server
	srv  *httptest.Server
	gl   *webGitLab
	logs *testutil.SyncBuffer
}

func startWebGateway(t *testing.T, mod func(*Config)) *webGateway {
	t.Helper()
	return startWebGatewayWith(t, mod, []plan.Endpoint{{Name: "web", TargetPort: 8080, Protocol: "http"}})
}

// startWebGatewayWith is startWebGateway with the agent's endpoints; mod sees the test
// server's URL in cfg.PublicURL and may change it (the agent dials the server directly).
func startWebGatewayWith(t *testing.T, mod func(*Config), endpoints []plan.Endpoint) *webGateway {
	t.Helper()
	gl := newWebGitLab(t)
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	logs := &testutil.SyncBuffer{}
	cfg := Config{GitLabURL: gl.URL, PublicURL: srv.URL, EndpointDomain: "ws.test", AuthFailLimit: 1000,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	handler := s.Handler()
	h.Store(&handler)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	dir := t.TempDir()
	a := agent.New(agent.Config{
		Plan:  &plan.Plan{Version: plan.Version, Workspace: "demo", WorkingDir: dir, Endpoints: endpoints},
		Token: webJobToken, Gateway: srv.URL, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SHELL=/bin/sh", "PS1=$ "},
	})
	startAgent(t, a)
	waitFor(t, s, "agent connected and running", func() bool {
		for _, ac := range s.reg.all() {
			if p, _ := ac.getPhase(); p == "running" {
				return true
			}
		}
		return false
	})
	return &webGateway{s: s, srv: srv, gl: gl, logs: logs}
}

// screen collects a terminal's output.
type screen struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
	end     chan error
}

func readScreen(term webui.Terminal) *screen {
	sc := &screen{end: make(chan error, 1), changed: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := term.Read(buf)
			sc.mu.Lock()
			sc.b.Write(buf[:n])
			close(sc.changed)
			sc.changed = make(chan struct{})
			sc.mu.Unlock()
			if err != nil {
				sc.end <- err
				return
			}
		}
	}()
	return sc
}

// wait waits until the screen matches re and returns the submatches of its last match.
func (sc *screen) wait(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(10 * time.Second)
	for {
		sc.mu.Lock()
		all := rx.FindAllStringSubmatch(sc.b.String(), -1)
		changed, text := sc.changed, sc.b.String()
		sc.mu.Unlock()
		if all != nil {
			return all[len(all)-1]
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("terminal does not show %s; screen %q", re, text)
		}
	}
}

// count returns how often re matches the screen.
func (sc *screen) count(re string) int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(regexp.MustCompile(re).FindAllString(sc.b.String(), -1))
}

func TestWebBackendUserFromToken(t *testing.T) {
	g := startWebGateway(t, func(c *Config) { c.AuthFailLimit = 2 })
	b := webBackend{g.s}
	ctx := context.WithValue(context.Background(), clientIPKey{}, "192.0.2.1")
	u, err := b.UserFromToken(ctx, aliceTok)
	if err != nil || u != (webui.User{ID: 1, Username: "alice", Name: "Alice A"}) {
		t.Fatalf("UserFromToken(alice) = %+v, %v", u, err)
	}
	if g.gl.bearerCalls.Load() != 1 {
		t.Errorf("GitLab saw %d Bearer requests, want 1 (OAuth tokens need Authorization: Bearer)", g.gl.bearerCalls.Load())
	}
	calls := g.gl.userCalls.Load()
	if _, err := b.UserFromToken(ctx, aliceTok); err != nil {
		t.Fatal(err)
	}
	if g.gl.userCalls.Load() != calls {
		t.Error("a second check of the same token asked GitLab again; want the cached answer")
	}
	for range 2 {
		if _, err := b.UserFromToken(ctx, "wrong"); !errors.Is(err, errBadToken) {
			t.Fatalf("UserFromToken(wrong) = %v, want errBadToken", err)
		}
	}
	calls = g.gl.userCalls.Load()
	if _, err := b.UserFromToken(ctx, bobTok); err == nil || g.gl.userCalls.Load() != calls {
		t.Fatalf("after 2 failures from one address: err %v, GitLab calls %d -> %d; want refused without asking GitLab", err, calls, g.gl.userCalls.Load())
	}
	other := context.WithValue(context.Background(), clientIPKey{}, "192.0.2.2")
	if _, err := b.UserFromToken(other, bobTok); err != nil {
		t.Fatalf("another address is not limited: %v", err)
	}
}

func TestWebBackendWorkspaces(t *testing.T) {
	g := startWebGateway(t, nil)
	b := webBackend{g.s}
	wss, err := b.Workspaces(context.Background(), webui.User{ID: 1, Username: "alice"})
	if err != nil || len(wss) != 1 {
		t.Fatalf("Workspaces(alice) = %+v, %v; want one", wss, err)
	}
	w := wss[0]
	wantURL := strings.Replace(g.srv.URL, "127.0.0.1", "8080-demo--42.ws.test", 1) + "/"
	if w.Project != "group/app" || w.Name != "demo" || w.Status != "running" || w.Started.IsZero() ||
		len(w.Endpoints) != 1 || w.Endpoints[0] != (webui.Endpoint{Name: "web", URL: wantURL}) {
		t.Errorf("Workspaces(alice) = %+v; want group/app demo running with endpoint web %s", w, wantURL)
	}
	if wss, _ := b.Workspaces(context.Background(), webui.User{ID: 2, Username: "bob"}); len(wss) != 0 {
		t.Errorf("Workspaces(bob) = %+v, want none", wss)
	}
}

func TestWebBackendTerminal(t *testing.T) {
	g := startWebGateway(t, nil)
	b := webBackend{g.s}
	alice := webui.User{ID: 1, Username: "alice"}
	ctx := context.Background()

	term, err := b.OpenTerminal(ctx, alice, "group/app", "demo", 101, 33)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	sc := readScreen(term)
	if _, err := io.WriteString(term, "stty size; echo hello-$((40+2))\n"); err != nil {
		t.Fatal(err)
	}
	sc.wait(t, `33 101\r?\n(?s:.*)hello-42`)
	if err := term.Resize(70, 20); err != nil {
		t.Fatal(err)
	}
	// The resize travels on the control stream, the keystrokes on the data
	// stream: the shell may run the first echo before the new size is set,
	// so ask again until it shows.
	for i := 0; ; i++ {
		n := sc.count(`SIZE:\d+ \d+`)
		if _, err := io.WriteString(term, "echo SIZE:$(stty size)\n"); err != nil {
			t.Fatal(err)
		}
		sc.wait(t, fmt.Sprintf(`(?s)(?:SIZE:\d+ \d+.*){%d}`, n+1)) // this echo's answer
		if m := sc.wait(t, `SIZE:(\d+ \d+)`); m[1] == "20 70" {
			break
		}
		if i == 100 {
			t.Fatal("the PTY never took the new size")
		}
	}
	if _, err := io.WriteString(term, "exit 3\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-sc.end:
		if err != io.EOF {
			t.Errorf("Read after exit = %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("terminal output did not end after exit")
	}
	if code, err := term.Wait(); code != 3 || err != nil {
		t.Fatalf("Wait = %d, %v; want 3, nil", code, err)
	}

	if _, err := b.OpenTerminal(ctx, webui.User{ID: 2, Username: "bob"}, "group/app", "demo", 80, 24); !errors.Is(err, webui.ErrForbidden) {
		t.Errorf("OpenTerminal as bob = %v, want ErrForbidden", err)
	}
	if _, err := b.OpenTerminal(ctx, alice, "group/app", "nope", 80, 24); !errors.Is(err, webui.ErrUnavailable) {
		t.Errorf("OpenTerminal of a workspace without agent = %v, want ErrUnavailable", err)
	}

	// A shell ended because the workspace is stopping reads as "stopped",
	// not as the exit status of the signal that ended it.
	term, err = b.OpenTerminal(ctx, alice, "42", "demo", 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	sc = readScreen(term)
	if _, err := io.WriteString(term, "echo up\n"); err != nil {
		t.Fatal(err)
	}
	sc.wait(t, `up`)
	for _, ac := range g.s.reg.all() {
		ac.setPhase("stopping", "")
	}
	if _, err := io.WriteString(term, "exit 143\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.Wait(); !errors.Is(err, webui.ErrUnavailable) {
		t.Errorf("Wait while the workspace stops = %v, want ErrUnavailable", err)
	}
	term.Close()
	for _, ac := range g.s.reg.all() {
		ac.setPhase("running", "")
	}

	// The tunnel drops under an open terminal.
	term, err = b.OpenTerminal(ctx, alice, "42", "demo", 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	sc = readScreen(term)
	if _, err := io.WriteString(term, "echo ready\n"); err != nil {
		t.Fatal(err)
	}
	sc.wait(t, `ready`)
	for _, ac := range g.s.reg.all() {
		ac.sess.Close()
	}
	select {
	case err := <-sc.end:
		t.Logf("Read ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not end when the tunnel dropped")
	}
	if _, err := term.Wait(); !errors.Is(err, webui.ErrUnavailable) {
		t.Errorf("Wait after the tunnel dropped = %v, want ErrUnavailable", err)
	}
}

func TestWebBackendMaintainers(t *testing.T) {
	g := startWebGateway(t, func(c *Config) { c.AllowMaintainers = true })
	b := webBackend{g.s}
	ctx := context.Background()
	// Bob is no maintainer; Carol is, and the token she signed in with proves it.
	bob, err := b.UserFromToken(ctx, bobTok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenTerminal(ctx, bob, "group/app", "demo", 80, 24); !errors.Is(err, webui.ErrForbidden) {
		t.Errorf("OpenTerminal as bob = %v, want ErrForbidden", err)
	}
	if _, err := b.OpenTerminal(ctx, webui.User{ID: 3, Username: "carol"}, "group/app", "demo", 80, 24); !errors.Is(err, webui.ErrForbidden) {
		t.Errorf("OpenTerminal as carol before any sign-in = %v, want ErrForbidden (no token to ask GitLab with)", err)
	}
	carol, err := b.UserFromToken(ctx, carolTok)
	if err != nil {
		t.Fatal(err)
	}
	term, err := b.OpenTerminal(ctx, carol, "group/app", "demo", 80, 24)
	if err != nil {
		t.Fatalf("OpenTerminal as maintainer carol = %v", err)
	}
	// Close hangs the shell up; Wait then returns (the agent's exit report, or the end of the
	// stream) instead of blocking.
	term.Close()
	waited := make(chan struct{})
	go func() { _, _ = term.Wait(); close(waited) }() // only that it returns matters here
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait blocked after Close")
	}
}

// postLink calls POST /api/v1/links.
func postLink(t *testing.T, base, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/v1/links", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestLinkCreate(t *testing.T) {
	g := startWebGateway(t, nil)
	base := g.srv.URL

	if code, _ := postLink(t, base, "", `{"project":"group/app","name":"demo"}`); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	// A web-page session is not enough: the link is a credential.
	bc := browser(t)
	signed, err := g.s.web.ui.MintLink(webui.User{ID: 1, Username: "alice"}, aliceTok, "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := bc.Get(signed); err != nil || resp.StatusCode != 303 {
		t.Fatalf("sign in: %v %v", resp, err)
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/links?name=demo", nil)
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err := bc.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("cookie only: %v %v, want 401", resp, err)
	}
	if code, _ := postLink(t, base, "wrong", `{"name":"demo"}`); code != 401 {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code, body := postLink(t, base, bobTok, `{"project":"group/app","name":"demo"}`); code != 403 || strings.Contains(body, "signin") {
		t.Errorf("bob: %d %s, want 403", code, body)
	}
	if code, _ := postLink(t, base, aliceTok, `{"name":"nope"}`); code != 404 {
		t.Errorf("unknown workspace: %d, want 404", code)
	}
	if code, _ := postLink(t, base, aliceTok, `{}`); code != 400 {
		t.Errorf("no name: %d, want 400", code)
	}

	code, body := postLink(t, base, aliceTok, `{"name":"demo"}`) // project: alice's only "demo"
	var l Link
	if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil || !strings.HasPrefix(l.URL, base+"/signin/link/") {
		t.Fatalf("alice: %d %s, want 200 and a link under %s/signin/link/", code, body, base)
	}
	c := browser(t)
	resp, err := c.Get(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/terminal/group/app/-/demo" {
		t.Fatalf("GET link = %d -> %q, want 303 to /terminal/group/app/-/demo", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(base + "/terminal/group/app/-/demo")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "@alice") || !strings.Contains(string(page), "Alice A") {
		t.Fatalf("terminal page = %d, want 200 signed in as Alice A @alice:\n%s", resp.StatusCode, page)
	}
	// Single use, also from another browser.
	resp, err = browser(t).Get(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("reused link = %d, want 410", resp.StatusCode)
	}
	tok := l.URL[strings.LastIndex(l.URL, "/")+1:]
	if logs := g.logs.String(); strings.Contains(logs, tok) || strings.Contains(logs, aliceTok) {
		t.Errorf("the link or token reached the gateway log:\n%s", logs)
	}
}

func TestStripCredentialsDropsWsCookies(t *testing.T) {
	g := startGateway(t, nil)
	req := httptest.NewRequest("GET", "/", nil)
	for _, n := range []string{"ws_endpoint", "__Host-ws_endpoint", "ws_web_session", "__Host-ws_web_session", "__Host-ws_web_csrf", "app"} {
		req.AddCookie(&http.Cookie{Name: n, Value: "v"})
	}
	req.Header.Set("Authorization", "Basic app-credential")
	g.s.stripCredentials(req, &user{cred: CredEndpointSession})
	var got []string
	for _, c := range req.Cookies() {
		got = append(got, c.Name)
	}
	if strings.Join(got, ",") != "app" || req.Header.Get("Authorization") == "" {
		t.Errorf("cookies proxied to the workspace = %v (Authorization %q), want only app and the app's own Authorization", got, req.Header.Get("Authorization"))
	}
}
