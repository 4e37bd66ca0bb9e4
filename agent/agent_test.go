package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

// TestPhaseSetDuringHandshake: postStart ends after the Hello said "starting" but before the
// gateway's Welcome; the gateway must still learn "running" (it once never did).
func TestPhaseSetDuringHandshake(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	out := &notifyBuffer{written: make(chan struct{}, 1)}
	got := make(chan string, 1)
	errs := make(chan string, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := tunnel.Accept(w, r)
		if err != nil {
			errs <- err.Error()
			return
		}
		sess, err := tunnel.Server(context.Background(), ws)
		if err != nil {
			errs <- err.Error()
			return
		}
		defer sess.Close()
		st, err := sess.AcceptStream()
		if err != nil {
			errs <- err.Error()
			return
		}
		lr := tunnel.NewLineReader(st, tunnel.MaxHeaderBytes)
		var h tunnel.Header
		var hello tunnel.Hello
		if err := lr.Read(&h); err != nil {
			errs <- err.Error()
			return
		}
		if err := lr.Read(&hello); err != nil || hello.Phase != "starting" {
			errs <- "hello: " + hello.Phase
			return
		}
		// Let postStart end, and wait until the agent has set the phase (it
		// logs it), before answering.
		_ = os.WriteFile(gate, nil, 0o644)
		for !strings.Contains(out.String(), `workspace "x" is ready`) {
			select {
			case <-out.written:
			case <-time.After(time.Minute):
				errs <- "postStart did not end: " + out.String()
				return
			}
		}
		if err := tunnel.WriteLine(st, tunnel.Welcome{OK: true}); err != nil {
			errs <- err.Error()
			return
		}
		for {
			var m tunnel.Control
			if err := lr.Read(&m); err != nil {
				errs <- "control stream: " + err.Error()
				return
			}
			if m.Type == tunnel.MsgStatus {
				got <- m.Phase
				<-r.Context().Done()
				return
			}
		}
	}))
	defer gw.Close()

	p := &plan.Plan{Version: plan.Version, Workspace: "x", WorkingDir: dir,
		PostStart: []plan.Step{{Commands: []plan.Command{{ID: "wait", CommandLine: "while [ ! -e go ]; do sleep 0.01; done"}}}}}
	a := New(Config{Plan: p, Token: "t", Gateway: gw.URL, Out: out, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _, _ = a.Run(ctx); close(done) }()
	defer func() { cancel(); gw.CloseClientConnections(); <-done }()

	select {
	case phase := <-got:
		if phase != "running" {
			t.Fatalf("status after the handshake = %q, want running", phase)
		}
	case e := <-errs:
		t.Fatal(e)
	case <-time.After(10 * time.Second):
		t.Fatalf("the gateway never heard that the workspace runs; agent log:\n%s", out.String())
	}
}

// notifyBuffer is the agent's log; written is poked on every write, so a
// test waits for a line without polling.
type notifyBuffer struct {
	testutil.SyncBuffer
	written chan struct{}
}

func (b *notifyBuffer) Write(p []byte) (int, error) {
	n, err := b.SyncBuffer.Write(p)
	select {
	case b.written <- struct{}{}:
	default:
	}
	return n, err
}

// Behind an HTTP proxy the agent keeps port streams on the tunnel: direct
// data connections to the gateway would only fail after a timeout.
func TestBehindProxyKeepsPortStreamsOnTheTunnel(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	t.Setenv("NO_PROXY", "")
	if !behindProxy("https://ws.example.com") {
		t.Error("behindProxy(https gateway) = false with HTTPS_PROXY set")
	}
	t.Setenv("NO_PROXY", "ws.example.com")
	if behindProxy("https://ws.example.com") {
		t.Error("behindProxy = true for a host in NO_PROXY")
	}
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("HTTP_PROXY", "")
	if behindProxy("https://ws.example.com") {
		t.Error("behindProxy = true without a proxy")
	}
}
