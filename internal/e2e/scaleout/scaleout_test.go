// Package scaleout tests gateway replicas as an operator runs them: a real redis-server,
// a real haproxy (TCP mode, health checks on /healthz) in front of three 'ws gateway
// serve' processes, a real 'ws agent' process, and the ws CLI as users run it
// (docs/deploy.md, "Several replicas"). The servers come from Debian's packages
// (scripts/install-redis-haproxy.sh); without them the test skips, or fails when CI is set.
package scaleout

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ws-dev/ws/internal/testutil"
	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/internal/testutil/realserver"
	"github.com/ws-dev/ws/plan"
)

const (
	jobToken = "scaleout-job-token"
	secret   = "scaleout-replica-secret-0123456789abcdef"
	// Bounds of the waits below: how long a user may wait, never a delay.
	startLimit  = time.Minute
	backLimit   = 15 * time.Second // the bound for an agent to be back after replica loss
	routeLimit  = 10 * time.Second // the bound for routing after a Redis restart
	shellLimit  = 30 * time.Second // one ws shell, on a loaded 2-core machine
	commandPoll = 100 * time.Millisecond
)

// proc is a ws process; its output collects in out.
type proc struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
}

func startProc(t *testing.T, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }() // a killed process's status is of no interest
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

// stop sends sig and waits for the process to exit (killing it if SIGTERM does not end it
// within 15 s: a stuck process must not hang the run).
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// replica is one 'ws gateway serve' process, restartable on its address.
type replica struct {
	name, addr string
	p          *proc
	logs       []*testutil.SyncBuffer // one per start
}

func (r *replica) url() string { return "http://" + r.addr }

// world is the whole set-up.
type world struct {
	bin      string
	gitlab   string
	fake     *fg.Server
	redis    *realserver.Redis
	replicas []*replica
	lb       *realserver.HAProxy
	agent    *proc
	webPort  int    // an HTTP server in the workspace (the devfile's endpoint)
	dir      string // the project directory ws up runs in
	home     string
}

func (w *world) startReplica(t *testing.T, r *replica) {
	t.Helper()
	r.p = startProc(t, w.bin, "", []string{"WS_GATEWAY_REDIS_URL=" + w.redis.URL(), "WS_GATEWAY_REPLICA_SECRET=" + secret},
		"gateway", "serve", "--listen", r.addr, "--replica-listen", "127.0.0.1:0",
		"--gitlab-url", w.gitlab, "--public-url", "http://ws.test", "--endpoint-domain", "ws.test")
	r.logs = append(r.logs, r.p.out)
	r.p.out.WaitFor(t, startLimit, 1, `"gateway listening"`)
}

// cli is the environment of the ws CLI talking to the gateway at base.
func (w *world) cli(base string) []string {
	return []string{"GITLAB_TOKEN=" + fg.Token, "GITLAB_HOST=" + w.gitlab, "WS_GATEWAY_URL=" + base,
		"HOME=" + w.home, "XDG_CONFIG_HOME=" + w.home}
}

// run runs the ws CLI to its end and returns its output and exit code.
func (w *world) run(t *testing.T, base string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), w.cli(base)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ws %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// shell runs 'ws shell demo -- echo <word>' through base and reports whether it printed word.
func (w *world) shell(t *testing.T, base, word string) (bool, string) {
	t.Helper()
	out, code := w.run(t, base, "shell", "-R", "g/p", "demo", "--", "echo", word)
	return code == 0 && strings.Contains(out, word), out
}

// within retries f until it succeeds or limit passes, and fails the test then with f's
// last answer. It polls an observable condition; it never stands in for one.
func within(t *testing.T, limit time.Duration, what string, f func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, last := f()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s; last: %s", what, limit, last)
		}
		time.Sleep(commandPoll) // poll interval of a condition with a deadline
	}
}

// metric reads one sample of the gateway at base's /metrics ("" when absent or unreachable).
func metric(base, name string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		return ""
	}
	return m[1]
}

// holder waits until one live replica holds the agent (ws_gateway_agents_connected 1)
// within limit, and returns it.
func (w *world) holder(t *testing.T, limit time.Duration, among ...*replica) *replica {
	t.Helper()
	var h *replica
	within(t, limit, "an agent held by one of the live replicas", func() (bool, string) {
		var got []string
		for _, r := range among {
			v := metric(r.url(), "ws_gateway_agents_connected")
			got = append(got, r.name+"="+v)
			if v == "1" {
				h = r
			}
		}
		return h != nil, strings.Join(got, " ")
	})
	return h
}

