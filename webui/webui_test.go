package webui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/internal/testutil"
)

var alice = User{ID: 7, Username: "alice", Name: "Alice A"}

// fakeBackend knows one token ("good-token" is alice) and hands out terminals from term.
type fakeBackend struct {
	mu      sync.Mutex
	tokens  []string // tokens UserFromToken was called with
	openErr error
	term    *fakeTerm
	opened  []string // "project name cols rows"
	revoked bool     // GitLab no longer accepts good-token
	down    bool     // GitLab cannot be reached
}

func (b *fakeBackend) set(f func(*fakeBackend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

func (b *fakeBackend) UserFromToken(_ context.Context, tok string) (User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = append(b.tokens, tok)
	if tok == "good-token" && !b.revoked {
		return alice, nil
	}
	if b.down {
		return User{}, errors.New("dial gitlab: connection refused")
	}
	return User{}, fmt.Errorf("%w: gitlab: 401 Unauthorized", ErrTokenRejected)
}

func (b *fakeBackend) Workspaces(context.Context, User) ([]Workspace, error) {
	return []Workspace{{Project: "grp/app", Name: "demo", Status: "running", Started: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC),
		Endpoints: []Endpoint{{Name: "web", URL: "https://8080-demo.ws.example.com/"}, {Name: "evil", URL: "javascript:alert(1)"}}}}, nil
}

func (b *fakeBackend) OpenTerminal(_ context.Context, u User, project, name string, cols, rows int) (Terminal, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opened = append(b.opened, fmt.Sprintf("%s %s %s %d %d", u.Username, project, name, cols, rows))
	if b.openErr != nil {
		return nil, b.openErr
	}
	return b.term, nil
}

// fakeTerm is a Terminal whose output the test feeds and whose input it reads.
type fakeTerm struct {
	out     chan []byte // Read returns these; close(out) ends the shell
	in      chan []byte
	resized chan [2]int
	code    int
	waitErr error
	closed  chan struct{}
	once    sync.Once
}

func newFakeTerm() *fakeTerm {
	return &fakeTerm{out: make(chan []byte, 8), in: make(chan []byte, 8), resized: make(chan [2]int, 8), closed: make(chan struct{})}
}

func (t *fakeTerm) Read(p []byte) (int, error) {
	select {
	case b, ok := <-t.out:
		if !ok {
			return 0, io.EOF
		}
		return copy(p, b), nil
	case <-t.closed:
		return 0, io.EOF
	}
}

func (t *fakeTerm) Write(p []byte) (int, error) {
	t.in <- bytes.Clone(p)
	return len(p), nil
}

func (t *fakeTerm) Resize(cols, rows int) error { t.resized <- [2]int{cols, rows}; return nil }
func (t *fakeTerm) Wait() (int, error)          { return t.code, t.waitErr }
func (t *fakeTerm) Close() error                { t.once.Do(func() { close(t.closed) }); return nil }

type fixture struct {
	ui    *UI
	srv   *httptest.Server
	b     *fakeBackend
	clock *clockwork.FakeClock
	log   *testutil.SyncBuffer
}

// newFixture serves a UI whose PublicURL is the test server's own URL (plus path).
func newFixture(t *testing.T, path string, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{b: &fakeBackend{term: newFakeTerm()}, clock: clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)), log: &testutil.SyncBuffer{}}
	var h http.Handler = http.NotFoundHandler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	cfg := Config{
		PublicURL: f.srv.URL + path,
		Clock:     f.clock,
		Logger:    slog.New(slog.NewTextHandler(f.log, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	ui, err := New(cfg, f.b)
	if err != nil {
		t.Fatal(err)
	}
	f.ui, h = ui, ui
	return f
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, rawURL string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn consumes a fresh link for alice and returns the session cookie.
func (f *fixture) signIn(t *testing.T) *http.Cookie {
	t.Helper()
	link, err := f.ui.MintLink(alice, "good-token", "/")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, link)
	c := cookie(resp, f.ui.sessionCookie())
	if resp.StatusCode != http.StatusSeeOther || c == nil {
		t.Fatalf("GET %s = %d without a session cookie", link, resp.StatusCode)
	}
	return c
}

func TestLinkSignsInOnce(t *testing.T) {
	f := newFixture(t, "", nil)
	link, err := f.ui.MintLink(alice, "good-token", TerminalPath("grp/sub/app", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, f.srv.URL+"/signin/link/") {
		t.Errorf("MintLink = %q, want it under %s/signin/link/", link, f.srv.URL)
	}
	resp, _ := get(t, link)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/terminal/grp/sub/app/-/demo" {
		t.Fatalf("first GET = %d to %q, want 303 to /terminal/grp/sub/app/-/demo", resp.StatusCode, resp.Header.Get("Location"))
	}
	sess := cookie(resp, "ws_web_session")
	if sess == nil {
		t.Fatal("first GET set no ws_web_session cookie")
	}
	resp, body := get(t, f.srv.URL+"/", sess)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in as <strong>Alice A</strong>") {
		t.Errorf("GET / with the session = %d, want 200 naming Alice A; body:\n%s", resp.StatusCode, body)
	}

	resp, body = get(t, link)
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "already used") || cookie(resp, "ws_web_session") != nil {
		t.Errorf("second GET = %d (cookie %v), want 410 'already used' and no cookie; body:\n%s", resp.StatusCode, cookie(resp, "ws_web_session"), body)
	}
	resp, body = get(t, f.srv.URL+"/signin/link/made-up")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "not valid") {
		t.Errorf("GET unknown link = %d, want 404 'not valid'", resp.StatusCode)
	}
}

