// Package tunnel measures the reverse tunnel: throughput against a direct
// loopback copy, echo round trips, time to first shell and gateway memory
// per idle agent. Figures: docs/benchmarks.md ("Tunnel").
package tunnel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/plan"
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
		_, _ = io.WriteString(w, `{"id":1,"status":"running","ref":"ws/`+name+`","web_url":"http://x/g/p/-/jobs/1","pipeline":{"id":1,"project_id":7},"user":{"id":1,"username":"u"}}`)
	})
	mux.HandleFunc("GET /api/v4/user", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("PRIVATE-TOKEN") != userTok && r.Header.Get("Authorization") != "Bearer "+userTok {
			w.WriteHeader(401)
			return
		}
		_, _ = io.WriteString(w, `{"id":1,"username":"u"}`)
	})
	return serve(tb, mux)
}

func serve(tb testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed after Close
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func setup(tb testing.TB, name string, ports ...int) (*gateway.Server, string, *gwclient.Session) {
	gl := fakeGitLab(tb)
	g, err := gateway.New(gateway.Config{GitLabURL: gl, PublicURL: "http://gw.test"})
	if err != nil {
		tb.Fatal(err)
	}
	gurl := serve(tb, g.Handler())
	return g, gurl, startAgent(tb, gurl, name)
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
			go func() { _, _ = io.Copy(c, c); c.Close() }() // echo until the client closes
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
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
			echoThroughput(b, c, c, n)
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
			echoThroughput(b, c, c, n)
		}
	})
}

// TestMain runs the gateway alone when the test binary is re-executed as
// a child (WS_BENCH_CHILD=gateway), so its memory can be measured apart
// from the agents.
func TestMain(m *testing.M) {
	if os.Getenv("WS_BENCH_CHILD") == "gateway" {
		runGatewayChild()
		return
	}
	os.Exit(m.Run())
}

// runGatewayChild serves a fake GitLab and a gateway on loopback, prints
// "<gateway-url>\n" and serves until stdin closes. GET /bench/mem (on the
// gateway's listener, test binary only) answers "<heap+stacks> <rss>
// <goroutines>" in bytes after two GCs.
func runGatewayChild() {
	raiseNoFile()
	gl := fakeGitLab(nopTB{})
	g, err := gateway.New(gateway.Config{GitLabURL: gl, PublicURL: "http://gw.test", AuthFailLimit: 1 << 30})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench/mem", func(w http.ResponseWriter, r *http.Request) {
		heap, rss := memNow()
		fmt.Fprintf(w, "%d %d %d %d\n", heap, rss, runtime.NumGoroutine(), g.Agents())
	})
	mux.Handle("/", g.Handler())
	fmt.Println(serve(nopTB{}, mux))
	_, _ = io.Copy(io.Discard, os.Stdin) // serve until the parent closes stdin
}

// memNow returns heap+stacks in use after two GCs and the process RSS.
func memNow() (heap, rss uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			rss = kb << 10
		}
	}
	return m.HeapInuse + m.StackInuse, rss
}

type nopTB struct{ testing.TB }

func (nopTB) Fatal(args ...any) { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (nopTB) Cleanup(func())    {}

// raiseNoFile lifts the soft file-descriptor limit to the hard one: 1,000
// agents need 1,000 sockets on each side.
func raiseNoFile() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// childGateway starts the gateway in a child process and returns its URL
// and a function reading its memory (heap+stacks, RSS, goroutines, agents).
func childGateway(tb testing.TB) (string, func() (heap, rss uint64, goroutines, agents int)) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WS_BENCH_CHILD=gateway")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatal("gateway child: ", err)
	}
	gurl := strings.TrimSpace(line)
	return gurl, func() (uint64, uint64, int, int) {
		resp, err := http.Get(gurl + "/bench/mem")
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		var heap, rss uint64
		var gs, n int
		if _, err := fmt.Fscan(resp.Body, &heap, &rss, &gs, &n); err != nil {
			tb.Fatal(err)
		}
		return heap, rss, gs, n
	}
}

