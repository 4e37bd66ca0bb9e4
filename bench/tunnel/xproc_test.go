package tunnel

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/plan"
)

// The cross-process measurement (TestCrossProcess): every part of the
// tunnel is its own process, as in production:
//
//	bench ─TCP─▶ ws port-forward ─▶ ws gateway serve ─▶ ws agent ─TCP─▶ echo (bench)
//	bench ─pipe─▶ ws shell -- cat ─▶ ws gateway serve ─▶ ws agent ─▶ cat
//	bench ─HTTP─▶ ws gateway serve (endpoint URL) ─▶ ws agent ─HTTP─▶ server (bench)
//
// Each figure is measured in alternation with the same thing over direct
// loopback TCP to the same target, in the same run, and reported as medians
// and the median of the per-pair ratios.

const (
	xJobToken  = "xproc-job-token"
	xUserToken = "glpat-xproc-user"
	xProjectID = 42
)

// relayChain starts n relay processes (bench/tunnel/relay) in a chain
// ending at port and returns the address of the first: the floor of any
// tunnel made of n relaying processes.
func relayChain(t *testing.T, n, port int) string {
	bin := filepath.Join(t.TempDir(), "relay")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./bench/tunnel/relay")
	build.Dir = testutil.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./bench/tunnel/relay: %v\n%s", err, out)
	}
	to := fmt.Sprintf("127.0.0.1:%d", port)
	for range n {
		p := startWS(t, bin, nil, nil, nil, "-to", to)
		to = regexp.MustCompile(`relay listening (\S+)`).FindStringSubmatch(p.out.WaitFor(t, time.Minute, 1, `relay listening \S+`))[1]
	}
	return to
}

// wsBinary returns $WS_BIN, or builds ws into a temporary directory.
func wsBinary(t *testing.T) string { return testutil.WSBinary(t) }

// xproc is a ws process; its stderr (and stdout unless taken) collects in out.
type xproc struct {
	cmd *exec.Cmd
	out *testutil.SyncBuffer
}

func startWS(t *testing.T, bin string, env []string, stdout io.Writer, stdin io.Reader, args ...string) *xproc {
	t.Helper()
	p := &xproc{cmd: exec.Command(bin, args...), out: &testutil.SyncBuffer{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr, p.cmd.Stdin = p.out, p.out, stdin
	if stdout != nil {
		p.cmd.Stdout = stdout
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }() // the exit status of a process told to stop is of no interest
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second): // a stuck process must not hang the run
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
	return p
}

// xsetup starts the fake GitLab, the echo and HTTP targets, a gateway
// process and an agent process, and returns what clients need.
type xsetup struct {
	bin      string
	gateway  string // http://127.0.0.1:port
	echoPort int
	httpAddr string // 127.0.0.1:port of the HTTP target
	cli      []string
}

const bigBody = 64 << 20

func startXSetup(t *testing.T) *xsetup {
	bin := wsBinary(t)
	alice := gitlabtokens.User{ID: 1, Username: "alice"}
	fake := &gitlabtokens.Fake{
		Jobs:  map[string]gitlabtokens.Job{xJobToken: {ID: 101, Status: "running", Ref: "ws/demo", PipelineID: 9, ProjectID: xProjectID, ProjectPath: "group/app", User: alice}},
		Users: map[string]gitlabtokens.User{xUserToken: alice},
	}
	gl := serve(t, fake.Handler())

	body := make([]byte, bigBody)
	for i := range body {
		body[i] = byte(i)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body) // the client hung up: nothing to do
	})
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body[:64]) })
	httpAddr := strings.TrimPrefix(serve(t, mux), "http://")
	_, httpPort, _ := net.SplitHostPort(httpAddr)

	gw := startWS(t, bin, nil, nil, nil, "gateway", "serve", "--listen", "127.0.0.1:0", "--gitlab-url", gl,
		"--public-url", "http://ws.test", "--endpoint-domain", "ws.test")
	addr := regexp.MustCompile(`"gateway listening" addr=(\S+)`).FindStringSubmatch(gw.out.WaitFor(t, time.Minute, 1, `"gateway listening" addr=\S+`))[1]
	s := &xsetup{bin: bin, gateway: "http://" + addr, echoPort: sink(t), httpAddr: httpAddr}

	port, err := strconv.Atoi(httpPort)
	if err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Version: plan.Version, Workspace: "demo", WorkingDir: t.TempDir(), IdleTimeout: "0",
		Endpoints: []plan.Endpoint{{Name: "web", TargetPort: port, Protocol: "http", Exposure: "public"}}}
	ps, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ag := startWS(t, bin, []string{"WS_PLAN=" + ps, "CI_JOB_TOKEN=" + xJobToken}, nil, nil, "agent", "--gateway", s.gateway)
	ag.out.WaitFor(t, time.Minute, 1, `connected to gateway`)
	home := t.TempDir()
	s.cli = []string{"GITLAB_TOKEN=" + xUserToken, "GITLAB_HOST=" + gl, "WS_GATEWAY_URL=" + s.gateway, "HOME=" + home, "XDG_CONFIG_HOME=" + home}
	return s
}