func TestLinkExpires(t *testing.T) {
	f := newFixture(t, "", nil)
	link, _ := f.ui.MintLink(alice, "good-token", "/")
	f.clock.Advance(2*time.Minute + time.Second)
	resp, body := get(t, link)
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "expired") || cookie(resp, "ws_web_session") != nil {
		t.Errorf("GET after 2m1s = %d, want 410 'expired' without a cookie; body:\n%s", resp.StatusCode, body)
	}
}

func TestMintLinkRefusesOffsitePaths(t *testing.T) {
	f := newFixture(t, "", nil)
	for _, p := range []string{"", "https://evil.example/", "//evil.example/", "/\\evil.example", "w/x"} {
		if _, err := f.ui.MintLink(alice, "good-token", p); err == nil {
			t.Errorf("MintLink(%q) = nil error, want one", p)
		}
	}
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
		want   string
	}{
		{"http", false, "ws_web_session"},
		{"tls", true, "__Host-ws_web_session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "", func(c *Config) { c.Secure = tc.secure })
			link, _ := f.ui.MintLink(alice, "good-token", "/")
			resp, _ := get(t, link)
			c := cookie(resp, tc.want)
			if c == nil {
				t.Fatalf("no %s cookie in %q", tc.want, resp.Header.Values("Set-Cookie"))
			}
			if !c.HttpOnly || c.Secure != tc.secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 12*3600 {
				t.Errorf("Set-Cookie = %q, want HttpOnly, Secure=%v, SameSite=Lax, Path=/, no Domain, Max-Age=43200", resp.Header.Get("Set-Cookie"), tc.secure)
			}
		})
	}
}

func TestSignedOutIsRedirected(t *testing.T) {
	f := newFixture(t, "", nil)
	resp, _ := get(t, f.srv.URL+"/terminal/grp/app/-/demo")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2Fterminal%2Fgrp%2Fapp%2F-%2Fdemo" {
		t.Errorf("GET terminal page signed out = %d to %q, want 303 to the sign-in page with next", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, f.srv.URL+"/terminal/grp/app/-/demo/tty")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET terminal socket signed out = %d, want 401", resp.StatusCode)
	}
	// An expired session counts as none.
	sess := f.signIn(t)
	f.clock.Advance(12*time.Hour + time.Second)
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / with a 12h1m-old session = %d, want 303 to sign in", resp.StatusCode)
	}
}

func TestListPage(t *testing.T) {
	f := newFixture(t, "", nil)
	resp, body := get(t, f.srv.URL+"/", f.signIn(t))
	for _, want := range []string{
		`<span class="badge ok">running</span>`,
		`>2h 0m</time>`,
		`<a href="https://8080-demo.ws.example.com/">web</a>`,
		`href="/terminal/grp/app/-/demo"`,
		`<a href="#ZgotmplZ">evil</a>`, // html/template defused the javascript: URL
		`@alice`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / = %d, body lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want script-src 'self'", csp)
	}
}

// tokenForm fetches the sign-in page and returns its CSRF cookie and form token.
func tokenForm(t *testing.T, f *fixture) (*http.Cookie, string) {
	t.Helper()
	resp, body := get(t, f.srv.URL+"/signin?next=/terminal/grp/app/-/demo")
	c := cookie(resp, "ws_web_csrf")
	_, rest, ok := strings.Cut(body, `name="csrf" value="`)
	if c == nil || !ok {
		t.Fatalf("sign-in page has no CSRF cookie or field; body:\n%s", body)
	}
	tok, _, _ := strings.Cut(rest, `"`)
	return c, tok
}