// startAgent runs an agent for workspace name against gurl and waits until
// it is connected; it returns a user session to the workspace.
func startAgent(tb testing.TB, gurl, name string) *gwclient.Session {
	out := &testutil.SyncBuffer{}
	a := agent.New(agent.Config{Plan: &plan.Plan{Version: 1, Workspace: name}, Token: jobTok + "-" + name, Gateway: gurl, Out: out})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		if _, err := a.Run(ctx); err != nil {
			fmt.Fprintf(out, "agent: %v\n", err)
		}
		close(done)
	}()
	tb.Cleanup(func() { cancel(); <-done })
	// The gateway registers an agent before it welcomes it; the agent says
	// "connected" after the welcome.
	out.WaitFor(tb, 30*time.Second, 1, `connected to gateway`)
	c := &gwclient.Client{BaseURL: gurl, Token: userTok}
	s, err := c.Connect(context.Background(), "7", name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// throughput echoes size bytes over c once to warm up, then runs times
// and returns MiB/s (each way) of every run.
func throughput(tb testing.TB, c net.Conn, size, runs int) []float64 {
	echoThroughput(tb, c, c, 4<<20)
	var out []float64
	for range runs {
		out = append(out, echoThroughput(tb, c, c, size))
	}
	return out
}

func median(v []float64) float64 { return testutil.Median(v) }

// compareThroughput measures direct and tunnel echo alternately (rounds
// pairs of one run each, same payload) and logs medians and the median
// of the per-round ratios.
func compareThroughput(t *testing.T, label string, direct, tun net.Conn) {
	const size, rounds = 32 << 20, 9
	echoThroughput(t, direct, direct, 4<<20)
	echoThroughput(t, tun, tun, 4<<20)
	var ds, ts, rs []float64
	for range rounds {
		d := throughput(t, direct, size, 1)[0]
		u := throughput(t, tun, size, 1)[0]
		ds, ts, rs = append(ds, d), append(ts, u), append(rs, u/d)
	}
	sort.Float64s(rs)
	t.Logf("%s: throughput (echo, 32 MiB, %d alternating runs, MiB/s each way): direct median %.0f, tunnel median %.0f; ratio median %.2f (min %.2f, max %.2f)",
		label, rounds, median(ds), median(ts), median(rs), rs[0], rs[len(rs)-1])
}

// TestFigures prints the tunnel figures (WS_BENCH=1): throughput with the
// gateway in this process and in a child process, echo round trips, and
// the time from agent start to the first command through the tunnel.
func TestFigures(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure")
	}
	port := sink(t)
	t0 := time.Now()
	_, _, s := setup(t, "fig")
	var out strings.Builder
	code, err := s.Exec(context.Background(), gwclient.ExecOptions{Command: []string{"true"}, Stdout: &out})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	t.Logf("agent start to first shell exit: %s", time.Since(t0).Round(time.Millisecond))

	d, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := s.DialPort(context.Background(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	compareThroughput(t, "one process", d, c)

	gurl, _ := childGateway(t)
	cs := startAgent(t, gurl, "fig2")
	c2, err := cs.DialPort(context.Background(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	compareThroughput(t, "gateway in a child process", d, c2)

	rtts := echoLatency(t, c, c, 2000)
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	t.Logf("echo round trip (64 B, 2000x, one process): p50 %s, p99 %s", rtts[len(rtts)/2], rtts[len(rtts)*99/100])
}

// TestIdleAgentMemory connects 1,000 minimal agents (WS_BENCH=1) from this
// process to a gateway in a child process and reports the gateway's
// growth in heap+stacks and in RSS per agent.
func TestIdleAgentMemory(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure")
	}
	raiseNoFile()
	const N = 1000
	gurl, mem := childGateway(t)
	heap0, rss0, g0, _ := mem()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range N {
		minimalAgent(t, ctx, gurl, fmt.Sprintf("a%d", i))
	}
	// Each agent got its welcome, which the gateway sends after registering it.
	heap1, rss1, g1, n := mem()
	if n != N {
		t.Fatalf("%d of %d agents registered", n, N)
	}
	t.Logf("gateway alone (child process), %d idle agents: heap+stacks +%.1f MiB = %.1f KiB per agent; RSS +%.1f MiB = %.1f KiB per agent; %d goroutines per agent",
		N, float64(heap1-heap0)/(1<<20), float64(heap1-heap0)/N/1024, float64(rss1-rss0)/(1<<20), float64(rss1-rss0)/N/1024, (g1-g0)/N)
}
