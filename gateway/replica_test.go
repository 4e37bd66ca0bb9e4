package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/internal/kv"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

const testSecret = "0123456789abcdef0123456789abcdef-replicas"

// replicaSet is several in-process gateways sharing one store, each with its own replica
// listener, behind a round-robin TCP balancer (as haproxy in TCP mode).
type replicaSet struct {
	store *kv.Memory
	gws   []*testGateway
	addrs []string // replica listeners
	lb    string   // http://<balancer>
	logs  *testutil.SyncBuffer
}

func startReplicas(t *testing.T, n int) *replicaSet {
	t.Helper()
	rs := &replicaSet{store: kv.NewMemory(nil, 0), logs: &testutil.SyncBuffer{}}
	a := newStubAuth()
	var backends []string
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sealed, _ := kv.Sealed(rs.store, []byte(testSecret))
		s, err := New(Config{PublicURL: "http://gw.test", EndpointDomain: "ws.example.com", Auth: a, JobCheckInterval: -1,
			Store: sealed, Logger: slog.New(slog.NewTextHandler(rs.logs, nil)),
			Replica: &ReplicaConfig{ID: "r" + string(rune('0'+i)), Addr: ln.Addr().String(), Secret: []byte(testSecret)}})
		if err != nil {
			t.Fatal(err)
		}
		rsrv := &http.Server{Handler: s.ReplicaHandler()}
		go func() { _ = rsrv.Serve(ln) }() // ErrServerClosed at the end
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(func() { srv.Close(); rsrv.Close(); s.Shutdown(context.Background()) })
		rs.gws = append(rs.gws, &testGateway{s: s, url: srv.URL, auth: a})
		rs.addrs = append(rs.addrs, ln.Addr().String())
		backends = append(backends, strings.TrimPrefix(srv.URL, "http://"))
	}
	rs.lb = "http://" + roundRobin(t, backends)
	return rs
}

// roundRobin is a TCP balancer: each new connection goes to the next backend.
func roundRobin(t *testing.T, backends []string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var next atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b := backends[int(next.Add(1)-1)%len(backends)]
			go func() {
				up, err := net.Dial("tcp", b)
				if err != nil {
					c.Close()
					return
				}
				tunnel.Splice(c, nil, up, nil)
			}()
		}
	}()
	return ln.Addr().String()
}

// runAgentAt runs a real agent for workspace demo (job 5) dialing url.
func runAgentAt(t *testing.T, url string) {
	t.Helper()
	startAgent(t, agent.New(agent.Config{Plan: &plan.Plan{Version: 1, Workspace: "demo"}, Token: "job-5-ws/demo", Gateway: url, Out: io.Discard}))
}

// holder waits until one replica holds the agent and returns its index.
func (rs *replicaSet) holder(t *testing.T) int {
	t.Helper()
	rs.logs.WaitFor(t, 20*time.Second, 1, `msg="agent connected"`)
	for i, g := range rs.gws {
		if g.s.Agents() == 1 {
			return i
		}
	}
	t.Fatal("no replica holds the agent")
	return -1
}

