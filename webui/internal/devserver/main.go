// Command devserver serves the web UI with a stand-in gateway whose terminals are real local
// PTY shells (bash), for the browser test and for working on the page without a gateway.
//
// It prints one JSON line when ready, {"url": UI URL, "control": control URL}, and stops on
// SIGINT, SIGTERM or when its standard input closes (so a dying test cannot leave it behind).
// The control listener (a separate port, never part of the UI) takes:
//
//	POST /mint?path=P          -> a single-use sign-in link for user "dev" leading to P
//	POST /stop?name=N          -> workspace N stops: its shells hang up, new ones are refused
//	POST /start?name=N         -> workspace N runs again
//
// Workspaces: demo/app / demo (running, endpoint "web") and demo/app / old (stopped).
// The token "dev-token" signs in as user "dev" on the sign-in page.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/ws-dev/ws/webui"
)

var dev = webui.User{ID: 1, Username: "dev", Name: "Dev Eloper"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "devserver: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "ws-devserver-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	for _, f := range []string{"README.md", "main.go"} {
		_ = os.WriteFile(filepath.Join(home, f), []byte("demo\n"), 0o644)
	}
	_ = os.Mkdir(filepath.Join(home, "src"), 0o755)

	b := &backend{home: home, started: time.Now().Add(-95 * time.Minute), stopped: map[string]bool{"old": true}, open: map[*ptyTerminal]string{}}
	defer b.closeAll()
	public := "http://" + ln.Addr().String()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ui, err := webui.New(webui.Config{PublicURL: public, Logger: log}, b)
	if err != nil {
		return err
	}

	ctl := http.NewServeMux()
	ctl.HandleFunc("POST /mint", func(w http.ResponseWriter, r *http.Request) {
		link, err := ui.MintLink(dev, "dev-token", r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, link)
	})
	ctl.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) { b.setStopped(r.URL.Query().Get("name"), true) })
	ctl.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) { b.setStopped(r.URL.Query().Get("name"), false) })

	srv := &http.Server{Handler: ui, ReadHeaderTimeout: 10 * time.Second}
	csrv := &http.Server{Handler: ctl, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { _ = csrv.Serve(cln) }()
	ready, _ := json.Marshal(map[string]string{"url": public, "control": "http://" + cln.Addr().String()})
	fmt.Println(string(ready))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	<-ctx.Done()
	b.closeAll()
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = csrv.Shutdown(sctx)
	_ = srv.Shutdown(sctx) // hijacked WebSockets are not waited for; closeAll ended their shells
	return nil
}

type backend struct {
	home    string
	started time.Time

	mu      sync.Mutex
	stopped map[string]bool
	open    map[*ptyTerminal]string // open shells and their workspace
}

func (b *backend) UserFromToken(_ context.Context, token string) (webui.User, error) {
	if token != "dev-token" {
		return webui.User{}, fmt.Errorf("%w: 401 Unauthorized", webui.ErrTokenRejected)
	}
	return dev, nil
}

func (b *backend) Workspaces(_ context.Context, u webui.User) ([]webui.Workspace, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	status := func(name string) string {
		if b.stopped[name] {
			return "stopped"
		}
		return "running"
	}
	return []webui.Workspace{
		{Project: "demo/app", Name: "demo", Status: status("demo"), Started: b.started,
			Endpoints: []webui.Endpoint{{Name: "web", URL: "http://8080-demo.ws.localhost/"}}},
		{Project: "demo/app", Name: "old", Status: status("old"), Started: b.started.Add(-50 * time.Hour)},
	}, nil
}

func (b *backend) OpenTerminal(_ context.Context, u webui.User, project, name string, cols, rows int) (webui.Terminal, error) {
	if u.ID != dev.ID {
		return nil, fmt.Errorf("user %s: %w", u.Username, webui.ErrForbidden)
	}
	if project != "demo/app" || (name != "demo" && name != "old") {
		return nil, fmt.Errorf("%s/%s: %w", project, name, webui.ErrNotFound)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped[name] {
		return nil, fmt.Errorf("%s: %w", name, webui.ErrUnavailable)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-i")
	cmd.Dir = b.home
	cmd.Env = []string{
		"TERM=xterm-256color", "LANG=C.UTF-8", "HOME=" + b.home, "PATH=/usr/local/bin:/usr/bin:/bin",
		`PS1=\[\e[1;32m\]dev@` + name + `\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ `,
	}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	t := &ptyTerminal{f: f, cmd: cmd, b: b}
	b.open[t] = name
	return t, nil
}

func (b *backend) setStopped(name string, stopped bool) {
	b.mu.Lock()
	b.stopped[name] = stopped
	var hang []*ptyTerminal
	for t, ws := range b.open {
		if ws == name && stopped {
			hang = append(hang, t)
		}
	}
	b.mu.Unlock()
	for _, t := range hang {
		t.hangUp()
	}
}

func (b *backend) closeAll() {
	b.mu.Lock()
	var all []*ptyTerminal
	for t := range b.open {
		all = append(all, t)
	}
	b.mu.Unlock()
	for _, t := range all {
		_ = t.Close()
	}
}

// ptyTerminal is a local shell in a PTY, standing in for one in a workspace.
type ptyTerminal struct {
	f   *os.File
	cmd *exec.Cmd
	b   *backend

	mu       sync.Mutex
	stopped  bool // the workspace stopped under it
	waitOnce sync.Once
	code     int
	waitErr  error
}

func (t *ptyTerminal) Read(p []byte) (int, error) {
	n, err := t.f.Read(p)
	if err != nil {
		return n, io.EOF // Linux says EIO once the shell has exited
	}
	return n, nil
}

func (t *ptyTerminal) Write(p []byte) (int, error) { return t.f.Write(p) }

func (t *ptyTerminal) Resize(cols, rows int) error {
	return pty.Setsize(t.f, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}

func (t *ptyTerminal) Wait() (int, error) {
	t.waitOnce.Do(func() {
		err := t.cmd.Wait()
		t.b.mu.Lock()
		delete(t.b.open, t)
		t.b.mu.Unlock()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			t.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.code = 128 + int(ws.Signal())
			}
		default:
			t.code, t.waitErr = -1, err
		}
		t.mu.Lock()
		if t.stopped {
			t.waitErr = fmt.Errorf("workspace stopped: %w", webui.ErrUnavailable)
		}
		t.mu.Unlock()
	})
	return t.code, t.waitErr
}

// hangUp ends the shell as a stopping workspace would.
func (t *ptyTerminal) hangUp() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	_ = t.cmd.Process.Signal(syscall.SIGHUP)
}

func (t *ptyTerminal) Close() error {
	_ = t.cmd.Process.Kill()
	err := t.f.Close()
	go func() { _, _ = t.Wait() }() // reap the shell
	return err
}
