// Command browserserver runs the real thing for the browser test (webui/browsertest): a fake
// GitLab that checks tokens, a real gateway (gateway.New, with its web page) and real agents
// ('ws agent', child processes) for two users' workspaces:
//
//   - alice's workspace demo of project group/app (42), whose endpoint "web" is alice's
//     application: it counts the POSTs that reach it (the test checks none of an
//     attacker's do);
//   - bob's workspace evil of project bob/evil (43), whose endpoint "site" serves an
//     attacker's page (attack.html). Alice maintains bob's project (--allow-maintainers),
//     so she may open it: the page then runs in her browser, on its endpoint host, and
//     tries to reach her workspace (issue 10, findings 1 and 2).
//
// A third origin, http://evil.localhost:<port>, is "another site": its csrf.html posts a
// sign-in form with bob's token to the gateway (login CSRF).
//
// The gateway's public URL is http://ws.localhost:<port>, its endpoints are
// http://<port>-<name>--<project>.ws.localhost:<port> (Chromium resolves *.localhost to
// the loopback address), so endpoints are same-site with the gateway, as in production.
// Programs that do not resolve *.localhost (node's fetch, the agents) use "direct".
//
// It prints one JSON line when both workspaces run:
//
//	{"url", "direct", "control", "token", "badToken", "bobToken", "aliceEndpoint", "bobEndpoint", "evil"}
//
// and stops, stopping the agents, on SIGINT, SIGTERM or when its standard input closes (so
// a dying test cannot leave it behind). The control listener (loopback, its own port, not
// the gateway's) takes:
//
//	POST /stop    alice's workspace stops: SIGTERM to its agent, as a runner stops a
//	              cancelled job, and once it has exited, the gateway no longer knows it
//	POST /start   a new agent with the same job token; answers once the workspace runs
//	GET  /hits    how many POSTs reached alice's application
//
// The plan's postStart gives alice's shell a green prompt and a greeting (through
// ~/.bash_profile), so the test sees that postStart ran before the terminal opened.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/plan"
)

const (
	jobToken    = "job-token-browser-SECRET"
	bobJobToken = "job-token-bob-browser-SECRET"
	aliceToken  = "glpat-alice-browser-SECRET"
	bobToken    = "glpat-bob-browser-SECRET"
	badToken    = "glpat-wrong"
	projectID   = 42
	bobProject  = 43
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "browserserver: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	wsBin := flag.String("ws", "", "the `ws` binary whose 'ws agent' runs the workspaces (required)")
	flag.Parse()
	if *wsBin == "" {
		return errors.New("-ws is required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()

	alice := gitlabtokens.User{ID: 1, Username: "alice", Name: "Alice Liddell"}
	bob := gitlabtokens.User{ID: 2, Username: "bob", Name: "Bob Mallory"}
	fake := &gitlabtokens.Fake{
		Jobs: map[string]gitlabtokens.Job{
			jobToken:    {ID: 101, Status: "running", Ref: "ws/demo", PipelineID: 9, ProjectID: projectID, ProjectPath: "group/app", User: alice},
			bobJobToken: {ID: 201, Status: "running", Ref: "ws/evil", PipelineID: 19, ProjectID: bobProject, ProjectPath: "bob/evil", User: bob},
		},
		Users:   map[string]gitlabtokens.User{aliceToken: alice, bobToken: bob},
		Members: map[int64]map[int64]int{bobProject: {alice.ID: 40, bob.ID: 50}, projectID: {alice.ID: 50}},
	}
	gitlab, err := serve(fake.Handler())
	if err != nil {
		return err
	}
	defer gitlab.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	public := fmt.Sprintf("http://ws.localhost:%d", port)
	direct := "http://" + ln.Addr().String()
	g, err := gateway.New(gateway.Config{
		GitLabURL: "http://" + gitlab.Addr, PublicURL: public, AllowMaintainers: true,
		Logger: log.With("from", "gateway"),
	})
	if err != nil {
		return err
	}
	gsrv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = gsrv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		g.Shutdown(sctx)
		gsrv.Close()
	}()

	// Alice's application: a page, and POST /hit, which counts.
	var hits atomic.Int64
	aliceApp, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>alice's app</title><h1>alice's app</h1>")
	}))
	if err != nil {
		return err
	}
	defer aliceApp.Close()
	// Bob's site: the attacker's page, as his workspace serves it.
	bobSite, err := serve(http.FileServerFS(pages))
	if err != nil {
		return err
	}
	defer bobSite.Close()
	// Another site altogether.
	evil, err := serve(http.FileServerFS(pages))
	if err != nil {
		return err
	}
	defer evil.Close()

	dir, err := os.MkdirTemp("", "ws-browserserver-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	alicePort, bobPort := portOf(aliceApp), portOf(bobSite)
	// At the end, a workspace that does not stop is worth a line in the log.
	stopAtEnd := func(w *workspace) {
		if err := w.stop(); err != nil {
			log.Warn("stop workspace", "name", w.name, "err", err)
		}
	}
	w, err := newWorkspace(filepath.Join(dir, "alice"), *wsBin, direct, "demo", jobToken,
		plan.Endpoint{Name: "web", TargetPort: alicePort, Protocol: "http", Exposure: "public"})
	if err != nil {
		return err
	}
	defer stopAtEnd(w)
	bw, err := newWorkspace(filepath.Join(dir, "bob"), *wsBin, direct, "evil", bobJobToken,
		plan.Endpoint{Name: "site", TargetPort: bobPort, Protocol: "http", Exposure: "public"})
	if err != nil {
		return err
	}
	defer stopAtEnd(bw)
	if err := w.start(ctx); err != nil {
		return err
	}
	if err := bw.start(ctx); err != nil {
		return err
	}

	ctl := http.NewServeMux()
	ctl.HandleFunc("POST /stop", func(rw http.ResponseWriter, r *http.Request) {
		if err := w.stop(); err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
		}
	})
	ctl.HandleFunc("POST /start", func(rw http.ResponseWriter, r *http.Request) {
		if err := w.start(r.Context()); err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
		}
	})
	ctl.HandleFunc("GET /hits", func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, hits.Load()) })
	csrv, err := serve(ctl)
	if err != nil {
		return err
	}
	defer csrv.Close()

	ready, _ := json.Marshal(map[string]string{
		"url": public, "direct": direct, "control": "http://" + csrv.Addr,
		"token": aliceToken, "badToken": badToken, "bobToken": bobToken,
		"aliceEndpoint": fmt.Sprintf("http://%d-demo--%d.ws.localhost:%d", alicePort, projectID, port),
		"bobEndpoint":   fmt.Sprintf("http://%d-evil--%d.ws.localhost:%d", bobPort, bobProject, port),
		"evil":          fmt.Sprintf("http://evil.localhost:%d", portOf(evil)),
	})
	fmt.Println(string(ready))
	<-ctx.Done()
	return nil
}