// TestReplicasForward: whichever replica a user reaches, the shell, the port streams (on
// yamux and on spliced data connections, the agent's data connection arriving at any
// replica through the balancer), the status and the web terminal reach the one agent.
func TestReplicasForward(t *testing.T) {
	rs := startReplicas(t, 3)
	runAgentAt(t, rs.lb)
	h := rs.holder(t)
	port := echoPort(t)
	for i, g := range rs.gws {
		code, body, _ := g.get(t, "/api/v1/workspaces/g%2Fapp/demo", "Authorization", "Bearer tok-ada")
		if code != 200 || !strings.Contains(body, `"job_id":5`) {
			t.Fatalf("replica %d: status = %d %s", i, code, body)
		}
		code, body, _ = g.get(t, "/api/v1/workspaces", "Authorization", "Bearer tok-ada")
		if code != 200 || strings.Count(body, `"id":"42/demo"`) != 1 {
			t.Fatalf("replica %d: list = %d %s, want the workspace once", i, code, body)
		}
		s, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada"}).Connect(context.Background(), "42", "demo")
		if err != nil {
			t.Fatalf("replica %d: connect: %v", i, err)
		}
		var out bytes.Buffer
		code2, err := s.Exec(context.Background(), gwclient.ExecOptions{Command: []string{"sh", "-c", "echo hello from $WS_WORKSPACE"}, Stdout: &out})
		if err != nil || code2 != 0 || out.String() != "hello from demo\n" {
			t.Fatalf("replica %d (holder %d): exec = %d, %v, %q", i, h, code2, err, out.String())
		}
		if !s.UsesPortConns() {
			t.Fatalf("replica %d: no port data connections offered", i)
		}
		for j := range 3 { // data connections: the agent dials back through the balancer
			c, err := s.DialPort(context.Background(), port)
			if err != nil {
				t.Fatalf("replica %d: port %d: %v", i, j, err)
			}
			echo(t, c, strings.Repeat("x", 100<<10))
			c.Close()
		}
		s.Close()
		// and on the tunnel's yamux session
		sy, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada", NoPortConns: true}).Connect(context.Background(), "42", "demo")
		if err != nil {
			t.Fatalf("replica %d: connect: %v", i, err)
		}
		c, err := sy.DialPort(context.Background(), port)
		if err != nil {
			t.Fatal(err)
		}
		echo(t, c, "over yamux")
		c.Close()
		sy.Close()
	}
	for i, g := range rs.gws {
		v := g.metric(t, `ws_gateway_forwarded_streams_total{direction="out"}`)
		if (i == h) != (v == "" || v == "0") {
			t.Errorf("replica %d (holder %d): forwarded out = %q", i, h, v)
		}
	}
	if v := rs.gws[h].metric(t, `ws_gateway_forwarded_streams_total{direction="in"}`); v == "" || v == "0" {
		t.Errorf("holder carried no forwarded stream: %q", v)
	}
}

// TestReplicaChannelRefusesStrangers: users and agents get nothing from the replica
// channel: it is not on the public listener, and on the replica listener an unsigned,
// wrongly signed or replayed request is refused before anything is opened.
func TestReplicaChannelRefusesStrangers(t *testing.T) {
	rs := startReplicas(t, 2)
	runAgentAt(t, rs.gws[0].url)
	rs.holder(t)
	op := replicaOp{Op: "stream", Workspace: "42/demo", Conn: 1, Header: &tunnel.Header{Kind: tunnel.KindExec, Session: "x", Command: []string{"id"}}}
	// On the public listener, the route does not exist, even with a good signature.
	h := rs.gws[1].s.rp.signed(op)
	_, err := dialWith(rs.gws[0].url, h)
	wantStatus(t, "public listener", err, http.StatusNotFound)
	// On the replica listener: no signature, another secret, a replay.
	_, err = dialWith("http://"+rs.addrs[0], http.Header{})
	wantStatus(t, "unsigned", err, http.StatusForbidden)
	other, _ := newReplicas(rs.gws[1].s, ReplicaConfig{ID: "x", Addr: "x:1", Secret: []byte(strings.Repeat("k", 32))})
	_, err = dialWith("http://"+rs.addrs[0], other.signed(op))
	wantStatus(t, "another secret", err, http.StatusForbidden)
	c, err := dialWith("http://"+rs.addrs[0], h)
	if err != nil {
		t.Fatalf("a replica's own request was refused: %v", err)
	}
	c.Close()
	_, err = dialWith("http://"+rs.addrs[0], h)
	wantStatus(t, "replayed", err, http.StatusForbidden)
	if v := metricOf(t, rs.gws[0].s, "ws_gateway_replica_requests_refused_total"); v != "3" {
		t.Errorf("refusals counted: %s, want 3", v)
	}
}

// TestReplicaAnswerMustBeSigned: a lease that points at a process that is not a replica
// (someone who can write to Redis but has no secret) gets no user traffic: its answer is
// not signed, so the front replica refuses it before relaying a byte.
func TestReplicaAnswerMustBeSigned(t *testing.T) {
	rs := startReplicas(t, 1)
	var got atomic.Int64
	fake, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	go func() {
		for {
			c, err := fake.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				// The test checks what reaches this forged replica.
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+tunnel.PortProtocol+"\r\n\r\n")
				_ = tunnel.WriteLine(c, replicaReply{OK: true, MAC: "forged"})
				n, _ := io.Copy(io.Discard, c)
				got.Add(n)
			}()
		}
	}()
	l := leaseInfo{Replica: "evil", Addr: fake.Addr().String(), Conn: 9, Job: 5, Project: 42, ProjectPath: "g/app", Name: "demo", User: 7, Username: "ada"}
	b, _ := json.Marshal(l)
	sealed, _ := kv.Sealed(rs.store, []byte(testSecret))
	if err := sealed.Set(context.Background(), leaseKey("42/demo"), b, time.Minute); err != nil {
		t.Fatal(err)
	}
	s, err := (&gwclient.Client{BaseURL: rs.gws[0].url, Token: "tok-ada"}).Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Exec(context.Background(), gwclient.ExecOptions{Command: []string{"cat"}, Stdin: strings.NewReader("keystrokes")})
	if err == nil {
		t.Fatal("a stream was opened through an unsigned answer")
	}
	if got.Load() != 0 {
		t.Errorf("the impostor received %d bytes", got.Load())
	}
	if metricOf(t, rs.gws[0].s, "ws_gateway_replica_requests_refused_total") != "1" {
		t.Error("the forged answer was not counted")
	}
}