func postForm(t *testing.T, f *fixture, path, origin string, form url.Values, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestTokenSignIn(t *testing.T) {
	f := newFixture(t, "", nil)
	csrf, tok := tokenForm(t, f)
	form := func(csrf, token string) url.Values {
		return url.Values{"csrf": {csrf}, "token": {token}, "next": {"/terminal/grp/app/-/demo"}}
	}
	if r := postForm(t, f, "/signin", f.srv.URL, form("forged", "good-token"), csrf); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token = %d, want 403", r.StatusCode)
	}
	if r := postForm(t, f, "/signin", f.srv.URL, form(tok, "good-token")); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST without the CSRF cookie = %d, want 403", r.StatusCode)
	}
	if r := postForm(t, f, "/signin", "https://evil.example", form(tok, "good-token"), csrf); r.StatusCode != http.StatusForbidden {
		t.Errorf("POST from another origin = %d, want 403", r.StatusCode)
	}
	if r := postForm(t, f, "/signin", f.srv.URL, form(tok, "secret-bad-token"), csrf); r.StatusCode != http.StatusUnauthorized || cookie(r, "ws_web_session") != nil {
		t.Errorf("POST with a rejected token = %d, want 401 and no session", r.StatusCode)
	}
	r := postForm(t, f, "/signin", f.srv.URL, form(tok, "good-token"), csrf)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/terminal/grp/app/-/demo" || cookie(r, "ws_web_session") == nil {
		t.Errorf("POST with a good token = %d to %q, want 303 to next with a session", r.StatusCode, r.Header.Get("Location"))
	}
	if got := f.b.tokens; len(got) != 2 {
		t.Errorf("UserFromToken calls = %q, want only the two CSRF-valid ones", got)
	}
	if strings.Contains(f.log.String(), "secret-bad-token") || strings.Contains(f.log.String(), "good-token") {
		t.Errorf("log contains a token:\n%s", f.log)
	}
}

func TestTokenSignInRateLimited(t *testing.T) {
	f := newFixture(t, "", nil)
	csrf, tok := tokenForm(t, f)
	bad := url.Values{"csrf": {tok}, "token": {"bad"}}
	for i := range maxFailures {
		if r := postForm(t, f, "/signin", f.srv.URL, bad, csrf); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, r.StatusCode)
		}
	}
	good := url.Values{"csrf": {tok}, "token": {"good-token"}}
	if r := postForm(t, f, "/signin", f.srv.URL, good, csrf); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("attempt after %d failures = %d, want 429", maxFailures, r.StatusCode)
	}
	if n := len(f.b.tokens); n != maxFailures {
		t.Errorf("UserFromToken called %d times, want %d (not for the limited attempt)", n, maxFailures)
	}
	f.clock.Advance(time.Minute)
	if r := postForm(t, f, "/signin", f.srv.URL, good, csrf); r.StatusCode != http.StatusSeeOther {
		t.Errorf("attempt a minute later = %d, want 303", r.StatusCode)
	}
}

func TestSignOut(t *testing.T) {
	f := newFixture(t, "", nil)
	sess := f.signIn(t)
	_, body := get(t, f.srv.URL+"/", sess)
	_, rest, _ := strings.Cut(body, `name="csrf" value="`)
	tok, _, _ := strings.Cut(rest, `"`)
	if r := postForm(t, f, "/signout", f.srv.URL, url.Values{"csrf": {"nope"}}, sess); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out with a wrong CSRF token = %d, want 403", r.StatusCode)
	}
	if r := postForm(t, f, "/signout", f.srv.URL, url.Values{"csrf": {tok}}, sess); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out = %d, want 303", r.StatusCode)
	}
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after sign-out = %d, want 303 to sign in", resp.StatusCode)
	}
}

