package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Finding 3 (issue 10): a browser session outlived the GitLab token that made it.
func TestSessionEndsWithinRecheckOfARevokedToken(t *testing.T) {
	f := newFixture(t, "", nil)
	sess := f.signIn(t)
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
	f.b.set(func(b *fakeBackend) { b.revoked = true })
	f.clock.Advance(59 * time.Second)
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / 59 s after sign-in = %d, want 200 (not re-checked yet)", resp.StatusCode)
	}
	f.clock.Advance(time.Second)
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET / 60 s after the token was revoked = %d, want 303 to sign in", resp.StatusCode)
	}
	if !strings.Contains(f.log.String(), "GitLab no longer accepts its credential") {
		t.Errorf("no log line for the ended session:\n%s", f.log)
	}
	f.b.set(func(b *fakeBackend) { b.revoked = false }) // the session is gone for good
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after the token works again = %d, want 303: the session ended", resp.StatusCode)
	}
}

func TestSessionKeptWhileGitLabIsUnreachable(t *testing.T) {
	f := newFixture(t, "", nil)
	sess := f.signIn(t)
	f.b.set(func(b *fakeBackend) { b.revoked, b.down = true, true })
	f.clock.Advance(time.Minute)
	if resp, body := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "cannot reach it") {
		t.Fatalf("GET / while GitLab is down = %d, want 502 saying so", resp.StatusCode)
	}
	f.b.set(func(b *fakeBackend) { b.revoked, b.down = false, false })
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusOK {
		t.Errorf("GET / once GitLab answers again = %d, want 200", resp.StatusCode)
	}
}