// TestLinkOnceAcrossReplicas: a sign-in link minted on one replica works once on another
// and never again on a third.
func TestLinkOnceAcrossReplicas(t *testing.T) {
	rs := startReplicas(t, 3)
	runAgentAt(t, rs.lb)
	rs.holder(t)
	code, body := postLink(t, rs.gws[0].url, "tok-ada", `{"project":"g/app","name":"demo"}`)
	if code != 200 {
		t.Fatalf("mint: %d %s", code, body)
	}
	var l Link
	_ = json.Unmarshal([]byte(body), &l)
	path := l.URL[strings.Index(l.URL, "/signin/link/"):]
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(g *testGateway) (int, []*http.Cookie) {
		resp, err := noRedirect.Get(g.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Cookies()
	}
	code, cookies := get(rs.gws[1])
	if code != http.StatusSeeOther || len(cookies) == 0 {
		t.Fatalf("first use on another replica: %d, cookies %v", code, cookies)
	}
	if code, _ := get(rs.gws[2]); code != http.StatusGone {
		t.Fatalf("second use on a third replica: %d, want 410", code)
	}
	// The session it made works on every replica.
	for i, g := range rs.gws {
		req, _ := http.NewRequest("GET", g.url+"/", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "demo") {
			t.Errorf("replica %d: the session's workspace list = %d", i, resp.StatusCode)
		}
	}
}

// TestLeaseFollowsAgent: an agent that reconnects to another replica takes its lease
// there; the old holder, renewing, drops its stale connection; a clean shutdown removes
// the replica's leases.
func TestLeaseFollowsAgent(t *testing.T) {
	rs := startReplicas(t, 2)
	ctx := context.Background()
	sessA, w := rs.gws[0].connectAgent(t, "job-5-ws/demo", "demo", tunnel.Version)
	if !w.OK {
		t.Fatal(w.Error)
	}
	sessB, w := rs.gws[1].connectAgent(t, "job-5-ws/demo", "demo", tunnel.Version)
	if !w.OK {
		t.Fatal(w.Error)
	}
	l, _, err := rs.gws[0].s.rp.readLease(ctx, "42/demo")
	if err != nil || l == nil || l.Replica != "r1" {
		t.Fatalf("lease = %+v, %v; want held by r1", l, err)
	}
	rs.gws[0].s.rp.renew(true)
	waitClosed(t, "the old holder's connection", sessA.CloseChan())
	if !strings.Contains(rs.logs.String(), "agent moved to another replica") {
		t.Error("no log line for the moved agent")
	}
	// An older job is refused wherever it connects.
	if _, w := rs.gws[0].connectAgent(t, "job-4-ws/demo", "demo", tunnel.Version); w.OK {
		t.Fatal("an older job took the workspace from a newer one on another replica")
	}
	rs.gws[1].s.Shutdown(ctx)
	waitClosed(t, "the agent's connection at shutdown", sessB.CloseChan())
	if l, _, _ := rs.gws[0].s.rp.readLease(ctx, "42/demo"); l != nil {
		t.Errorf("lease left after a clean shutdown: %+v", l)
	}
}

// dialWith sends a replica channel request with headers h to base.
func dialWith(base string, h http.Header) (net.Conn, error) {
	c, _, err := tunnel.DialUpgrade(context.Background(), base+ReplicaPath, h, nil)
	return c, err
}

// signed returns the headers of a signed request for op (what dial sends).
func (rp *replicas) signed(op replicaOp) http.Header {
	var h http.Header
	rp.sign(op, func(hh http.Header) { h = hh })
	return h
}