func (f *fixture) dial(t *testing.T, path, origin string, sess *http.Cookie) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	if sess != nil {
		h.Set("Cookie", sess.Name+"="+sess.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+path, &websocket.DialOptions{HTTPHeader: h})
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func TestTerminalOriginChecked(t *testing.T) {
	f := newFixture(t, "", nil)
	sess := f.signIn(t)
	for _, origin := range []string{"", "https://evil.example", "https" + strings.TrimPrefix(f.srv.URL, "http")} {
		_, resp, err := f.dial(t, "/terminal/grp/app/-/demo/tty", origin, sess)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("dial with Origin %q: err %v, want 403", origin, err)
		}
	}
	if len(f.b.opened) != 0 {
		t.Errorf("OpenTerminal calls = %q, want none for refused origins", f.b.opened)
	}
	if _, _, err := f.dial(t, "/terminal/grp/app/-/demo/tty", f.srv.URL, sess); err != nil {
		t.Errorf("dial with Origin %s: %v, want success", f.srv.URL, err)
	}
}

func readMsg(t *testing.T, c *websocket.Conn) (websocket.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, p, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, p
}

func TestTerminalBridge(t *testing.T) {
	f := newFixture(t, "", nil)
	term := f.b.term
	term.code = 3
	c, _, err := f.dial(t, "/terminal/grp/sub/app/-/demo/tty?cols=120&rows=40", f.srv.URL, f.signIn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	term.out <- []byte("\x1b[32mhello\x1b[0m\r\n")
	if typ, p := readMsg(t, c); typ != websocket.MessageBinary || string(p) != "\x1b[32mhello\x1b[0m\r\n" {
		t.Errorf("first message = %v %q, want the shell's bytes as binary", typ, p)
	}
	_ = c.Write(ctx, websocket.MessageBinary, []byte("echo hi\r"))
	if got := <-term.in; string(got) != "echo hi\r" {
		t.Errorf("shell input = %q, want %q", got, "echo hi\r")
	}
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"resize","cols":100,"rows":30}`))
	if got := <-term.resized; got != [2]int{100, 30} {
		t.Errorf("Resize(%d, %d), want (100, 30)", got[0], got[1])
	}
	close(term.out) // the shell exits
	typ, p := readMsg(t, c)
	if typ != websocket.MessageText || string(p) != `{"type":"exit","code":3}` {
		t.Errorf("last message = %v %s, want {\"type\":\"exit\",\"code\":3}", typ, p)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after exit: %v, want a normal close", err)
	}
	if want := "alice grp/sub/app demo 120 40"; len(f.b.opened) != 1 || f.b.opened[0] != want {
		t.Errorf("OpenTerminal calls = %q, want [%q]", f.b.opened, want)
	}
}

func TestTerminalEndsWhenWorkspaceStops(t *testing.T) {
	f := newFixture(t, "", nil)
	f.b.term.waitErr = fmt.Errorf("tunnel closed: %w", ErrUnavailable)
	c, _, err := f.dial(t, "/terminal/grp/app/-/demo/tty", f.srv.URL, f.signIn(t))
	if err != nil {
		t.Fatal(err)
	}
	close(f.b.term.out)
	var m control
	_, p := readMsg(t, c)
	if json.Unmarshal(p, &m) != nil || m.Type != "error" || m.Reason != "unavailable" || !strings.Contains(m.Message, "stopped") {
		t.Errorf("message = %s, want an unavailable error saying the workspace stopped", p)
	}
}

func TestTerminalOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason string
		text   string
	}{
		{fmt.Errorf("job 9 finished: %w", ErrUnavailable), "unavailable", "Workspace demo is not running"},
		{fmt.Errorf("owner is bob: %w", ErrForbidden), "forbidden", "You may not open a terminal"},
		{fmt.Errorf("no agent: %w", ErrNotFound), "not_found", "There is no workspace demo"},
		{errors.New("dial 10.0.0.7:443: connection refused"), "internal", "could not open a terminal"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			f := newFixture(t, "", nil)
			f.b.openErr = tc.err
			c, _, err := f.dial(t, "/terminal/grp/app/-/demo/tty", f.srv.URL, f.signIn(t))
			if err != nil {
				t.Fatal(err)
			}
			_, p := readMsg(t, c)
			var m control
			if json.Unmarshal(p, &m) != nil || m.Type != "error" || m.Reason != tc.reason || !strings.Contains(m.Message, tc.text) {
				t.Errorf("message = %s, want reason %q and text %q", p, tc.reason, tc.text)
			}
			if strings.Contains(string(p), "10.0.0.7") || strings.Contains(string(p), "bob") {
				t.Errorf("message %s leaks the backend's error text", p)
			}
		})
	}
}

func TestMountedUnderPath(t *testing.T) {
	f := newFixture(t, "/ui", nil)
	link, _ := f.ui.MintLink(alice, "good-token", TerminalPath("grp/app", "demo"))
	if !strings.HasPrefix(link, f.srv.URL+"/ui/signin/link/") {
		t.Errorf("MintLink = %q, want it under /ui", link)
	}
	resp, _ := get(t, link)
	if resp.Header.Get("Location") != "/ui/terminal/grp/app/-/demo" {
		t.Errorf("link redirects to %q, want /ui/terminal/grp/app/-/demo", resp.Header.Get("Location"))
	}
	_, body := get(t, f.srv.URL+"/ui/terminal/grp/app/-/demo", cookie(resp, "ws_web_session"))
	if !strings.Contains(body, `data-socket="/ui/terminal/grp/app/-/demo/tty"`) || !strings.Contains(body, `src="/ui/assets/app.js?v=`) {
		t.Errorf("terminal page lacks /ui paths:\n%s", body)
	}
	if resp, _ := get(t, f.srv.URL+"/uix/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /uix/ = %d, want 404", resp.StatusCode)
	}
	resp, _ = get(t, f.srv.URL+"/ui/assets/app.js?v="+versions["app.js"])
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET app.js = %d %q %q, want 200, javascript, immutable", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
}

