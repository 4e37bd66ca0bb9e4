package gateway

// The trust boundary, tried as an attacker would (issue 10): each test reproduces a finding
// against a real gateway with a real agent, and checks that it is refused.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

// appServer is the workspace's web application: it answers "app:<path>" and records what
// reached it.
type appServer struct {
	*httptest.Server
	port int

	mu   sync.Mutex
	reqs []*http.Request
}

func startApp(t *testing.T) *appServer {
	t.Helper()
	a := &appServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, r.Clone(context.Background()))
		a.mu.Unlock()
		fmt.Fprintf(w, "app:%s", r.URL.RequestURI())
	}))
	t.Cleanup(a.Close)
	a.port = a.Listener.Addr().(*net.TCPAddr).Port
	return a
}

func (a *appServer) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.reqs...)
}

// secGateway is a gateway at http://ws.test:<port> whose endpoint hosts are *.ws.test (the
// default: the public URL's host), with alice's workspace group/app demo (project 42)
// serving app on its endpoint "app".
type secGateway struct {
	*webGateway
	app      *appServer
	public   string // http://ws.test:<port>
	endpoint string // http://<app port>-demo--42.ws.test:<port>
}

func startSecGateway(t *testing.T, mod func(*Config)) *secGateway {
	t.Helper()
	app := startApp(t)
	var public string
	g := startWebGatewayWith(t, func(c *Config) {
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.PublicURL, "http://"))
		public = "http://ws.test:" + port
		c.PublicURL, c.EndpointDomain = public, ""
		if mod != nil {
			mod(c)
		}
	}, []plan.Endpoint{{Name: "app", TargetPort: app.port, Protocol: "http"}})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(public, "http://"))
	return &secGateway{webGateway: g, app: app, public: public,
		endpoint: fmt.Sprintf("http://%d-demo--42.ws.test:%s", app.port, port)}
}

// transport sends every request, whatever its host, to the test gateway.
func (g *secGateway) transport() *http.Transport {
	addr := g.srv.Listener.Addr().String()
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// browser is a cookie-keeping client that reaches the gateway under any host name and
// follows redirects, as a browser would.
func (g *secGateway) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: g.transport()}
}

// signIn mints alice's sign-in link (as 'ws open' does) and opens it in c.
func (g *secGateway) signIn(t *testing.T, c *http.Client) {
	t.Helper()
	code, body := postLink(t, g.srv.URL, aliceTok, `{"name":"demo"}`)
	if code != 200 {
		t.Fatalf("POST /api/v1/links = %d %s", code, body)
	}
	link := regexp.MustCompile(`"url":"([^"]+)"`).FindStringSubmatch(body)[1]
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in link = %d, want the terminal page", resp.StatusCode)
	}
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// crossSite marks req as a browser would for a request a page on origin made.
func crossSite(req *http.Request, origin, site, mode string) *http.Request {
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", site)
	req.Header.Set("Sec-Fetch-Mode", mode)
	return req
}

func setCookieNames(h http.Header) []string {
	var out []string
	for _, c := range (&http.Response{Header: h}).Cookies() {
		out = append(out, c.Name)
	}
	return out
}