// pairs measures direct and tunnel alternately, rounds times, and returns
// the medians and the per-pair ratios (tunnel/direct), sorted.
func pairs(rounds int, direct, tunnel func() float64) (md, mt float64, ratios []float64) {
	var ds, ts []float64
	for range rounds {
		d, u := direct(), tunnel()
		ds, ts, ratios = append(ds, d), append(ts, u), append(ratios, u/d)
	}
	sort.Float64s(ratios)
	return median(ds), median(ts), ratios
}

// echoLatency returns n round trips of 64 bytes over w → r.
func echoLatency(t testing.TB, w io.Writer, r io.Reader, n int) []time.Duration {
	msg := make([]byte, 64)
	out := make([]time.Duration, 0, n)
	for range n {
		st := time.Now()
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(st))
	}
	return out
}

// latencyPairs measures 64-byte echoes in alternating blocks and returns
// p50 and p99 of each side.
func latencyPairs(t *testing.T, dw io.Writer, dr io.Reader, tw io.Writer, tr io.Reader) (d50, d99, t50, t99 time.Duration) {
	const blocks, per = 10, 200
	echoLatency(t, dw, dr, 50) // warm up
	echoLatency(t, tw, tr, 50)
	var ds, ts []time.Duration
	for range blocks {
		ds = append(ds, echoLatency(t, dw, dr, per)...)
		ts = append(ts, echoLatency(t, tw, tr, per)...)
	}
	p := func(v []time.Duration, q float64) time.Duration {
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[int(math.Ceil(q*float64(len(v))))-1]
	}
	return p(ds, 0.5), p(ds, 0.99), p(ts, 0.5), p(ts, 0.99)
}

// echoThroughput writes size bytes to w while it reads them back from r
// (an echo) and returns MiB/s each way.
func echoThroughput(t testing.TB, w io.Writer, r io.Reader, size int) float64 {
	buf := make([]byte, 32<<10)
	st := time.Now()
	errc := make(chan error, 1)
	go func() {
		for left := size; left > 0; {
			k := min(left, len(buf))
			if _, err := w.Write(buf[:k]); err != nil {
				errc <- err
				return
			}
			left -= k
		}
		errc <- nil
	}()
	if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return float64(size) / time.Since(st).Seconds() / (1 << 20)
}

// getThroughput GETs url (with host and token when set) and returns MiB/s.
func getThroughput(t *testing.T, c *http.Client, url, host string) float64 {
	st := time.Now()
	n := get(t, c, url, host)
	if n != bigBody {
		t.Fatalf("GET %s (host %q): %d bytes, want %d", url, host, n, bigBody)
	}
	return float64(n) / time.Since(st).Seconds() / (1 << 20)
}

func get(t *testing.T, c *http.Client, url, host string) int64 {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+xUserToken)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s (host %q): %d, %v", url, host, resp.StatusCode, err)
	}
	return n
}