func setup(t *testing.T) *world {
	realserver.Need(t, "redis-server")
	realserver.Need(t, "haproxy")
	w := &world{bin: wsBinary(t), dir: t.TempDir(), home: t.TempDir()}
	// GitLab: the project g/p as 'ws up' sees it (fakegitlab.Model), and the token checks
	// of the gateway (job token → job 71 of pipeline 7 on ws/demo; the user's token → ada).
	w.fake = fg.Start(t)
	(&fg.Model{Jobs: []string{"running"}, Tags: []string{"ws"}, Online: 1}).Install(w.fake)
	ada := gitlabtokens.User{ID: 1, Username: "ada"}
	tokens := &gitlabtokens.Fake{
		Jobs:  map[string]gitlabtokens.Job{jobToken: {ID: 71, Status: "running", Ref: "ws/demo", PipelineID: 7, ProjectID: 1, ProjectPath: "g/p", User: ada}},
		Users: map[string]gitlabtokens.User{fg.Token: ada},
	}
	th := tokens.Handler()
	front := http.NewServeMux()
	front.Handle("/api/v4/job", th)
	front.Handle("/api/v4/user", th)
	front.Handle("/api/v4/projects/{id}/members/all/{uid}", th)
	front.Handle("/", w.fake.Config.Handler)
	srv := &http.Server{Handler: front}
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	w.gitlab = "http://" + ln.Addr().String()

	web := listen(t)
	websrv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(rw, "page "+r.URL.Path) // the client hung up: nothing to do
	})}
	go func() { _ = websrv.Serve(web) }()
	t.Cleanup(func() { websrv.Close() })
	w.webPort = web.Addr().(*net.TCPAddr).Port

	w.redis = realserver.StartRedis(t)
	servers := map[string]string{}
	var order []string
	for i := range 3 {
		r := &replica{name: fmt.Sprintf("r%d", i), addr: realserver.FreeAddr(t)}
		w.startReplica(t, r)
		w.replicas = append(w.replicas, r)
		servers[r.name], order = r.addr, append(order, r.name)
	}
	w.lb = realserver.StartHAProxy(t, servers, order)
	t.Cleanup(func() { // registered last: runs first, while the processes' output is complete
		if !t.Failed() {
			return
		}
		for _, x := range w.replicas {
			for i, l := range x.logs {
				t.Logf("--- %s, start %d:\n%s", x.name, i+1, l.String())
			}
		}
		if w.agent != nil {
			t.Logf("--- agent:\n%s", w.agent.out.String())
		}
		t.Logf("--- haproxy:\n%s", w.lb.Log.String())
	})
	if err := os.WriteFile(filepath.Join(w.dir, "devfile.yaml"), []byte(devfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

const devfile = `schemaVersion: 2.2.0
metadata:
  name: demo
attributes:
  ws/tags: [ws]
components:
  - name: dev
    container:
      image: golang:1.23
`

// TestReplicas is the proof, in one scenario (each step needs the state the one
// before left).
func TestReplicas(t *testing.T) {
	w := setup(t)
	lb := "http://" + w.lb.Addr
	r := w.replicas

	// ws up through the load balancer: it creates the pipeline; the job's agent (started
	// here when the pipeline exists, as a runner would) dials the load balancer; ws up
	// returns once the gateway behind it reports the agent.
	up := startProc(t, w.bin, w.dir, w.cli(lb), "up", "-R", "g/p", "--ref", "main", "--wait-timeout", "2m")
	var agent *proc
	step(t, "up through the load balancer", func() {
		within(t, startLimit, "ws up creating the pipeline", func() (bool, string) {
			return strings.Contains(w.fake.Log(), "POST /projects/g/p/pipeline"), w.fake.Log()
		})
		agent = w.startAgent(t, lb)
		select {
		case <-up.done:
		case <-time.After(startLimit):
			t.Fatalf("ws up did not return:\n%s", up.out.String())
		}
		if code := up.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(up.out.String(), "demo is running") {
			t.Fatalf("ws up: exit %d\n%s", code, up.out.String())
		}
	})
	if t.Failed() {
		return
	}
	h := w.holder(t, backLimit, r...)

	step(t, "shell through each replica", func() {
		for _, x := range r {
			if ok, out := w.shell(t, x.url(), "via-"+x.name); !ok {
				t.Errorf("ws shell through %s (holder %s): %s", x.name, h.name, out)
			}
		}
		for _, x := range r {
			if x != h && metric(x.url(), `ws_gateway_forwarded_streams_total{direction="out"}`) == "" {
				t.Errorf("%s forwarded no stream to the holder %s", x.name, h.name)
			}
		}
		if got := metric(h.url(), `ws_gateway_forwarded_streams_total{direction="in"}`); got == "" || got == "0" {
			t.Errorf("the holder %s carried %q forwarded streams, want 2 or more", h.name, got)
		}
	})

	// SSH rides the same tunnel; through a replica that does not hold the agent, the host key
	// it vouches for comes from the lease (ws ssh refuses a key it was not given).
	step(t, "ssh through each replica", func() {
		for _, x := range r {
			out, code := w.run(t, x.url(), "ssh", "-R", "g/p", "demo", "--", "echo", "ssh-via-"+x.name)
			if code != 0 || !strings.Contains(out, "ssh-via-"+x.name) {
				t.Errorf("ws ssh through %s (holder %s): exit %d: %s", x.name, h.name, code, out)
			}
		}
	})

	step(t, "web terminal and endpoint URL through each replica", func() {
		for _, x := range r {
			w.terminal(t, x, "term-"+x.name)
			req, _ := http.NewRequest("GET", x.url()+"/from-"+x.name, nil)
			req.Host = fmt.Sprintf("%d-demo--1.ws.test", w.webPort)
			req.Header.Set("Authorization", "Bearer "+fg.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "page /from-"+x.name {
				t.Errorf("endpoint URL through %s (holder %s): %d %q", x.name, h.name, resp.StatusCode, b)
			}
		}
	})

	step(t, "link once across replicas", func() {
		out, code := w.run(t, r[0].url(), "open", "-R", "g/p", "demo", "--no-browser")
		m := regexp.MustCompile(`https?://\S+(/signin/link/\S+)`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("ws open on %s: exit %d\n%s", r[0].name, code, out)
		}
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		get := func(x *replica) int {
			resp, err := noRedirect.Get(x.url() + m[1])
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if c := get(r[1]); c != http.StatusSeeOther {
			t.Fatalf("first use on %s: %d, want 303", r[1].name, c)
		}
		if c := get(r[2]); c != http.StatusGone {
			t.Errorf("second use on %s: %d, want 410", r[2].name, c)
		}
		if c := get(r[0]); c != http.StatusGone {
			t.Errorf("third use on %s (where it was minted): %d, want 410", r[0].name, c)
		}
	})

	// Replica loss: kill the holder and one other (SIGKILL: no goodbye); the agent is back
	// through the third within 15 s and the user's next command works.
	var third, restarted *replica
	step(t, "kill two replicas", func() {
		var others []*replica
		for _, x := range r {
			if x != h {
				others = append(others, x)
			}
		}
		killed := []*replica{h, others[0]}
		third = others[1]
		start := time.Now()
		for _, x := range killed {
			x.p.stop(syscall.SIGKILL)
		}
		if got := w.holder(t, backLimit-time.Since(start), third); got != third {
			t.Fatalf("agent held by %s", got.name)
		}
		t.Logf("agent back through %s %s after the kill", third.name, time.Since(start).Round(time.Millisecond))
		if ok, out := w.shell(t, lb, "after-loss"); !ok {
			t.Fatalf("ws shell through the load balancer after the loss: %s", out)
		}
		restarted = killed[0]
	})
	if t.Failed() {
		return
	}

	// Restart one; then stop the third with SIGTERM (a rolling upgrade): it tells the
	// agent to reconnect, the agent is back through the restarted one, and a command
	// running through the stopping replica goes on until it ends (the drain).
	step(t, "restart one, stop the third", func() {
		w.startReplica(t, restarted)
		cmd := exec.Command(w.bin, "shell", "-R", "g/p", "demo", "--", "sh", "-c", "echo ready; read x; echo got-$x")
		cmd.Env = append(os.Environ(), w.cli(third.url())...)
		out := &testutil.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		out.WaitFor(t, shellLimit, 1, `ready`)

		before := strings.Count(agent.out.String(), "gateway asked to reconnect")
		start := time.Now()
		_ = third.p.cmd.Process.Signal(syscall.SIGTERM)
		if got := w.holder(t, backLimit, restarted); got != restarted {
			t.Fatalf("agent held by %s", got.name)
		}
		t.Logf("agent back through %s %s after SIGTERM", restarted.name, time.Since(start).Round(time.Millisecond))
		if strings.Count(agent.out.String(), "gateway asked to reconnect") != before+1 {
			t.Errorf("the stopping replica did not ask the agent to reconnect:\n%s", agent.out.String())
		}
		// The command started before the SIGTERM still runs: it reads this line and ends.
		if _, err := io.WriteString(stdin, "drained\n"); err != nil {
			t.Fatalf("the command through the stopping replica ended at the SIGTERM (%v):\n%s", err, out.String())
		}
		select {
		case err := <-exited:
			if err != nil || !strings.Contains(out.String(), "got-drained") {
				t.Errorf("the command through the stopping replica: %v\n%s", err, out.String())
			}
		case <-time.After(shellLimit):
			t.Fatalf("the command through the stopping replica did not end:\n%s", out.String())
		}
		select {
		case <-third.p.done:
		case <-time.After(shellLimit):
			t.Fatalf("%s did not stop after its drain:\n%s", third.name, third.p.out.String())
		}
		if ok, out := w.shell(t, lb, "after-restart"); !ok {
			t.Fatalf("ws shell after the restart: %s", out)
		}
	})
	if t.Failed() {
		return
	}

	// A Redis restart (empty: no persistence): replicas report it, agents stay connected,
	// and routing between replicas recovers within 10 s of Redis being back.
	step(t, "redis restart", func() {
		w.startReplica(t, third) // two replicas: one holds the agent, one forwards
		other := third
		connects := strings.Count(agent.out.String(), "connected to gateway")
		w.redis.Stop()
		for _, x := range []*replica{restarted, other} {
			within(t, shellLimit, x.name+" reporting Redis down", func() (bool, string) {
				v := metric(x.url(), "ws_gateway_redis_up")
				return v == "0", v
			})
			if c, _ := httpStatus(x.url() + "/healthz"); c != http.StatusServiceUnavailable {
				t.Errorf("%s /healthz = %d without Redis, want 503", x.name, c)
			}
		}
		w.redis.Start(t)
		start := time.Now()
		within(t, routeLimit, "ws shell forwarded by "+other.name+" after the Redis restart", func() (bool, string) {
			return w.shell(t, other.url(), "after-redis")
		})
		t.Logf("routing back %s after Redis", time.Since(start).Round(time.Millisecond))
		if n := strings.Count(agent.out.String(), "connected to gateway"); n != connects {
			t.Errorf("the agent reconnected during the Redis restart (%d → %d connections):\n%s", connects, n, agent.out.String())
		}
		for _, x := range []*replica{restarted, other} {
			if !strings.Contains(x.p.out.String(), "reachable again") {
				t.Errorf("%s logged no line when Redis came back:\n%s", x.name, x.p.out.String())
			}
			if v := metric(x.url(), "ws_gateway_redis_errors_total"); v == "" || v == "0" {
				t.Errorf("%s counted %q Redis errors while Redis was down", x.name, v)
			}
			if v := metric(x.url(), "ws_gateway_redis_up"); v != "1" {
				t.Errorf("%s: ws_gateway_redis_up = %q after Redis came back", x.name, v)
			}
		}
	})

	for _, x := range r {
		for i, l := range x.logs {
			if strings.Contains(l.String(), "panic") {
				t.Errorf("%s (start %d) panicked:\n%s", x.name, i+1, l.String())
			}
		}
	}
}

func (w *world) startAgent(t *testing.T, gateway string) *proc {
	t.Helper()
	p := &plan.Plan{Version: plan.Version, Workspace: "demo", WorkingDir: t.TempDir(), IdleTimeout: "0",
		Endpoints: []plan.Endpoint{{Name: "web", TargetPort: w.webPort, Protocol: "http", Exposure: "public"}}}
	ps, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a := startProc(t, w.bin, "", []string{"WS_PLAN=" + ps, "CI_JOB_TOKEN=" + jobToken}, "agent", "--gateway", gateway)
	w.agent = a
	a.out.WaitFor(t, startLimit, 1, `connected to gateway`)
	return a
}

func httpStatus(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// wsBinary returns $WS_BIN, or builds ws into a temporary directory.
func wsBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("WS_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "ws")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/ws")
	build.Dir = testutil.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ws: %v\n%s", err, out)
	}
	return bin
}

// step runs one step of the scenario (in the test's goroutine: the processes it starts
// live until the test ends, which subtests would not allow).
func step(t *testing.T, name string, f func()) {
	t.Helper()
	t.Logf("=== %s", name)
	f()
}

// terminal opens the web terminal's WebSocket on replica x (as the web page does, with the
// user's token), runs a command that prints word and exits 3, and checks both arrive.
func (w *world) terminal(t *testing.T, x *replica, word string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), shellLimit)
	defer cancel()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+fg.Token)
	c, _, err := websocket.Dial(ctx, "ws://"+x.addr+"/api/v1/workspaces/1/demo/terminal?cols=80&rows=24", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("terminal through %s: %v", x.name, err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, []byte("echo "+word+"-$((40+2)); exit 3\r")); err != nil {
		t.Fatal(err)
	}
	var screen strings.Builder
	last := ""
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			break
		}
		if typ == websocket.MessageBinary {
			screen.Write(b)
		} else {
			last = string(b)
		}
	}
	if last != `{"type":"exit","code":3}` || !strings.Contains(screen.String(), word+"-42") {
		t.Errorf("terminal through %s: last message %q, screen %q", x.name, last, screen.String())
	}
}