// Finding 1: another site signs the browser in with the attacker's token (login CSRF) and
// sends it on to the attacker's workspace content served on the gateway's own origin.
func TestLoginCSRFIsRefused(t *testing.T) {
	g := startSecGateway(t, nil)
	noRedirect := &http.Client{Transport: g.transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"token": {bobTok}, "next": {g.public + "/w/42/demo/" + strconv.Itoa(g.app.port) + "/"}}
	for _, p := range []string{"/api/v1/session", "/signin"} {
		req, _ := http.NewRequest("POST", g.public+p, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		crossSite(req, "http://evil.example", "cross-site", "navigate")
		resp, body := do(t, noRedirect, req)
		if resp.StatusCode < 400 {
			t.Errorf("cross-site form POST %s = %d %s, want it refused", p, resp.StatusCode, body)
		}
		for _, n := range setCookieNames(resp.Header) {
			if strings.Contains(n, "session") {
				t.Errorf("cross-site form POST %s set cookie %s", p, n)
			}
		}
	}
	// Workspace content is never served on the gateway's own origin by default.
	req, _ := http.NewRequest("GET", g.public+"/w/42/demo/"+strconv.Itoa(g.app.port)+"/", nil)
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	if resp, body := do(t, noRedirect, req); resp.StatusCode != 404 || len(g.app.requests()) != 0 {
		t.Errorf("GET /w/... on the gateway's origin = %d %q (app saw %d requests), want 404 and nothing proxied", resp.StatusCode, body, len(g.app.requests()))
	}
	// A sign-in never continues to an endpoint, only to the web page.
	for _, next := range []string{"/w/42/demo/8080/", "/api/v1/workspaces", g.endpoint + "/", "//evil.example/"} {
		req, _ := http.NewRequest("GET", g.public+"/signin?next="+url.QueryEscape(next), nil)
		_, body := do(t, noRedirect, req)
		m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(body)
		if m == nil || m[1] != "/" {
			t.Errorf("sign-in form for next=%s carries next %v, want /", next, m)
		}
	}
}

// Finding 2: the tunnel (and every other API) took the endpoint-domain cookie with no
// Origin check, so a page on any endpoint host could open the user's other workspaces.
func TestAPIsRefuseBrowserCookies(t *testing.T) {
	g := startSecGateway(t, nil)
	c := g.browser(t)
	g.signIn(t, c)
	// The browser opens alice's endpoint: it signs in there too.
	resp, body := do(t, c, mustReq("GET", g.endpoint+"/page"))
	if resp.StatusCode != 200 || body != "app:/page" {
		t.Fatalf("alice opening her endpoint = %d %q, want app:/page", resp.StatusCode, body)
	}
	pub, _ := url.Parse(g.public)
	cookies := c.Jar.Cookies(pub) // what the browser sends to the gateway's host
	for _, tc := range []struct{ path, upgrade string }{
		{"/api/v1/workspaces/42/demo/tunnel", "websocket"},
		{"/api/v1/workspaces/-/demo/tunnel", "websocket"},
		{"/api/v1/workspaces/42/demo/port/" + strconv.Itoa(g.app.port), "ws-port/1"},
		{"/api/v1/workspaces/42/demo/ssh", "ws-port/1"},
		{"/api/v1/workspaces/42/demo/terminal", "websocket"},
		{"/api/v1/workspaces/42/demo", ""},
		{"/api/v1/workspaces", ""},
	} {
		req := mustReq("GET", g.public+tc.path)
		if tc.upgrade != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", tc.upgrade)
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		// A page on an endpoint host: same site as the gateway, another origin.
		crossSite(req, g.endpoint, "same-site", map[bool]string{true: "websocket", false: "cors"}[tc.upgrade == "websocket"])
		resp, err := (&http.Client{Transport: g.transport()}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if resp.StatusCode != http.StatusSwitchingProtocols { // else the body is the connection
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode == 200 {
			t.Errorf("GET %s from a page on %s with the browser's cookies (%d) = %d %s, want it refused",
				tc.path, g.endpoint, len(cookies), resp.StatusCode, body)
		}
	}
}

// mustReq is a request as a browser sends it when it opens u.
func mustReq(method, u string) *http.Request {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	return req
}

// recorder remembers every Set-Cookie the gateway sends.
type recorder struct {
	http.RoundTripper
	mu  sync.Mutex
	set []*http.Cookie
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.RoundTripper.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.set = append(r.set, resp.Cookies()...)
		r.mu.Unlock()
	}
	return resp, err
}

// Finding 5: with TLS on and a public URL that says http, one cookie was not Secure: the
// gateway built it in two places that had drifted.
func TestEveryCookieIsSecureWithTLS(t *testing.T) {
	g := startSecGateway(t, func(c *Config) { c.TLS = true })
	rec := &recorder{RoundTripper: g.transport()}
	// Cookies marked Secure are not sent over http by a browser; this client sends back
	// every cookie it got, by name, to see every step.
	jar := map[string]string{}
	client := &http.Client{Transport: rec, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		for _, c := range req.Response.Cookies() {
			jar[c.Name] = c.Value
		}
		for n, v := range jar {
			req.AddCookie(&http.Cookie{Name: n, Value: v})
		}
		return nil
	}}
	code, body := postLink(t, g.srv.URL, aliceTok, `{"name":"demo"}`)
	if code != 200 {
		t.Fatal(body)
	}
	link := regexp.MustCompile(`"url":"([^"]+)"`).FindStringSubmatch(body)[1]
	do(t, client, mustReq("GET", link))
	do(t, client, mustReq("GET", g.endpoint+"/"))
	// A script's JSON sign-in, where the gateway still has one.
	req, _ := http.NewRequest("POST", g.public+"/api/v1/session", strings.NewReader(`{"token":"`+aliceTok+`"}`))
	req.Header.Set("Content-Type", "application/json")
	do(t, client, req)
	if len(rec.set) == 0 {
		t.Fatal("the gateway set no cookie at all")
	}
	for _, c := range rec.set {
		if !c.Secure {
			t.Errorf("cookie %s is not Secure although the gateway serves TLS", c.Name)
		}
	}
}

// tunnel connects to workspace demo as alice, as 'ws shell' does; the context ends with
// the test (or after 10 s).
func (g *secGateway) tunnel(t *testing.T, noPortConns bool) (*gwclient.Client, *gwclient.Session, context.Context) {
	t.Helper()
	cl := &gwclient.Client{BaseURL: g.srv.URL, Token: aliceTok, NoPortConns: noPortConns}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	sess, err := cl.Connect(ctx, "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return cl, sess, ctx
}

// endpointFlow opens the endpoint in a signed-in browser and returns the browser, the
// cookies the gateway set on the way, and the hand-off's code URL.
func (g *secGateway) endpointFlow(t *testing.T) (*http.Client, *recorder, string) {
	t.Helper()
	rec := &recorder{RoundTripper: g.transport()}
	jar, _ := cookiejar.New(nil)
	var codeURL string
	c := &http.Client{Jar: jar, Transport: rec, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == EndpointCodePath {
			codeURL = req.URL.String()
		}
		return nil
	}}
	g.signIn(t, c)
	resp, body := do(t, c, mustReq("GET", g.endpoint+"/page?x=1"))
	if resp.StatusCode != 200 || body != "app:/page?x=1" || codeURL == "" {
		t.Fatalf("opening the endpoint = %d %q (code URL %q), want app:/page?x=1 through the hand-off", resp.StatusCode, body, codeURL)
	}
	return c, rec, codeURL
}

func TestEndpointCookieReachesOnlyItsEndpoint(t *testing.T) {
	g := startSecGateway(t, nil)
	c, rec, codeURL := g.endpointFlow(t)
	var ep *http.Cookie
	for _, ck := range rec.set {
		if ck.Name == "ws_endpoint" {
			ep = ck
		}
	}
	if ep == nil || ep.Domain != "" || !ep.HttpOnly || ep.SameSite != http.SameSiteLaxMode || ep.Path != "/" {
		t.Fatalf("endpoint cookie %+v, want host-only (no Domain), HttpOnly, SameSite=Lax, Path=/", ep)
	}
	noFollow := &http.Client{Transport: g.transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// The code works once, and only on its own host.
	if resp, _ := do(t, noFollow, mustReq("GET", codeURL)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("replayed code = %d, want 403", resp.StatusCode)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.public, "http://"))
	other := fmt.Sprintf("http://%d-demo--42.ws.test:%s", g.app.port+1, port)
	otherWS := fmt.Sprintf("http://%d-other--42.ws.test:%s", g.app.port, port)
	for _, host := range []string{other, otherWS} {
		req := mustReq("GET", host+"/")
		req.AddCookie(&http.Cookie{Name: ep.Name, Value: ep.Value})
		resp, body := do(t, noFollow, req)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), EndpointAuthPath) {
			t.Errorf("%s with the cookie of %s = %d %q, want 303 to sign in there", host, g.endpoint, resp.StatusCode, body)
		}
	}
	before := len(g.app.requests())
	// Requests from pages: the endpoint's own and a sibling port of the same workspace may;
	// another site and another workspace's endpoint may not.
	for _, tc := range []struct {
		origin, site string
		want         int
	}{
		{g.endpoint, "same-origin", 200},
		{other, "same-site", 200},
		{otherWS, "same-site", 403},
		{"http://evil.example", "cross-site", 403},
	} {
		req := crossSite(mustReq("POST", g.endpoint+"/api"), tc.origin, tc.site, "cors")
		resp, body := do(t, c, req)
		if resp.StatusCode != tc.want {
			t.Errorf("POST from %s = %d %q, want %d", tc.origin, resp.StatusCode, body, tc.want)
		}
	}
	if n := len(g.app.requests()) - before; n != 2 {
		t.Errorf("the app saw %d of the POSTs, want the 2 allowed ones", n)
	}
	for _, r := range g.app.requests() {
		if strings.Contains(r.Header.Get("Cookie"), "ws_") {
			t.Errorf("a ws cookie reached the workspace: %q", r.Header.Get("Cookie"))
		}
	}
	// Ending the web session (here through the API, with the token) ends the endpoint's.
	req := mustReq("GET", g.srv.URL+"/api/v1/sessions")
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	_, body := do(t, noFollow, req)
	id := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("GET /api/v1/sessions = %s, want alice's session", body)
	}
	req, _ = http.NewRequest("DELETE", g.srv.URL+"/api/v1/sessions/"+id[1], nil)
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	if resp, _ := do(t, noFollow, req); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE session = %d, want 204", resp.StatusCode)
	}
	req = mustReq("GET", g.endpoint+"/after")
	req.AddCookie(&http.Cookie{Name: ep.Name, Value: ep.Value})
	if resp, _ := do(t, noFollow, req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("endpoint after its web session ended = %d, want 303 to sign in again", resp.StatusCode)
	}
}

