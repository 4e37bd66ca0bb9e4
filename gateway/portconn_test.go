package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/crypto/ssh"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

// echoPort serves a TCP echo on loopback: it copies until EOF, then
// half-closes.
func echoPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// The client checks what comes back.
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// startAgent runs a until the test ends; an error from Run fails the test.
func startAgent(t *testing.T, a *agent.Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := a.Run(ctx); err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

// runAgent runs a real agent for workspace demo (job 5) against g.
func runAgent(t *testing.T, g *testGateway, noPortConns bool) {
	t.Helper()
	startAgent(t, agent.New(agent.Config{Plan: &plan.Plan{Version: 1, Workspace: "demo"}, Token: "job-5-ws/demo", Gateway: g.url, NoPortConns: noPortConns, Out: io.Discard}))
	waitFor(t, g.s, "the agent to connect", func() bool { return g.s.Agents() == 1 })
}

// echo writes msg, half-closes and reads everything back.
func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if err := tunnel.CloseWrite(c); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != msg {
		t.Fatalf("echo = %q, %v; want %q", b, err, msg)
	}
}

func (g *testGateway) metric(t *testing.T, name string) string {
	t.Helper()
	_, body, _ := g.get(t, "/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

func TestPortConnEndToEnd(t *testing.T) {
	g := startGateway(t, nil)
	runAgent(t, g, false)
	port := echoPort(t)
	s, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada"}).Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.UsesPortConns() {
		t.Fatal("gateway did not offer port data connections for an agent that takes them")
	}
	for i := range 3 {
		c, err := s.DialPort(context.Background(), port)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*net.TCPConn); !ok {
			t.Errorf("DialPort returned %T, want the raw *net.TCPConn", c)
		}
		echo(t, c, strings.Repeat(fmt.Sprint(i), 1<<20))
		c.Close()
	}
	waitFor(t, g.s, "the data connections to end", func() bool { return g.metric(t, "ws_gateway_port_streams_active") == "0" })
	if v := g.metric(t, "ws_gateway_port_data_connections_total"); v != "3" {
		t.Errorf("port data connections = %q, want 3", v)
	}
	if v := g.metric(t, "ws_gateway_bytes_to_agent_total"); v == "" || v == "0" {
		t.Errorf("bytes to agent = %q, want counted", v)
	}
	// A closed port is the agent's error, not a fallback.
	_, err = s.DialPort(context.Background(), closedPort(t))
	var re *tunnel.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "nothing listens") {
		t.Errorf("closed port: %v, want the agent's error", err)
	}
	if !s.UsesPortConns() {
		t.Error("an agent error turned port data connections off")
	}
	g.s.ports.mu.Lock()
	n, m := len(g.s.ports.pending), len(g.s.ports.perAg)
	g.s.ports.mu.Unlock()
	if n != 0 || m != 0 {
		t.Errorf("%d tokens, %d agent counts left pending", n, m)
	}
}

func TestPortConnFallback(t *testing.T) {
	g := startGateway(t, nil)
	runAgent(t, g, true)
	port := echoPort(t)
	s, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada"}).Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UsesPortConns() {
		t.Fatal("gateway offered port data connections for an agent without the capability")
	}
	c, err := s.DialPort(context.Background(), port)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "over yamux")
	c.Close()
	// A client that tries anyway is told 501 and falls back for good.
	s2, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada", ForcePortConns: true}).Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s = s2
	c, err = s.DialPort(context.Background(), port)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "fell back")
	c.Close()
	if s.UsesPortConns() {
		t.Error("still trying data connections after a 501")
	}
	if v := g.metric(t, "ws_gateway_port_data_connections_total"); v != "0" {
		t.Errorf("port data connections = %q, want 0", v)
	}
}

// fakePortAgent connects as a Hello-capable agent without serving streams:
// the test reads the gateway's portconn requests itself.
func (g *testGateway) fakePortAgent(t *testing.T) *yamux.Session {
	t.Helper()
	h := http.Header{}
	h.Set(tunnel.JobTokenHeader, "job-5-ws/demo")
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
	if err := tunnel.WriteLine(st, tunnel.Header{Kind: tunnel.KindControl}); err != nil {
		t.Fatal(err)
	}
	if err := tunnel.WriteLine(st, tunnel.Hello{Version: tunnel.Version, Workspace: "demo", Caps: []string{tunnel.CapPortConn}}); err != nil {
		t.Fatal(err)
	}
	var w tunnel.Welcome
	if err := tunnel.NewLineReader(st, tunnel.MaxHeaderBytes).Read(&w); err != nil || !w.OK {
		t.Fatalf("Welcome: %+v, %v", w, err)
	}
	return sess
}

