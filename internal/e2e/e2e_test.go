package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"
	"github.com/spf13/cobra"

	agentcmd "github.com/ws-dev/ws/cmd/agent"
	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/configssh"
	opencmd "github.com/ws-dev/ws/cmd/open"
	"github.com/ws-dev/ws/cmd/portforward"
	"github.com/ws-dev/ws/cmd/shell"
	sshcmd "github.com/ws-dev/ws/cmd/ssh"
	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/plan"
)

// The test binary doubles as a small ws (agent, shell, port-forward, open, ssh, config-ssh)
// so every process in these tests is real without building ws first.
func TestMain(m *testing.M) {
	if os.Getenv("WS_E2E_MAIN") == "1" {
		os.Exit(miniWS(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func miniWS(args []string) int {
	f := cmdutil.New()
	root := &cobra.Command{Use: "ws", SilenceErrors: true, SilenceUsage: true}
	root.AddGroup(&cobra.Group{ID: "workspace", Title: "w"}, &cobra.Group{ID: "admin", Title: "a"})
	root.PersistentFlags().StringVar(&f.ConfigFlags.Host, "host", "", "GitLab URL, as ws's own --host")
	root.AddCommand(agentcmd.NewCmdAgent(f, nil), shell.NewCmdShell(f, nil), portforward.NewCmdPortForward(f, nil), opencmd.NewCmdOpen(f, nil),
		sshcmd.NewCmdSSH(f, nil), configssh.NewCmdConfigSSH(f, nil))
	root.SetArgs(args)
	err := root.Execute()
	var ee *cmdutil.ExitError
	var ae *cmdutil.AuthError
	var fe *cmdutil.FlagError
	var he *cmdutil.HintError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ae):
		fmt.Fprintf(os.Stderr, "ws: %v\n", err)
		return 4
	case errors.As(err, &fe):
		fmt.Fprintf(os.Stderr, "ws: %v\n", err)
		return 2
	case errors.As(err, &he):
		fmt.Fprintf(os.Stderr, "ws: %v\nhint: %s\n", err, he.Hint)
		return 1
	default:
		fmt.Fprintf(os.Stderr, "ws: %v\n", err)
		return 1
	}
}

const (
	jobToken   = "job-token-SECRET-1"
	otherJob   = "job-token-SECRET-2"
	aliceToken = "glpat-alice-SECRET"
	bobToken   = "glpat-bob-SECRET"
	projectID  = 42
)

// fakeGitLab answers GET /api/v4/job and GET /api/v4/user with token checks.
func fakeGitLab(t *testing.T) string {
	t.Helper()
	alice, bob := gitlabtokens.User{ID: 1, Username: "alice"}, gitlabtokens.User{ID: 2, Username: "bob"}
	fake := &gitlabtokens.Fake{
		Jobs: map[string]gitlabtokens.Job{
			jobToken: {ID: 101, Status: "running", Ref: "ws/demo", PipelineID: 9, ProjectID: projectID, ProjectPath: "group/app", User: alice},
			otherJob: {ID: 202, Status: "running", Ref: "main", PipelineID: 10, ProjectID: projectID, ProjectPath: "group/app", User: bob},
		},
		Users: map[string]gitlabtokens.User{aliceToken: alice, bobToken: bob},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fake.Handler()}
	go serve(srv, ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// gw is an in-process gateway that can be stopped and restarted on its
// address.
type gw struct {
	t      *testing.T
	gitlab string
	addr   string
	logs   *testutil.SyncBuffer
	srv    *http.Server
	g      *gateway.Server
}

// startGateway serves a gateway on addr, or on a free loopback port when
// addr is "". A restarted gateway takes its predecessor's address at once:
// http.Server.Close has closed that listener, and Go listens with
// SO_REUSEADDR, so nothing needs waiting for.
func startGateway(t *testing.T, gitlab, addr string, logs *testutil.SyncBuffer) *gw {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		GitLabURL: gitlab, PublicURL: "http://" + ln.Addr().String(), EndpointDomain: "ws.test",
		Logger: slog.New(slog.NewTextHandler(logs, nil)), AuthFailLimit: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Handler()}
	go serve(srv, ln)
	x := &gw{t: t, gitlab: gitlab, addr: ln.Addr().String(), logs: logs, srv: srv, g: g}
	t.Cleanup(x.stop)
	return x
}

// serve serves srv on ln until srv is closed; Serve then returns
// http.ErrServerClosed, and any other error shows as a failing request.
func serve(srv *http.Server, ln net.Listener) { _ = srv.Serve(ln) }

func (x *gw) url() string { return "http://" + x.addr }

func (x *gw) stop() {
	x.srv.Close()
	x.g.Shutdown(context.Background())
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a running miniWS process.
type proc struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "WS_E2E_MAIN=1")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when it has ended
		<-p.done
	})
	return p
}

