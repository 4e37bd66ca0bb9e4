package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/internal/testutil/realserver"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

// Gateway replicas (issue 13), every part a process: a real redis-server, 'ws gateway
// serve --redis-url' replicas, 'ws agent', 'ws port-forward'. docs/benchmarks.md
// ("Gateway replicas") records the figures.
//
//	same replica: bench ─▶ ws port-forward ─▶ replica A ─▶ ws agent ─▶ echo
//	forwarded:    bench ─▶ ws port-forward ─▶ replica B ─replica channel─▶ replica A ─▶ ws agent ─▶ echo

const replicaSecret = "bench-replica-secret-0123456789abcdef0123"

// startReplica starts 'ws gateway serve' with Redis and returns its URL and process.
func startReplica(t *testing.T, bin, gitlab, redisURL string) (string, *xproc) {
	t.Helper()
	var env []string
	if redisURL != "" {
		env = []string{"WS_GATEWAY_REDIS_URL=" + redisURL, "WS_GATEWAY_REPLICA_SECRET=" + replicaSecret}
	}
	p := startWS(t, bin, env, nil, nil, "gateway", "serve", "--listen", "127.0.0.1:0", "--replica-listen", "127.0.0.1:0",
		"--gitlab-url", gitlab, "--public-url", "http://ws.test", "--endpoint-domain", "ws.test")
	addr := regexp.MustCompile(`"gateway listening" addr=(\S+)`).FindStringSubmatch(p.out.WaitFor(t, time.Minute, 1, `"gateway listening" addr=\S+`))[1]
	return "http://" + addr, p
}

// TestReplicaForwarding compares port-forward through the replica that holds the agent
// with port-forward through another replica, which forwards to the holder (WS_BENCH=1).
func TestReplicaForwarding(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure (make bench-replicas)")
	}
	bin := wsBinary(t)
	r := realserver.StartRedis(t)
	alice := gitlabtokens.User{ID: 1, Username: "alice"}
	fake := &gitlabtokens.Fake{
		Jobs:  map[string]gitlabtokens.Job{xJobToken: {ID: 101, Status: "running", Ref: "ws/demo", PipelineID: 9, ProjectID: xProjectID, ProjectPath: "group/app", User: alice}},
		Users: map[string]gitlabtokens.User{xUserToken: alice},
	}
	gl := serve(t, fake.Handler())
	holder, _ := startReplica(t, bin, gl, r.URL())
	other, _ := startReplica(t, bin, gl, r.URL())
	p, err := (&plan.Plan{Version: plan.Version, Workspace: "demo", WorkingDir: t.TempDir(), IdleTimeout: "0"}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	ag := startWS(t, bin, []string{"WS_PLAN=" + p, "CI_JOB_TOKEN=" + xJobToken}, nil, nil, "agent", "--gateway", holder)
	ag.out.WaitFor(t, time.Minute, 1, `connected to gateway`)
	echo := sink(t)
	home := t.TempDir()
	forward := func(base string) net.Conn {
		cli := []string{"GITLAB_TOKEN=" + xUserToken, "GITLAB_HOST=" + gl, "WS_GATEWAY_URL=" + base, "HOME=" + home, "XDG_CONFIG_HOME=" + home}
		pf := startWS(t, bin, cli, nil, nil, "port-forward", "demo", fmt.Sprintf("0:%d", echo))
		re := `Forwarding (127\.0\.0\.1:\d+) ->`
		local := regexp.MustCompile(re).FindStringSubmatch(pf.out.WaitFor(t, time.Minute, 1, re))[1]
		c, err := net.Dial("tcp", local)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	same, fwd := forward(holder), forward(other)
	echoThroughput(t, same, same, 4<<20)
	echoThroughput(t, fwd, fwd, 4<<20)
	if v := metricOf(t, other, `ws_gateway_forwarded_streams_total{direction="out"}`); v == "" || v == "0" {
		t.Fatalf("the other replica forwarded nothing (%q): the measurement would not be of forwarding", v)
	}
	const rounds, size = 9, 32 << 20
	ms, mf, ratios := pairs(rounds, func() float64 { return echoThroughput(t, same, same, size) }, func() float64 { return echoThroughput(t, fwd, fwd, size) })
	var report strings.Builder
	fmt.Fprintf(&report, "port-forward throughput (echo 32 MiB, %d pairs, MiB/s each way): same replica %.0f, forwarded %.0f; forwarded/same %.2f× (min %.2f, max %.2f)\n",
		rounds, ms, mf, median(ratios), ratios[0], ratios[len(ratios)-1])
	s50, s99, f50, f99 := latencyPairs(t, same, same, fwd, fwd)
	fmt.Fprintf(&report, "port-forward echo 64 B (2000× each): same replica p50 %s p99 %s; forwarded p50 %s p99 %s; p50 ratio %.2f×\n",
		s50, s99, f50, f99, float64(f50)/float64(s50))
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&report, "load average at the end: %s\n", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	t.Log("\n" + report.String())
}

// TestReplicaIdleMemory connects 1,000 minimal agents to one gateway without Redis, then
// to three replicas sharing a Redis (round robin), all 'ws gateway serve' processes, and
// reports the gateways' RSS growth per agent; then it counts the commands Redis runs at
// steady state per agent and minute over WS_BENCH_WINDOW (default 2m) (WS_BENCH=1).
func TestReplicaIdleMemory(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure (make bench-replicas)")
	}
	raiseNoFile()
	const N = 1000
	bin := wsBinary(t)
	gl := fakeGitLab(t)
	r := realserver.StartRedis(t)
	var report strings.Builder

	measure := func(label string, urls []string, procs []*xproc) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var before float64
		for _, p := range procs {
			before += vmRSS(p.cmd.Process.Pid)
		}
		for i := range N {
			minimalAgent(t, ctx, urls[i%len(urls)], fmt.Sprintf("a%d", i))
		}
		var after float64
		held := 0
		for i, p := range procs {
			after += vmRSS(p.cmd.Process.Pid)
			n, _ := strconv.Atoi(metricOf(t, urls[i], "ws_gateway_agents_connected"))
			held += n
		}
		if held != N {
			t.Fatalf("%s: %d of %d agents held", label, held, N)
		}
		fmt.Fprintf(&report, "%s, %d idle agents: RSS +%.1f MiB = %.1f KiB per agent\n", label, N, float64(after-before)/1024, float64(after-before)/N)
		if len(procs) > 1 {
			redisOps(t, r, N, &report)
		}
	}
	one, p1 := startReplica(t, bin, gl, "")
	measure("one gateway, no Redis", []string{one}, []*xproc{p1})
	var urls []string
	var procs []*xproc
	for range 3 {
		u, p := startReplica(t, bin, gl, r.URL())
		urls, procs = append(urls, u), append(procs, p)
	}
	measure("three replicas sharing Redis (sum of the three)", urls, procs)
	t.Log("\n" + report.String())
}