// Finding 3: access outlived a revoked GitLab token. Now every credential, and every
// connection it opened, ends within UserCacheTTL (60 s) of the revocation.
func TestRevokedTokenEndsAccessWithinAMinute(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	g := startSecGateway(t, func(c *Config) { c.Clock = clock; c.JobCheckInterval = -1 })
	c, _, _ := g.endpointFlow(t)
	cl, sess, ctx := g.tunnel(t, false)
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the tunnel's re-check
		t.Fatal(err)
	}
	g.gl.revoked.Store(aliceTok, true)
	clock.Advance(59 * time.Second)
	if resp, body := do(t, c, mustReq("GET", g.endpoint+"/still")); resp.StatusCode != 200 {
		t.Fatalf("59 s after: endpoint = %d %q, want 200 (not re-checked yet)", resp.StatusCode, body)
	}
	clock.Advance(time.Second)
	waitClosed(t, "the tunnel to close", sess.Done())
	noFollow := &http.Client{Jar: c.Jar, Transport: g.transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, _ := do(t, noFollow, mustReq("GET", g.endpoint+"/gone")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("60 s after: endpoint = %d, want 303 (signed out)", resp.StatusCode)
	}
	if resp, _ := do(t, noFollow, mustReq("GET", g.public+"/")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("60 s after: web page = %d, want 303 to sign in", resp.StatusCode)
	}
	if _, err := cl.Connect(ctx, "42", "demo"); err == nil {
		t.Error("a new tunnel with the revoked token was accepted")
	}
	if !strings.Contains(g.logs.String(), "access ended: credential no longer accepted") {
		t.Errorf("no log line for the closed tunnel:\n%s", g.logs)
	}
}