func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("process %v did not exit within %s; output:\n%s", p.cmd.Args[1:], d, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	p := start(t, env, args...)
	code := p.wait(t, 20*time.Second)
	return p.out.String(), code
}

// untilShown types cmd (with a marker echo after it) into a terminal
// until the output of one run matches want: a resize reaches the
// workspace on another stream than the keystrokes, so the first runs may
// still see the old size. Each try waits for its own marker, not a time.
func untilShown(t *testing.T, screen *testutil.SyncBuffer, typeLine func(string), cmd, want string) {
	t.Helper()
	re := regexp.MustCompile(want)
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; ; i++ {
		from := len(screen.String())
		typeLine(fmt.Sprintf("%s; echo DONE$((%d+1000))", cmd, i))
		out := screen.WaitFor(t, 20*time.Second, 1, fmt.Sprintf(`DONE%d\b`, i+1000))
		if re.MatchString(out[from:]) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never showed %q:\n%s", cmd, want, out)
		}
	}
}

// interactiveResize runs cmd (a client that opens a shell in the workspace) in a terminal of
// 33×101 with TERM=xterm, as a user would: the shell must see that terminal (size, a
// /dev/pts device, TERM), then 20×70 after a resize, and cmd must exit with the shell's
// status.
func interactiveResize(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Env = append(cmd.Env, "TERM=xterm")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 101})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer func() { _ = cmd.Process.Kill() }() // fails when it has ended, as it should
	screen := &testutil.SyncBuffer{}
	go func() { _, _ = io.Copy(screen, ptmx) }() // ends with EIO when the shell exits
	typeLine := func(l string) {
		if _, err := io.WriteString(ptmx, l+"\r"); err != nil {
			t.Fatalf("type %q: %v", l, err)
		}
	}
	typeLine("stty size; tty; echo $TERM; echo MARK$((40+2))")
	screen.WaitFor(t, 20*time.Second, 1, `33 101\r?\n(?s:.*)/dev/pts/\d+\r?\nxterm\r?\n(?s:.*)MARK42`)
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 20, Cols: 70}); err != nil {
		t.Fatal(err)
	}
	untilShown(t, screen, typeLine, "stty size", `20 70\r?\n`)
	typeLine("exit 3")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%v did not end; screen %q", cmd.Args, screen.String())
	}
	if c := cmd.ProcessState.ExitCode(); c != 3 {
		t.Fatalf("%v exit = %d, want 3; screen %q", cmd.Args, c, screen.String())
	}
}