func TestOAuthPKCE(t *testing.T) {
	var challenge string
	gitlab := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" || r.FormValue("grant_type") != "authorization_code" || r.FormValue("code") != "the-code" || r.FormValue("client_id") != "app-id" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json") // as GitLab answers
		fmt.Fprint(w, `{"access_token":"good-token","token_type":"Bearer","refresh_token":"refresh-1","expires_in":7200}`)
	}))
	defer gitlab.Close()
	f := newFixture(t, "", func(c *Config) { c.OAuth = &OAuthConfig{GitLabURL: gitlab.URL, ClientID: "app-id"} })

	resp, _ := get(t, f.srv.URL+"/signin/oauth?next=/terminal/grp/app/-/demo")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	challenge = q.Get("code_challenge")
	state := cookie(resp, "ws_web_oauth")
	if resp.StatusCode != http.StatusSeeOther || loc.Path != "/oauth/authorize" || q.Get("code_challenge_method") != "S256" ||
		q.Get("redirect_uri") != f.srv.URL+"/oauth/callback" || q.Get("scope") != "read_user" || state == nil || q.Get("state") != state.Value {
		t.Fatalf("GET /signin/oauth = %d to %s (state cookie %v)", resp.StatusCode, loc, state)
	}

	// A callback in a browser without the state cookie is refused.
	if resp, _ := get(t, f.srv.URL+"/oauth/callback?code=the-code&state="+url.QueryEscape(state.Value)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without the state cookie = %d, want 400", resp.StatusCode)
	}
	// That attempt used up the state; start again.
	resp, _ = get(t, f.srv.URL+"/signin/oauth?next=/terminal/grp/app/-/demo")
	loc, _ = url.Parse(resp.Header.Get("Location"))
	challenge, state = loc.Query().Get("code_challenge"), cookie(resp, "ws_web_oauth")
	resp, body := get(t, f.srv.URL+"/oauth/callback?code=the-code&state="+url.QueryEscape(state.Value), state)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/terminal/grp/app/-/demo" || cookie(resp, "ws_web_session") == nil {
		t.Errorf("callback = %d to %q, want 303 to next with a session; body:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// Replaying the callback fails: the state is single-use.
	if resp, _ := get(t, f.srv.URL+"/oauth/callback?code=the-code&state="+url.QueryEscape(state.Value), state); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback = %d, want 400", resp.StatusCode)
	}
}

func TestParseWorkspacePath(t *testing.T) {
	for _, tc := range []struct {
		in            string
		project, name string
		tty, ok       bool
	}{
		{"grp/app/-/demo", "grp/app", "demo", false, true},
		{"grp/sub/app/-/demo/tty", "grp/sub/app", "demo", true, true},
		{"grp/app/demo", "", "", false, false},
		{"-/demo", "", "", false, false},
		{"grp//app/-/demo", "", "", false, false},
		{"grp/app/-/a/b", "", "", false, false},
	} {
		p, n, tty, ok := parseWorkspacePath(tc.in)
		if p != tc.project || n != tc.name || tty != tc.tty || ok != tc.ok {
			t.Errorf("parseWorkspacePath(%q) = %q, %q, %v, %v, want %q, %q, %v, %v", tc.in, p, n, tty, ok, tc.project, tc.name, tc.tty, tc.ok)
		}
	}
}