// metricOf reads one sample of the gateway's /metrics.
func metricOf(t *testing.T, s *Server, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		return ""
	}
	return m[1]
}

// Finding 4: streams on a tunnel were unbounded (100,000 half-open streams took the gateway
// from 64 MB to 700 MB). A tunnel and an agent now have a stream limit, with a metric and
// a log line, and the workspace stays usable.
func TestStreamLimits(t *testing.T) {
	g := startSecGateway(t, func(c *Config) { c.MaxTunnelStreams = 6; c.MaxAgentStreams = 4 })
	cl, sess, ctx := g.tunnel(t, true)
	// The agent holds its control stream: 3 more streams reach it, the 4th is refused.
	var held []net.Conn
	for i := range 4 {
		c, err := tunnel.Open(ctx, sess.Mux(), tunnel.Header{Kind: tunnel.KindPort, Port: g.app.port})
		if i < 3 && err != nil {
			t.Fatalf("port stream %d: %v", i+1, err)
		}
		if i == 3 {
			if err == nil || !strings.Contains(err.Error(), "too many open connections") {
				t.Fatalf("port stream 4 with 3 open and the agent's limit 4: %v, want refused", err)
			}
			break
		}
		held = append(held, c)
	}
	if got := metricOf(t, g.s, `ws_gateway_stream_limit_refusals_total{where="agent"}`); got != "1" {
		t.Errorf("agent refusals metric = %q, want 1", got)
	}
	// Streams that never send a header (half-open) count against the tunnel's limit: with 3
	// held (the refused one has ended), 3 more fit in 6, the next is closed by the gateway.
	for i := range 3 {
		st, err := sess.Mux().OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_ = i
	}
	// The gateway accepts streams in order: once it refused the next one, the three were
	// counted. (Reading the refused stream waits for that.)
	st, err := sess.Mux().OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("stream 7 on a tunnel limited to 6: read %d, %v; want it closed by the gateway", n, err)
	}
	if got := metricOf(t, g.s, `ws_gateway_stream_limit_refusals_total{where="tunnel"}`); got != "1" {
		t.Errorf("tunnel refusals metric = %q, want 1", got)
	}
	for _, want := range []string{"tunnel stream limit reached", "agent stream limit reached"} {
		if !strings.Contains(g.logs.String(), want) {
			t.Errorf("no log line %q", want)
		}
	}
	// A client that keeps opening streams over the limit loses the tunnel (6 refusals).
	for range 5 {
		if st, err := sess.Mux().OpenStream(); err == nil {
			defer st.Close()
		}
	}
	waitClosed(t, "the abusive tunnel to be closed", sess.Done())
	if !strings.Contains(g.logs.String(), "tunnel closed: it kept opening streams over the limit") {
		t.Error("no log line for the closed tunnel")
	}
	// The gateway stays responsive.
	if _, err := cl.Status(ctx, "42", "demo"); err != nil {
		t.Errorf("status after the limits were hit: %v", err)
	}
	for _, c := range held {
		c.Close()
	}
}