// pages are the attacker's pages (attack.html on bob's endpoint, csrf.html on another site).
//
//go:embed pages
var pagesFS embed.FS

var pages = func() fs.FS { f, _ := fs.Sub(pagesFS, "pages"); return f }()

func portOf(s *http.Server) int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// serve serves h on a loopback port.
func serve(h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// workspace is one workspace: a 'ws agent' process, started and stopped on demand.
type workspace struct {
	ws, gateway, name, token string
	env                      []string

	mu    sync.Mutex
	agent *exec.Cmd
	done  chan struct{} // closed when agent has exited
}

func newWorkspace(dir, wsBin, gatewayURL, name, token string, ep plan.Endpoint) (*workspace, error) {
	home := filepath.Join(dir, "home")
	work := filepath.Join(home, "app") // the prompt shows ~/app
	for _, d := range []string{home, work, filepath.Join(work, "src")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"README.md", "main.go"} {
		if err := os.WriteFile(filepath.Join(work, f), []byte("demo\n"), 0o644); err != nil {
			return nil, err
		}
	}
	// postStart writes the login shell's profile: a green, bold prompt (the test checks the
	// colour of its first cell) and a greeting naming the step that wrote it.
	profile := `PS1='\[\e[1;32m\]alice@` + name + `\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]$ '
echo "workspace ` + name + `: set up by postStart"
`
	p := &plan.Plan{
		Version: plan.Version, Workspace: name, WorkingDir: work, IdleTimeout: "0",
		PostStart: []plan.Step{{Commands: []plan.Command{{ID: "profile",
			CommandLine: "cat > \"$HOME/.bash_profile\" <<'EOF'\n" + profile + "EOF"}}}},
		Endpoints: []plan.Endpoint{ep},
	}
	enc, err := p.Encode()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(wsBin)
	if err != nil {
		return nil, err
	}
	return &workspace{ws: abs, gateway: gatewayURL, name: name, token: token, env: []string{
		"WS_PLAN=" + enc, "CI_JOB_TOKEN=" + token, "WS_AGENT_LOG=" + filepath.Join(dir, "agent.log"),
		"HOME=" + home, "USER=alice", "SHELL=/bin/bash", "LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin",
	}}, nil
}

// start starts an agent and waits until the gateway says the workspace runs.
func (w *workspace) start(ctx context.Context) error {
	w.mu.Lock()
	if w.agent != nil {
		w.mu.Unlock()
		return errors.New("the workspace runs already")
	}
	cmd := exec.Command(w.ws, "agent", "--gateway", w.gateway, "--max-backoff", "500ms")
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group, killed with this server even if this server is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		w.mu.Unlock()
		return fmt.Errorf("start agent: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.agent, w.done = cmd, done
	w.mu.Unlock()
	return w.waitStatus(ctx, done, func(code int, body string) bool {
		return code == http.StatusOK && strings.Contains(body, `"phase":"running"`)
	})
}

// stop sends the agent SIGTERM (SIGKILL after 10 s), then waits until the gateway no longer
// knows the workspace.
func (w *workspace) stop() error {
	w.mu.Lock()
	cmd, done := w.agent, w.done
	w.agent = nil
	w.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return errors.New("the agent did not stop within 10s of SIGTERM")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.waitStatus(ctx, nil, func(code int, _ string) bool { return code == http.StatusNotFound })
}

// waitStatus polls the gateway's status of the workspace, as its owner, until ok says yes, the
// agent exits (exited closes) or 30 s pass.
func (w *workspace) waitStatus(ctx context.Context, exited chan struct{}, ok func(code int, body string) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.gateway+"/api/v1/workspaces/-/"+w.name, nil)
		req.Header.Set("Authorization", "Bearer "+map[string]string{jobToken: aliceToken, bobJobToken: bobToken}[w.token])
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ok(resp.StatusCode, string(b)) {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		select {
		case <-exited:
			return errors.New("the agent exited")
		case <-ctx.Done():
			return fmt.Errorf("workspace status: %w; last answer: %s", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