type dialResult struct {
	c   net.Conn
	err error
}

// requestPort starts a user's data connection request for port 80 and
// returns the gateway's portconn request as the agent sees it.
func (g *testGateway) requestPort(t *testing.T, sess *yamux.Session, token string) (tunnel.Header, net.Conn, chan dialResult) {
	t.Helper()
	res := make(chan dialResult, 1)
	go func() {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+token)
		c, _, err := tunnel.DialUpgrade(context.Background(), g.url+"/api/v1/workspaces/42/demo/port/80", h, nil)
		res <- dialResult{c, err}
	}()
	st, err := sess.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	h, c, err := tunnel.ReadHeader(st)
	if err != nil || h.Kind != tunnel.KindPortConn || h.Port != 80 || len(h.Token) < 32 {
		t.Fatalf("agent got %+v, %v; want a portconn request for port 80 with a token", h, err)
	}
	return h, c, res
}

func (g *testGateway) agentDial(token, job string) (net.Conn, error) {
	h := http.Header{}
	if job != "" {
		h.Set(tunnel.JobTokenHeader, job)
	}
	if token != "" {
		h.Set(tunnel.PortTokenHeader, token)
	}
	c, _, err := tunnel.DialUpgrade(context.Background(), g.url+tunnel.AgentPortPath, h, nil)
	return c, err
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var ue *tunnel.UpgradeError
	if !errors.As(err, &ue) || ue.Status != status {
		t.Errorf("%s: %v, want %d", what, err, status)
	}
}