func writePlan(t *testing.T, p *plan.Plan) string {
	t.Helper()
	s, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userGet(t *testing.T, url, host, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWorkspace runs the whole path: fake GitLab, gateway, a real agent
// process whose postStart starts an HTTP server, and the CLI commands.
func TestWorkspace(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed for the workspace's HTTP server")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the workspace\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	gl := fakeGitLab(t)
	g := startGateway(t, gl, "", logs)
	httpPort := freePort(t)
	p := &plan.Plan{
		Version: plan.Version, Workspace: "demo", WorkingDir: dir, IdleTimeout: "0",
		PostStart: []plan.Step{
			{Commands: []plan.Command{{ID: "prep", CommandLine: "echo prepared > prep.txt"}}},
			{Commands: []plan.Command{{ID: "web", CommandLine: fmt.Sprintf("exec python3 -u -m http.server %d --bind 127.0.0.1", httpPort), Background: true}}},
		},
		PreStop:   []plan.Step{{Commands: []plan.Command{{ID: "save", CommandLine: "echo stopped > prestop.txt"}}}},
		Endpoints: []plan.Endpoint{{Name: "web", TargetPort: httpPort, Protocol: "http", Exposure: "public"}},
	}
	agentEnv := []string{"WS_PLAN=" + writePlan(t, p), "CI_JOB_TOKEN=" + jobToken, "WS_AGENT_LOG=" + filepath.Join(dir, "agent.log")}
	ag := start(t, agentEnv, "agent", "--gateway", g.url(), "--max-backoff", "500ms")
	cli := []string{"GITLAB_TOKEN=" + aliceToken, "WS_GATEWAY_URL=" + g.url(), "GITLAB_HOST=" + gl, "HOME=" + dir, "XDG_CONFIG_HOME=" + dir}

	var linkTokens []string // single-use sign-in links minted below; never logged
	statusURL := g.url() + "/api/v1/workspaces/42/demo"
	// The agent says when it holds the gateway connection (the gateway
	// registers it before it answers), python when it listens (-u: unbuffered).
	ag.out.WaitFor(t, 30*time.Second, 1, `connected to gateway`)
	ag.out.WaitFor(t, 30*time.Second, 1, `\[web\] Serving HTTP on 127\.0\.0\.1 port `)
	// The gateway logs the phase an agent connects in and each one it reports later.
	logs.WaitFor(t, 30*time.Second, 1, `msg="agent (connected|phase)" workspace=42/demo .*phase=running`)

	t.Run("exec exit code", func(t *testing.T) {
		out, code := run(t, cli, "shell", "demo", "--", "sh", "-c", "echo hi; cat prep.txt; echo oops >&2; exit 7")
		// stdout and stderr are separate streams merged by run(): "oops"
		// may land anywhere, but stdout keeps its own order.
		stdout := strings.Replace(out, "oops\n", "", 1)
		if code != 7 || !strings.Contains(stdout, "hi\nprepared\n") || !strings.Contains(out, "oops") {
			t.Fatalf("ws shell = %d, %q; want 7 and hi, prepared, oops", code, out)
		}
		out, code = run(t, cli, "shell", "-R", "group/app", "demo", "--", "true")
		if code != 0 {
			t.Fatalf("ws shell -R group/app demo -- true = %d %q", code, out)
		}
	})

	t.Run("interactive pty", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "shell", "demo")
		cmd.Env = append(append(os.Environ(), "WS_E2E_MAIN=1"), cli...)
		interactiveResize(t, cmd)
	})

	t.Run("port-forward", func(t *testing.T) {
		pf := start(t, cli, "port-forward", "demo", fmt.Sprintf("0:%d", httpPort))
		re := `Forwarding (127\.0\.0\.1:\d+) ->`
		local := regexp.MustCompile(re).FindStringSubmatch(pf.out.WaitFor(t, 10*time.Second, 1, re))[1]
		for range 3 { // several connections through one tunnel
			code, body := userGet(t, "http://"+local+"/hello.txt", "", "")
			if code != 200 || body != "hello from the workspace\n" {
				t.Fatalf("GET through port-forward = %d %q", code, body)
			}
		}
		// The streams took the spliced data connections, not yamux.
		_, metrics := userGet(t, g.url()+"/metrics", "", "")
		if m := regexp.MustCompile(`(?m)^ws_gateway_port_data_connections_total (\d+)$`).FindStringSubmatch(metrics); m == nil || m[1] == "0" {
			t.Errorf("port-forward used no port data connection: %v", m)
		}
		if err := syscall.Kill(pf.cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if c := pf.wait(t, 5*time.Second); c != 0 {
			t.Fatalf("port-forward exit %d after SIGINT", c)
		}
	})

	t.Run("endpoint URLs", func(t *testing.T) {
		host := fmt.Sprintf("%d-demo--42.ws.test", httpPort)
		code, body := userGet(t, g.url()+"/hello.txt", host, aliceToken)
		if code != 200 || body != "hello from the workspace\n" {
			t.Fatalf("host-based URL = %d %q", code, body)
		}
		// Path-based URLs would serve the workspace on the gateway's own origin: off unless
		// the operator turns them on.
		code, body = userGet(t, fmt.Sprintf("%s/w/42/demo/%d/hello.txt", g.url(), httpPort), "", aliceToken)
		if code != 404 || !strings.Contains(body, "path-based endpoint URLs are off") {
			t.Fatalf("path-based URL = %d %q, want 404: they are off by default", code, body)
		}
		code, _ = userGet(t, g.url()+"/hello.txt", host, bobToken)
		if code != 403 {
			t.Fatalf("bob on alice's endpoint = %d, want 403", code)
		}
		out, c := run(t, cli, "open", "demo", "web")
		if c != 0 || !strings.Contains(out, fmt.Sprintf("http://%d-demo--42.ws.test:", httpPort)) {
			t.Fatalf("ws open = %d %q", c, out)
		}
	})

	t.Run("auth", func(t *testing.T) {
		if code, body := userGet(t, statusURL, "", "wrong-token"); code != 401 || strings.Contains(body, "wrong-token") {
			t.Fatalf("wrong token = %d %q, want 401 without detail", code, body)
		}
		if code, _ := userGet(t, statusURL, "", ""); code != 401 {
			t.Fatalf("no token = %d, want 401", code)
		}
		if code, body := userGet(t, statusURL, "", bobToken); code != 403 || strings.Contains(body, "alice") {
			t.Fatalf("other user = %d %q, want 403 without detail", code, body)
		}
		code, body := userGet(t, g.url()+"/api/v1/workspaces", "", bobToken)
		if code != 200 || !strings.Contains(body, `"workspaces":[]`) {
			t.Fatalf("bob's list = %d %q", code, body)
		}
		out, c := run(t, append(cli, "GITLAB_TOKEN=wrong"), "shell", "demo", "--", "true")
		if c != 4 {
			t.Fatalf("ws shell with a wrong token = %d %q, want 4", c, out)
		}
		out, c = run(t, append(cli, "GITLAB_TOKEN="+bobToken), "shell", "-R", "42", "demo", "--", "true")
		if c != 4 || !strings.Contains(out, "only the user who launched") {
			t.Fatalf("ws shell as bob = %d %q", c, out)
		}
		// A job of another ref cannot claim the workspace; no job token at all is 401.
		req, _ := http.NewRequest("GET", g.url()+"/api/v1/agent/connect", nil)
		req.Header.Set("JOB-TOKEN", otherJob)
		req.Header.Set("WS-Tunnel-Version", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 403 {
			t.Fatalf("agent of a non-workspace job: %v %v", err, resp)
		}
		resp.Body.Close()
		req.Header.Set("JOB-TOKEN", "nope")
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 401 {
			t.Fatalf("agent with a bad token: %v %v", err, resp)
		}
		resp.Body.Close()
	})

	t.Run("browser terminal", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h := http.Header{}
		h.Set("Authorization", "Bearer "+aliceToken)
		c, _, err := websocket.Dial(ctx, strings.Replace(g.url(), "http", "ws", 1)+"/api/v1/workspaces/42/demo/terminal?cols=90&rows=30", &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		term := openTerminal(t, ctx, c)
		term.send(websocket.MessageText, `{"type":"resize","cols":77,"rows":22}`)
		// The resize reaches the agent on the control stream, keystrokes on
		// the data stream, so the first command may run before the resize.
		untilShown(t, term.screen, func(l string) { term.send(websocket.MessageBinary, l+"\r") }, "stty size", `22 77\r?\n`)
		term.send(websocket.MessageBinary, "exit 5\r")
		if m := term.last(t); m != `{"type":"exit","code":5}` {
			t.Fatalf("last control message %q, want exit 5; screen %q", m, term.screen.String())
		}
	})

	t.Run("web terminal", func(t *testing.T) {
		// ws open NAME prints a fresh single-use link to the terminal page.
		out, code := run(t, cli, "open", "demo", "--no-browser")
		if code != 0 || !regexp.MustCompile(`^`+regexp.QuoteMeta(g.url())+`/signin/link/[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
			t.Fatalf("ws open demo = %d %q, want a sign-in link", code, out)
		}
		req, _ := http.NewRequest("POST", g.url()+"/api/v1/links", strings.NewReader(`{"project":"group/app","name":"demo"}`))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
			t.Fatalf("POST /api/v1/links without a token: %v %v, want 401", resp, err)
		}
		req, _ = http.NewRequest("POST", g.url()+"/api/v1/links", strings.NewReader(`{"project":"group/app","name":"demo"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+bobToken)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
			t.Fatalf("POST /api/v1/links as bob: %v %v, want 403", resp, err)
		}
		req, _ = http.NewRequest("POST", g.url()+"/api/v1/links", strings.NewReader(`{"project":"group/app","name":"demo"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var link struct{ URL string }
		err = json.NewDecoder(resp.Body).Decode(&link)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("POST /api/v1/links: %v", err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(link.URL, g.url()+"/signin/link/") {
			t.Fatalf("POST /api/v1/links = %d %q", resp.StatusCode, link.URL)
		}
		linkTokens = append(linkTokens, link.URL[strings.LastIndex(link.URL, "/")+1:])

		// A browser: a cookie jar that follows the link to the terminal page.
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		resp, err = browser.Get(link.URL)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/terminal/group/app/-/demo" || !strings.Contains(string(page), "@alice") {
			t.Fatalf("link led to %d %s, want alice's terminal page /terminal/group/app/-/demo", resp.StatusCode, resp.Request.URL)
		}
		if resp, err := (&http.Client{}).Get(link.URL); err != nil || resp.StatusCode != http.StatusGone {
			t.Fatalf("reused link: %v %v, want 410", resp, err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		ttyURL := strings.Replace(g.url(), "http", "ws", 1) + "/terminal/group/app/-/demo/tty?cols=90&rows=30"
		h := http.Header{}
		h.Set("Origin", "http://evil.example")
		if _, resp, err := websocket.Dial(ctx, ttyURL, &websocket.DialOptions{HTTPClient: browser, HTTPHeader: h}); err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("terminal socket from another origin: %v %v, want 403", resp, err)
		}
		h.Set("Origin", g.url())
		c, _, err := websocket.Dial(ctx, ttyURL, &websocket.DialOptions{HTTPClient: browser, HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		term := openTerminal(t, ctx, c)
		term.send(websocket.MessageBinary, "echo hello-from-web\n")
		term.screen.WaitFor(t, 10*time.Second, 1, `(?m)(^|\r)hello-from-web\r?\n`)
		term.send(websocket.MessageText, `{"type":"resize","cols":77,"rows":22}`)
		untilShown(t, term.screen, func(l string) { term.send(websocket.MessageBinary, l+"\n") }, "echo SIZE:$(stty size)", `SIZE:22 77`)
		term.send(websocket.MessageBinary, "exit 3\n")
		if m := term.last(t); m != `{"type":"exit","code":3}` {
			t.Fatalf("last control message %q, want exit code 3; screen %q", m, term.screen.String())
		}
	})

	t.Run("metrics", func(t *testing.T) {
		_, body := userGet(t, g.url()+"/metrics", "", "")
		for _, want := range []string{"ws_gateway_agents_connected 1", "ws_gateway_bytes_from_agent_total", `ws_gateway_auth_failures_total{reason="forbidden",who="user"}`} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})

	t.Run("gateway restart", func(t *testing.T) {
		connects := strings.Count(ag.out.String(), "connected to gateway")
		g.stop()
		start := time.Now()
		g2 := startGateway(t, gl, g.addr, logs)
		ag.out.WaitFor(t, 30*time.Second, connects+1, `connected to gateway`)
		if out, code := run(t, cli, "shell", "demo", "--", "echo", "back"); code != 0 || !strings.Contains(out, "back") {
			t.Fatalf("ws shell after the gateway restarted = %d %q", code, out)
		}
		t.Logf("new shell %s after the gateway restarted", time.Since(start).Round(time.Millisecond))
		// The agent's Hello carries its phase to the new gateway.
		if code, body := userGet(t, statusURL, "", aliceToken); code != 200 || !strings.Contains(body, `"phase":"running"`) {
			t.Errorf("status after the gateway restarted = %d %s", code, body)
		}
		g = g2
	})

	t.Run("SIGTERM runs preStop", func(t *testing.T) {
		if err := syscall.Kill(ag.cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if c := ag.wait(t, 10*time.Second); c != 0 {
			t.Fatalf("agent exit %d after SIGTERM\n%s", c, ag.out.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "prestop.txt"))
		if err != nil || string(b) != "stopped\n" {
			t.Fatalf("preStop did not run: %v %q\n%s", err, b, ag.out.String())
		}
		// The background server was stopped with the workspace.
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), time.Second); err == nil {
			c.Close()
			t.Error("postStart's background server still runs after the agent stopped")
		}
	})

	// Tokens never reach logs.
	all := logs.String() + ag.out.String()
	if lf, err := os.ReadFile(filepath.Join(dir, "agent.log")); err == nil {
		all += string(lf)
	}
	for _, tok := range append([]string{jobToken, otherJob, aliceToken, bobToken, "wrong-token"}, linkTokens...) {
		if strings.Contains(all, tok) {
			t.Errorf("a token appears in the logs: %s", tok)
		}
	}
	if !strings.Contains(ag.out.String(), "[prep]") && !strings.Contains(ag.out.String(), "postStart: running prep") {
		t.Errorf("postStart output not in the job log:\n%s", ag.out.String())
	}
}

// TestIdleTimeout: with no gateway and no activity the agent ends itself.
func TestIdleTimeout(t *testing.T) {
	dir := t.TempDir()
	p := &plan.Plan{Version: plan.Version, Workspace: "idle", WorkingDir: dir, IdleTimeout: "300ms",
		PostStart: []plan.Step{{Commands: []plan.Command{{ID: "a", CommandLine: "echo one"}, {ID: "b", CommandLine: "echo two"}}}},
		PreStop:   []plan.Step{{Commands: []plan.Command{{ID: "bye", CommandLine: "echo bye > bye.txt"}}}},
	}
	ag := start(t, []string{"WS_PLAN=" + writePlan(t, p), "WS_AGENT_LOG=" + filepath.Join(dir, "log")}, "agent")
	if c := ag.wait(t, 10*time.Second); c != 0 {
		t.Fatalf("agent exit %d\n%s", c, ag.out.String())
	}
	out := ag.out.String()
	for _, want := range []string{"[a] one", "[b] two", "no shell and no port traffic"} {
		if !strings.Contains(out, want) {
			t.Errorf("agent output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bye.txt")); err != nil {
		t.Errorf("preStop did not run on idle stop: %v", err)
	}
}

// TestPostStopHook runs 'ws agent --hook postStop' as after_script does.
func TestPostStopHook(t *testing.T) {
	dir := t.TempDir()
	p := &plan.Plan{Version: plan.Version, Workspace: "x", WorkingDir: dir,
		PostStop: []plan.Step{{Commands: []plan.Command{{ID: "clean", CommandLine: "echo cleaned > post.txt"}}}}}
	out, c := run(t, []string{"WS_PLAN=" + writePlan(t, p), "WS_AGENT_LOG=" + filepath.Join(dir, "log")}, "agent", "--hook", "postStop")
	if c != 0 {
		t.Fatalf("hook exit %d: %s", c, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "post.txt")); string(b) != "cleaned\n" {
		t.Fatalf("postStop did not run: %q", out)
	}
}

// terminal is a terminal WebSocket (the gateway's, or the web page's):
// output collects in screen, and the socket's last control message arrives
// on ended when the socket closes.
type terminal struct {
	ctx    context.Context
	t      *testing.T
	c      *websocket.Conn
	screen *testutil.SyncBuffer
	ended  chan string
}

func openTerminal(t *testing.T, ctx context.Context, c *websocket.Conn) *terminal {
	term := &terminal{ctx: ctx, t: t, c: c, screen: &testutil.SyncBuffer{}, ended: make(chan string, 1)}
	t.Cleanup(func() { _ = c.CloseNow() })
	go func() {
		last := ""
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				term.ended <- last
				return
			}
			if typ == websocket.MessageBinary {
				_, _ = term.screen.Write(b)
			} else {
				last = string(b)
			}
		}
	}()
	return term
}

func (term *terminal) send(typ websocket.MessageType, s string) {
	if err := term.c.Write(term.ctx, typ, []byte(s)); err != nil {
		term.t.Fatalf("write to the terminal: %v", err)
	}
}

// last waits for the socket to end and returns its last control message.
func (term *terminal) last(t *testing.T) string {
	t.Helper()
	select {
	case m := <-term.ended:
		return m
	case <-term.ctx.Done():
		t.Fatalf("the terminal did not end; screen %q", term.screen.String())
		return ""
	}
}