// TestCrossProcess prints the cross-process figures (WS_BENCH=1; 'make
// bench-tunnel'): port-forward, shell and endpoint URL against direct
// loopback, each part a separate process. docs/benchmarks.md records them.
func TestCrossProcess(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure (make bench-tunnel)")
	}
	s := startXSetup(t)
	direct, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.echoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	const rounds, size = 9, 32 << 20
	var report strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&report, format+"\n", args...)
	}
	ratio := func(r []float64) string {
		return fmt.Sprintf("%.2f× (min %.2f, max %.2f)", median(r), r[0], r[len(r)-1])
	}

	// Port-forward: a TCP connection to the local port of 'ws port-forward'.
	pf := startWS(t, s.bin, s.cli, nil, nil, "port-forward", "demo", fmt.Sprintf("0:%d", s.echoPort))
	re := `Forwarding (127\.0\.0\.1:\d+) ->`
	local := regexp.MustCompile(re).FindStringSubmatch(pf.out.WaitFor(t, time.Minute, 1, re))[1]
	fwd, err := net.Dial("tcp", local)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	echoThroughput(t, direct, direct, 4<<20)
	echoThroughput(t, fwd, fwd, 4<<20)
	md, mt, r := pairs(rounds, func() float64 { return echoThroughput(t, direct, direct, size) }, func() float64 { return echoThroughput(t, fwd, fwd, size) })
	line("port-forward throughput (echo 32 MiB, %d pairs, MiB/s each way): direct %.0f, port-forward %.0f; ratio %s", rounds, md, mt, ratio(r))
	d50, d99, t50, t99 := latencyPairs(t, direct, direct, fwd, fwd)
	line("port-forward echo 64 B (%d× each): direct p50 %s p99 %s; port-forward p50 %s p99 %s; p50 ratio %.1f×", 2000, d50, d99, t50, t99, float64(t50)/float64(d50))

	// The floor: three plain splice relays in a chain, the same number of
	// processes between the client and the target as port-forward has.
	chain, err := net.Dial("tcp", relayChain(t, 3, s.echoPort))
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	echoThroughput(t, chain, chain, 4<<20)
	mc, mt, r := pairs(rounds, func() float64 { return echoThroughput(t, chain, chain, size) }, func() float64 { return echoThroughput(t, fwd, fwd, size) })
	line("port-forward vs 3 plain relay processes (echo 32 MiB, %d pairs, MiB/s): relays %.0f, port-forward %.0f; ratio %s", rounds, mc, mt, ratio(r))
	c50, c99, t50, t99 := latencyPairs(t, chain, chain, fwd, fwd)
	line("port-forward vs 3 plain relay processes, echo 64 B: relays p50 %s p99 %s (%.1f× direct); port-forward p50 %s p99 %s; p50 ratio %.1f×",
		c50, c99, float64(c50)/float64(d50), t50, t99, float64(t50)/float64(c50))

	// Shell: 'ws shell demo -- cat', stdin and stdout piped.
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	startWS(t, s.bin, s.cli, outW, inR, "shell", "demo", "--", "cat")
	t.Cleanup(func() { inW.Close(); outR.Close() })
	echoThroughput(t, inW, outR, 1<<20) // also waits until cat runs
	const shSize = 16 << 20
	md, mt, r = pairs(rounds, func() float64 { return echoThroughput(t, direct, direct, shSize) }, func() float64 { return echoThroughput(t, inW, outR, shSize) })
	line("shell throughput ('ws shell -- cat', 16 MiB, %d pairs, MiB/s each way): direct TCP echo %.0f, shell %.0f; ratio %s", rounds, md, mt, ratio(r))
	d50, d99, t50, t99 = latencyPairs(t, direct, direct, inW, outR)
	line("shell echo 64 B (%d× each): direct p50 %s p99 %s; shell p50 %s p99 %s; p50 ratio %.1f×", 2000, d50, d99, t50, t99, float64(t50)/float64(d50))

	// Endpoint URL: GET through the gateway with the workspace's host name.
	_, httpPort, _ := net.SplitHostPort(s.httpAddr)
	host := httpPort + "-demo--" + fmt.Sprint(xProjectID) + ".ws.test"
	dc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	gc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	getThroughput(t, dc, "http://"+s.httpAddr+"/big", "")
	getThroughput(t, gc, s.gateway+"/big", host)
	md, mt, r = pairs(rounds, func() float64 { return getThroughput(t, dc, "http://"+s.httpAddr+"/big", "") },
		func() float64 { return getThroughput(t, gc, s.gateway+"/big", host) })
	line("endpoint URL GET 64 MiB (%d pairs, MiB/s): direct %.0f, through the gateway %.0f; ratio %s", rounds, md, mt, ratio(r))
	var dl, gl []time.Duration
	for range 10 {
		for range 100 {
			st := time.Now()
			get(t, dc, "http://"+s.httpAddr+"/small", "")
			dl = append(dl, time.Since(st))
		}
		for range 100 {
			st := time.Now()
			get(t, gc, s.gateway+"/small", host)
			gl = append(gl, time.Since(st))
		}
	}
	sort.Slice(dl, func(i, j int) bool { return dl[i] < dl[j] })
	sort.Slice(gl, func(i, j int) bool { return gl[i] < gl[j] })
	line("endpoint URL GET 64 B (1000× each, keep-alive): direct p50 %s p99 %s; gateway p50 %s p99 %s; p50 ratio %.1f×",
		dl[499], dl[989], gl[499], gl[989], float64(gl[499])/float64(dl[499]))
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		line("load average at the end: %s", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	t.Log("\n" + report.String())
}
