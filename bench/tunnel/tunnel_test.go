// Package tunnel measures the reverse tunnel: throughput against a direct
// loopback copy, echo round trips, time to first shell and gateway memory
// per idle agent. Figures: docs/benchmarks.md ("Tunnel").
package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

const (
	jobTok  = "bench-job"
	userTok = "bench-user"
)

func fakeGitLab(tb testing.TB) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v4/job", func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.Header.Get("JOB-TOKEN"), jobTok+"-")
		if !ok {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `{"id":1,"status":"running","ref":"ws/`+name+`","web_url":"http://x/g/p/-/jobs/1","pipeline":{"id":1,"project_id":7},"user":{"id":1,"username":"u"}}`)
	})
	mux.HandleFunc("GET /api/v4/user", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("PRIVATE-TOKEN") != userTok {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `{"id":1,"username":"u"}`)
	})
	return serve(tb, mux)
}

func serve(tb testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func setup(tb testing.TB, name string, ports ...int) (*gateway.Server, string, *gateway.Session) {
	gl := fakeGitLab(tb)
	g, err := gateway.New(gateway.Config{GitLabURL: gl, PublicURL: "http://gw.test"})
	if err != nil {
		tb.Fatal(err)
	}
	gurl := serve(tb, g.Handler())
	a := agent.New(agent.Config{Plan: &plan.Plan{Version: 1, Workspace: name}, Token: jobTok + "-" + name, Gateway: gurl})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	for !a.Connected() {
		time.Sleep(5 * time.Millisecond)
	}
	c := &gateway.Client{BaseURL: gurl, Token: userTok}
	s, err := c.Connect(context.Background(), "7", name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return g, gurl, s
}

func sink(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }() // echo
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// roundTrip writes n bytes and reads them back (echo), in parallel.
func roundTrip(tb testing.TB, c net.Conn, n int) {
	buf := make([]byte, 32<<10)
	errc := make(chan error, 1)
	go func() {
		left := n
		for left > 0 {
			k := min(left, len(buf))
			if _, err := c.Write(buf[:k]); err != nil {
				errc <- err
				return
			}
			left -= k
		}
		errc <- nil
	}()
	if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
		tb.Fatal(err)
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkThroughput: bytes echoed through port-forward (client → gateway
// → agent → TCP echo and back) against the same echo over direct loopback.
func BenchmarkThroughput(b *testing.B) {
	port := sink(b)
	_, _, s := setup(b, "tp")
	const n = 16 << 20
	b.Run("direct", func(b *testing.B) {
		c, _ := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		defer c.Close()
		b.SetBytes(n)
		for b.Loop() {
			roundTrip(b, c, n)
		}
	})
	b.Run("tunnel", func(b *testing.B) {
		c, err := s.DialPort(context.Background(), port)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(n)
		for b.Loop() {
			roundTrip(b, c, n)
		}
	})
}

// TestFigures prints every tunnel figure in one run (WS_BENCH=1).
func TestFigures(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure")
	}
	port := sink(t)
	t0 := time.Now()
	_, gurl, s := setup(t, "fig")
	c, err := s.DialPort(context.Background(), port)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	code, err := s.Exec(context.Background(), gateway.ExecOptions{Command: []string{"true"}, Stdout: &out})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	t.Logf("agent start to first shell exit: %s", time.Since(t0).Round(time.Millisecond))

	const n = 64 << 20
	d, _ := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	measure := func(c net.Conn) float64 {
		roundTrip(t, c, 4<<20)
		st := time.Now()
		roundTrip(t, c, n)
		return float64(n) / time.Since(st).Seconds() / (1 << 20)
	}
	direct, tun := measure(d), measure(c)
	t.Logf("throughput (echo, MiB/s each way): direct %.0f, tunnel %.0f, ratio %.2f", direct, tun, tun/direct)

	var rtts []time.Duration
	msg := make([]byte, 64)
	for range 2000 {
		st := time.Now()
		c.Write(msg)
		io.ReadFull(c, msg)
		rtts = append(rtts, time.Since(st))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	t.Logf("echo round trip (64 B, 2000x): p50 %s, p99 %s", rtts[len(rtts)/2], rtts[len(rtts)*99/100])
	_ = gurl
}

// TestIdleAgentMemory connects 1,000 agents (WS_BENCH=1) and reports the
// heap growth per agent of the gateway and the agents together (one
// process), an upper bound for the gateway alone.
func TestIdleAgentMemory(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure")
	}
	const N = 1000
	gl := fakeGitLab(t)
	g, err := gateway.New(gateway.Config{GitLabURL: gl, PublicURL: "http://gw.test", AuthFailLimit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	gurl := serve(t, g.Handler())
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before := heap()
	gBefore := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range N {
		// A minimal agent: dial, handshake, hold the control stream.
		h := http.Header{}
		name := fmt.Sprintf("a%d", i)
		h.Set(tunnel.JobTokenHeader, jobTok+"-"+name)
		ws, _, err := tunnel.Dial(ctx, gurl+tunnel.AgentPath, h, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = ws
		sess, err := tunnel.Client(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := sess.OpenStream()
		tunnel.WriteLine(st, tunnel.Header{Kind: tunnel.KindControl})
		tunnel.WriteLine(st, tunnel.Hello{Version: 1, Workspace: name})
		var w tunnel.Welcome
		if err := tunnel.NewLineReader(st, 4096).Read(&w); err != nil || !w.OK {
			t.Fatal(err, w)
		}
	}
	for g.Agents() < N {
		time.Sleep(10 * time.Millisecond)
	}
	after := heap()
	per := float64(after-before) / N / 1024
	t.Logf("%d idle agents: heap+stacks %.1f MiB total, %.1f KiB per agent (both ends in one process), goroutines %d per agent",
		N, float64(after-before)/(1<<20), per, (runtime.NumGoroutine()-gBefore)/N)
}