func TestPortConnTokens(t *testing.T) {
	g := startGateway(t, func(c *Config) { c.AuthFailLimit = 1000 })
	sess := g.fakePortAgent(t)
	h, st, res := g.requestPort(t, sess, "tok-ada")

	_, err := g.agentDial("", "job-5-ws/demo")
	wantStatus(t, "no token", err, 403)
	_, err = g.agentDial(strings.Repeat("0", 64), "job-5-ws/demo")
	wantStatus(t, "wrong token", err, 403)
	_, err = g.agentDial(h.Token, "")
	wantStatus(t, "no job token", err, 403)
	// A refused attempt used the token up: the user's request then fails.
	_, err = g.agentDial(h.Token, "job-5-ws/demo")
	wantStatus(t, "token already tried without job token", err, 403)
	if err := tunnel.WriteLine(st, tunnel.Reply{OK: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := <-res
	wantStatus(t, "user request whose token was burnt", r.err, 502)

	// The right token and job token pair the two; the token is single use.
	h, st, res = g.requestPort(t, sess, "tok-ada")
	ac, err := g.agentDial(h.Token, "job-6-ws/demo")
	wantStatus(t, "another job's token", err, 403)
	if ac != nil {
		ac.Close()
	}
	if err := tunnel.WriteLine(st, tunnel.Reply{OK: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = <-res
	wantStatus(t, "user request answered by another job", r.err, 502)

	h, st, res = g.requestPort(t, sess, "tok-ada")
	ac, err = g.agentDial(h.Token, "job-5-ws/demo")
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	_, err = g.agentDial(h.Token, "job-5-ws/demo")
	wantStatus(t, "reused token", err, 403)
	if err := tunnel.WriteLine(st, tunnel.Reply{OK: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	go func() { _, _ = io.WriteString(ac, "from agent"); _ = tunnel.CloseWrite(ac) }() // the user's read checks it
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(r.c); string(b) != "from agent" {
		t.Errorf("user read %q, %v", b, err)
	}

	// An expired token is refused.
	h, st, res = g.requestPort(t, sess, "tok-ada")
	g.s.ports.mu.Lock()
	g.s.ports.pending[h.Token].expires = time.Now().Add(-time.Second)
	g.s.ports.mu.Unlock()
	_, err = g.agentDial(h.Token, "job-5-ws/demo")
	wantStatus(t, "expired token", err, 403)
	if err := tunnel.WriteLine(st, tunnel.Reply{Error: "gave up"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = <-res
	wantStatus(t, "agent's refusal", r.err, 502)
}

func TestPortConnNeedsAccess(t *testing.T) {
	g := startGateway(t, nil)
	g.fakePortAgent(t)
	for _, tc := range []struct {
		token  string
		status int
	}{{"", 401}, {"tok-nobody", 401}, {"tok-bob", 403}} {
		h := http.Header{}
		if tc.token != "" {
			h.Set("Authorization", "Bearer "+tc.token)
		}
		_, _, err := tunnel.DialUpgrade(context.Background(), g.url+"/api/v1/workspaces/42/demo/port/80", h, nil)
		wantStatus(t, "user "+tc.token, err, tc.status)
	}
	// Without the upgrade headers it is no data connection either.
	if code, _, _ := g.get(t, "/api/v1/workspaces/42/demo/port/80", "Authorization", "Bearer tok-ada"); code != 400 {
		t.Errorf("plain GET: %d, want 400", code)
	}
	g.s.ports.mu.Lock()
	n := len(g.s.ports.pending)
	g.s.ports.mu.Unlock()
	if n != 0 {
		t.Errorf("%d tokens minted for refused users", n)
	}
}

func TestPortConnPendingLimit(t *testing.T) {
	g := startGateway(t, nil)
	sess := g.fakePortAgent(t)
	old := maxPendingPerAgent
	maxPendingPerAgent = 1
	t.Cleanup(func() { maxPendingPerAgent = old })
	_, st, res := g.requestPort(t, sess, "tok-ada")
	h := http.Header{}
	h.Set("Authorization", "Bearer tok-ada")
	_, _, err := tunnel.DialUpgrade(context.Background(), g.url+"/api/v1/workspaces/42/demo/port/80", h, nil)
	wantStatus(t, "second pending request", err, 503)
	st.Close()
	<-res
}

// An agent that offers data connections but cannot dial one (say, a proxy
// in the way) answers ErrNoPortConn: the client falls back to yamux.
func TestPortConnAgentCannotDial(t *testing.T) {
	g := startGateway(t, nil)
	sess := g.fakePortAgent(t)
	s, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada"}).Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.UsesPortConns() {
		t.Fatal("not offered")
	}
	go func() {
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			h, c, err := tunnel.ReadHeader(st)
			if err != nil {
				return
			}
			switch h.Kind {
			// The client's DialPort and reads check these replies.
			case tunnel.KindPortConn:
				_ = tunnel.WriteLine(c, tunnel.Reply{Error: tunnel.ErrNoPortConn})
				c.Close()
			case tunnel.KindPort:
				_ = tunnel.WriteLine(c, tunnel.Reply{OK: true})
				_, _ = io.Copy(c, c)
				_ = tunnel.CloseWrite(c)
			}
		}
	}()
	c, err := s.DialPort(context.Background(), 80)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "over yamux")
	c.Close()
	if s.UsesPortConns() {
		t.Error("still trying data connections after the agent said it cannot")
	}
}

// An endpoint URL's requests reach the workspace's port on data connections the agent dials
// back, as port-forward's do (no yamux framing at either end), and on tunnel streams when the
// agent takes no data connections; either way the page and the refusal read the same.
func TestEndpointURLDataConnections(t *testing.T) {
	for _, noPortConns := range []bool{false, true} {
		t.Run(fmt.Sprintf("agent without data connections=%v", noPortConns), func(t *testing.T) {
			g := startGateway(t, nil)
			runAgent(t, g, noPortConns)
			web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "page %s", r.URL.Path)
			}))
			t.Cleanup(web.Close)
			webPort := web.Listener.Addr().(*net.TCPAddr).Port
			get := func(port int, path string) (int, string) {
				req, _ := http.NewRequest("GET", g.url+path, nil)
				req.Host = fmt.Sprintf("%d-demo--42.ws.example.com", port)
				req.Header.Set("Authorization", "Bearer tok-ada")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			for _, path := range []string{"/a", "/b"} {
				if code, body := get(webPort, path); code != 200 || body != "page "+path {
					t.Fatalf("GET %s = %d %q", path, code, body)
				}
			}
			// One or two: whether the second request finds the first's connection idle in
			// the proxy's pool is up to the scheduler.
			got := g.metric(t, "ws_gateway_port_data_connections_total")
			if used := got == "1" || got == "2"; used == noPortConns {
				t.Errorf("data connections = %q; agent takes them: %v", got, !noPortConns)
			}
			if code, body := get(closedPort(t), "/"); code != http.StatusBadGateway || !strings.Contains(body, "nothing listens on port") {
				t.Errorf("closed port = %d %q", code, body)
			}
		})
	}
}

// An SSH connection rides a data connection of its own when the agent takes them (no yamux
// at the gateway or the agent), a tunnel stream otherwise; either way it reaches the
// agent's server under the host key the gateway vouched for.
func TestSSHDataConnections(t *testing.T) {
	for _, noPortConns := range []bool{false, true} {
		t.Run(fmt.Sprintf("agent without data connections=%v", noPortConns), func(t *testing.T) {
			g := startGateway(t, nil)
			runAgent(t, g, noPortConns)
			s, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada"}).Connect(context.Background(), "42", "demo")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.SSHHostKey()))
			if err != nil {
				t.Fatalf("host key %q: %v", s.SSHHostKey(), err)
			}
			c, err := s.DialSSH(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			cc, chans, reqs, err := ssh.NewClientConn(c, "ws.demo", &ssh.ClientConfig{User: "ws", HostKeyCallback: ssh.FixedHostKey(key)})
			if err != nil {
				t.Fatal(err)
			}
			client := ssh.NewClient(cc, chans, reqs)
			defer client.Close()
			sess, err := client.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			out, err := sess.Output("echo over ssh")
			if err != nil || string(out) != "over ssh\n" {
				t.Fatalf("exec = %q, %v", out, err)
			}
			if got, want := g.metric(t, "ws_gateway_ssh_connections_active"), "1"; got != want {
				t.Errorf("ssh connections active = %q, want %s", got, want)
			}
			want := "1"
			if noPortConns {
				want = "0"
			}
			if got := g.metric(t, "ws_gateway_port_data_connections_total"); got != want {
				t.Errorf("data connections = %q, want %s", got, want)
			}
			// The SSH route grants what a shell grants, to the same people: the launching
			// user's token only.
			for _, tc := range []struct {
				token string
				want  int
			}{{"", http.StatusUnauthorized}, {"tok-bob", http.StatusForbidden}} {
				h := http.Header{}
				if tc.token != "" {
					h.Set("Authorization", "Bearer "+tc.token)
				}
				_, _, err := tunnel.DialUpgrade(context.Background(), g.url+"/api/v1/workspaces/42/demo/ssh", h, nil)
				var ue *tunnel.UpgradeError
				if !errors.As(err, &ue) || ue.Status != tc.want {
					t.Errorf("SSH data connection with token %q = %v, want %d", tc.token, err, tc.want)
				}
			}
		})
	}
}

// One user's parallel connections are bounded (tunnels, data connections): beyond the limit
// a 429 that says what to do; a closed one frees its place.
func TestUserConnectionLimit(t *testing.T) {
	g := startGateway(t, func(c *Config) { c.MaxUserConns = 2 })
	runAgent(t, g, false)
	port := echoPort(t)
	cl := &gwclient.Client{BaseURL: g.url, Token: "tok-ada"}
	s1, err := cl.Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	c, err := s1.DialPort(context.Background(), port) // a data connection: the second
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An exchange that leaves the connection open (echo would end it).
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	if b := make([]byte, 4); func() error { _, err := io.ReadFull(c, b); return err }() != nil || string(b) != "ping" {
		t.Fatalf("data connection: %q", b)
	}
	var se *gwclient.StatusError
	if _, err := s1.DialPort(context.Background(), port); !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || !strings.Contains(se.Message, "close some and try again") {
		t.Fatalf("third connection (data) = %v, want 429 with advice", err)
	}
	if _, err := cl.Connect(context.Background(), "42", "demo"); !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
		t.Fatalf("third connection (tunnel) = %v, want 429", err)
	}
	if got := g.metric(t, `ws_gateway_stream_limit_refusals_total{where="user"}`); got != "2" {
		t.Errorf("user limit refusals = %q, want 2", got)
	}
	c.Close()
	waitFor(t, g.s, "the data connection's place to be freed", func() bool { return g.s.userConnsOf(7) == 1 })
	s2, err := cl.Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	s2.Close()
}