// redisOps counts the commands Redis runs over the window (leases renewed, indexes, pings)
// and reports them per agent and minute.
func redisOps(t *testing.T, r *realserver.Redis, agents int, report *strings.Builder) {
	window := 2 * time.Minute
	if v, err := time.ParseDuration(os.Getenv("WS_BENCH_WINDOW")); err == nil {
		window = v
	}
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: r.Socket})
	defer c.Close()
	ctx := context.Background()
	stats := func() map[string]int64 {
		s, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, m := range regexp.MustCompile(`cmdstat_(\w+):calls=(\d+)`).FindAllStringSubmatch(s, -1) {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			out[m[1]] = n
		}
		return out
	}
	// Past the start-up writes: one renewal period (10 s) after every lease exists.
	time.Sleep(15 * time.Second) // a measuring window, not synchronisation
	s0 := stats()
	time.Sleep(window) // a measuring window, not synchronisation
	s1 := stats()
	var total, ping int64
	var parts []string
	for k, v := range s1 {
		d := v - s0[k]
		if k == "info" || d == 0 {
			continue
		}
		total += d
		if k == "ping" {
			ping = d
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(d)/float64(agents)/window.Minutes()))
	}
	sort.Strings(parts)
	// Commands a script runs (GET and SET inside the compare-and-swap) count in
	// commandstats too: they are not round trips.
	fmt.Fprintf(report, "Redis at steady state over %s: per agent per minute %s (commands run inside scripts included); pings %.0f per minute in all (one a second per replica, whatever the agents); all commands but pings %.1f per agent per minute\n",
		window, strings.Join(parts, ", "), float64(ping)/window.Minutes(), float64(total-ping)/float64(agents)/window.Minutes())
}

// minimalAgent dials gurl as agent name (job token jobTok-name): handshake, control
// stream, hello; it returns once welcomed, and holds the connection until ctx ends.
func minimalAgent(t *testing.T, ctx context.Context, gurl, name string) {
	h := http.Header{}
	h.Set(tunnel.JobTokenHeader, jobTok+"-"+name)
	ws, _, err := tunnel.Dial(ctx, gurl+tunnel.AgentPath, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tunnel.Client(ctx, ws)
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
	if err := tunnel.WriteLine(st, tunnel.Hello{Version: tunnel.Version, Workspace: name}); err != nil {
		t.Fatal(err)
	}
	var w tunnel.Welcome
	if err := tunnel.NewLineReader(st, 4096).Read(&w); err != nil || !w.OK {
		t.Fatal(err, w)
	}
}

// metricOf reads one sample from the gateway's /metrics ("" when absent).
func metricOf(t *testing.T, base, name string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		return ""
	}
	return m[1]
}