func TestSessionsPerUserAreCapped(t *testing.T) {
	f := newFixture(t, "", func(c *Config) { c.MaxSessionsPerUser = 3 })
	var cookies []*http.Cookie
	for range 5 {
		cookies = append(cookies, f.signIn(t))
		f.clock.Advance(time.Second) // creation order
	}
	if n := len(f.ui.Sessions(alice.ID)); n != 3 {
		t.Errorf("alice has %d sessions, want the cap, 3", n)
	}
	for i, c := range cookies {
		resp, _ := get(t, f.srv.URL+"/", c)
		if want := map[bool]int{true: 200, false: 303}[i >= 2]; resp.StatusCode != want {
			t.Errorf("session %d: GET / = %d, want %d (the oldest end first)", i, resp.StatusCode, want)
		}
	}
	if !strings.Contains(f.log.String(), "session limit reached") {
		t.Error("no log line when the limit was reached")
	}
	// Unused links are capped the same way.
	for range 10 {
		if _, err := f.ui.MintLink(alice, "good-token", "/"); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	keys, _ := f.ui.kv.List(context.Background(), userLinks(alice.ID))
	for _, k := range keys {
		if _, err := f.ui.kv.Get(context.Background(), linkKey(k)); err == nil {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d unused links held, want the cap, 3", n)
	}
}

func TestSessionsPageListsAndEnds(t *testing.T) {
	f := newFixture(t, "", nil)
	a := f.signIn(t)
	f.clock.Advance(time.Second)
	b := f.signIn(t)
	resp, body := get(t, f.srv.URL+"/sessions", a)
	ids := regexp.MustCompile(`name="id" value="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if resp.StatusCode != 200 || len(ids) != 2 || strings.Count(body, "this browser") != 1 {
		t.Fatalf("GET /sessions = %d with %d sessions, want 200 listing 2, one marked current:\n%s", resp.StatusCode, len(ids), body)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
	other := ids[0][1] // newest first: b's
	post := func(origin string, form url.Values) *http.Response {
		req, _ := http.NewRequest("POST", f.srv.URL+"/sessions/end", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.AddCookie(a)
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("https://evil.example", url.Values{"csrf": {csrf}, "id": {other}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site end = %d, want 403", resp.StatusCode)
	}
	if resp := post(f.srv.URL, url.Values{"id": {other}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("end without the form token = %d, want 403", resp.StatusCode)
	}
	if resp, _ := get(t, f.srv.URL+"/", b); resp.StatusCode != 200 {
		t.Fatalf("refused attempts ended session b: %d", resp.StatusCode)
	}
	if resp := post(f.srv.URL, url.Values{"csrf": {csrf}, "id": {other}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("end = %d, want 303", resp.StatusCode)
	}
	if resp, _ := get(t, f.srv.URL+"/", b); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the ended session: GET / = %d, want 303 to sign in", resp.StatusCode)
	}
	if resp, _ := get(t, f.srv.URL+"/", a); resp.StatusCode != 200 {
		t.Errorf("the current session: GET / = %d, want 200", resp.StatusCode)
	}
	// Another user's session cannot be ended by its ID.
	if f.ui.EndSession(alice.ID+1, ids[1][1]) {
		t.Error("EndSession by another user succeeded")
	}
}

func TestOpenTerminalClosesWhenTheSessionEnds(t *testing.T) {
	f := newFixture(t, "", nil)
	c, _, err := f.dial(t, "/terminal/grp/app/-/demo/tty", f.srv.URL, f.signIn(t))
	if err != nil {
		t.Fatal(err)
	}
	f.b.term.out <- []byte("$ ")
	readMsg(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Two tickers wait: the re-check and the ping.
	if err := f.clock.BlockUntilContext(ctx, 2); err != nil {
		t.Fatal(err)
	}
	f.b.set(func(b *fakeBackend) { b.revoked = true })
	f.clock.Advance(time.Minute)
	typ, p := readMsg(t, c)
	var m control
	if typ != websocket.MessageText || json.Unmarshal(p, &m) != nil || m.Type != "error" || m.Reason != "signed_out" {
		t.Fatalf("after the token was revoked: %v %s, want an error message with reason signed_out", typ, p)
	}
	select {
	case <-f.b.term.closed:
	case <-ctx.Done():
		t.Fatal("the shell was not closed")
	}
}

func TestNextIsOnlyAPageOfTheUI(t *testing.T) {
	f := newFixture(t, "", nil)
	for next, want := range map[string]string{
		"/terminal/grp/app/-/demo": "/terminal/grp/app/-/demo",
		"/sessions":                "/sessions",
		"/w/42/demo/8080/":         "/",
		"/api/v1/workspaces":       "/",
		"/signin/link/abc":         "/",
		"https://evil.example/":    "/",
	} {
		_, body := get(t, f.srv.URL+"/signin?next="+url.QueryEscape(next))
		m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(body)
		if m == nil || m[1] != want {
			t.Errorf("sign-in form for next=%s carries %v, want %s", next, m, want)
		}
	}
	f = newFixture(t, "", func(c *Config) {
		c.NextAllowed = func(p string) bool { return strings.HasPrefix(p, "/endpoint-auth?") }
	})
	_, body := get(t, f.srv.URL+"/signin?next="+url.QueryEscape("/endpoint-auth?url=x"))
	if !strings.Contains(body, `value="/endpoint-auth?url=x"`) {
		t.Errorf("Config.NextAllowed not used: %s", body)
	}
}

// An OAuth session keeps GitLab's token, refreshes it when it expires, and ends when GitLab
// refuses the refresh (the user revoked the application).
func TestOAuthSessionRefreshesAndEndsOnRevocation(t *testing.T) {
	var mu sync.Mutex
	refreshes, revoked := 0, false
	gitlab := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.FormValue("grant_type") == "authorization_code":
		case r.FormValue("grant_type") == "refresh_token" && r.FormValue("refresh_token") == "refresh-1" && !revoked:
			refreshes++
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		// expires_in 5: within oauth2's 10 s margin, so every use refreshes it.
		fmt.Fprint(w, `{"access_token":"good-token","token_type":"Bearer","refresh_token":"refresh-1","expires_in":5}`)
	}))
	defer gitlab.Close()
	f := newFixture(t, "", func(c *Config) { c.OAuth = &OAuthConfig{GitLabURL: gitlab.URL, ClientID: "app-id"} })
	resp, _ := get(t, f.srv.URL+"/signin/oauth")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	state := cookie(resp, "ws_web_oauth")
	resp, _ = get(t, f.srv.URL+"/oauth/callback?code=c&state="+url.QueryEscape(loc.Query().Get("state")), state)
	sess := cookie(resp, "ws_web_session")
	if sess == nil {
		t.Fatalf("callback = %d without a session", resp.StatusCode)
	}
	f.clock.Advance(time.Minute)
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != 200 {
		t.Fatalf("GET / after a re-check = %d, want 200", resp.StatusCode)
	}
	mu.Lock()
	n := refreshes
	revoked = true
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d refreshes on the re-check, want 1", n)
	}
	f.clock.Advance(time.Minute)
	if resp, _ := get(t, f.srv.URL+"/", sess); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after the grant was revoked = %d, want 303 to sign in", resp.StatusCode)
	}
}
