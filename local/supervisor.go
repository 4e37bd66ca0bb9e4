package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ws-dev/ws/gateway"
)

// File names in a workspace's state directory.
const (
	jobFile        = "job.json"
	JobLog         = "job.log" // the job's output: what 'ws logs' shows
	supervisorLog  = "supervisor.log"
	stopGrace      = 10 * time.Second // SIGTERM → SIGKILL, as a runner does
	afterScriptMax = 30 * time.Second
)

// Supervise is the detached supervisor ('ws local supervise DIR'): it
// embeds a gateway on 127.0.0.1, starts the watchdog and the job, records
// the status, and on SIGTERM (ws down) stops the job, runs after_script and
// removes everything the job started. It returns when all is cleaned up.
// ready, when not nil, receives one line once the agent has connected
// ("running") or the start failed ("failed: why"), and is closed.
func Supervise(ctx context.Context, dir string, ready io.WriteCloser) error {
	s, err := loadSupervisor(dir, ready)
	if err != nil {
		if ready != nil {
			fmt.Fprintf(ready, "failed: %v\n", err)
			ready.Close()
		}
		return err
	}
	return s.run(ctx)
}

// supervisor is one run of Supervise.
type supervisor struct {
	dir    string
	st     *State
	job    Job
	ready  io.WriteCloser
	jobLog *os.File
	gw     *gateway.Server
	srv    *http.Server
}

func loadSupervisor(dir string, ready io.WriteCloser) (*supervisor, error) {
	st, err := Load(dir)
	if err != nil {
		return nil, err
	}
	s := &supervisor{dir: dir, st: st, ready: ready}
	b, err := os.ReadFile(filepath.Join(dir, jobFile))
	if err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	if err := json.Unmarshal(b, &s.job); err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	return s, nil
}

func (s *supervisor) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// notify tells 'ws up --local' how the start went, once.
func (s *supervisor) notify(line string) {
	if s.ready == nil {
		return
	}
	fmt.Fprintln(s.ready, line)
	s.ready.Close()
	s.ready = nil
}

// fail records err as the workspace's end.
func (s *supervisor) fail(err error) error {
	s.logf("failed: %v", err)
	_, _ = update(s.dir, func(st *State) { st.Status, st.Error, st.StoppedAt = StatusFailed, err.Error(), time.Now().UTC() })
	s.notify("failed: " + err.Error())
	return err
}

func (s *supervisor) run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	// The watchdog outlives a killed supervisor and then cleans up.
	wd, wdPipe, err := startWatchdog(s.dir, s.st.Executable)
	if err != nil {
		return s.fail(err)
	}
	defer func() {
		wdPipe.Close() // EOF: the watchdog sweeps once more and exits
		_ = wd.Wait()
	}()
	if s.st, err = update(s.dir, func(st *State) { st.PID, st.WatchdogPID = os.Getpid(), wd.Process.Pid }); err != nil {
		return s.fail(err)
	}
	if s.jobLog, err = os.OpenFile(filepath.Join(s.dir, JobLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return s.fail(err)
	}
	defer s.jobLog.Close()

	r, err := s.newRunner(wd.Process.Pid)
	if err != nil {
		return s.fail(err)
	}
	agentHost, err := r.prepare(ctx)
	if err != nil {
		r.cleanup()
		return s.fail(err)
	}
	agentURL, err := s.serveGateway(agentHost)
	if err != nil {
		r.cleanup()
		return s.fail(err)
	}
	defer s.shutdownGateway()
	done, err := r.start(ctx, agentURL)
	if err != nil {
		r.cleanup()
		return s.fail(err)
	}
	jobErr, exited := s.wait(ctx, r, done)
	stop()
	return s.finish(r, done, jobErr, exited, ctx.Err() != nil)
}

// newRunner returns the job's runner; watchdog is the watchdog's pid, which
// a shell-mode job's process tree leaves out (proc.go).
func (s *supervisor) newRunner(watchdog int) (runner, error) {
	if s.st.Mode == ModeShell {
		return &shellRunner{st: s.st, job: &s.job, dir: s.dir, log: s.jobLog,
			tree: jobTree(s.jobLog, s.dir, s.st.Marker, watchdog)}, nil
	}
	return newContainerRunner(s.st, &s.job, s.dir, s.jobLog)
}

// serveGateway starts the embedded gateway on 127.0.0.1 (for the user's
// commands) and, when agentHost is set, on agentHost too (for the agent in
// a container); it returns the URL the agent dials.
func (s *supervisor) serveGateway(agentHost string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("embedded gateway: %w", err)
	}
	lns := []net.Listener{ln}
	base := "http://" + ln.Addr().String()
	agentURL := base
	if agentHost != "" {
		// The job network's bridge may appear only with its first
		// container: listen on its address before it exists.
		l2, err := listenFreebind(net.JoinHostPort(agentHost, "0"))
		if err != nil {
			ln.Close()
			return "", fmt.Errorf("embedded gateway on the job network (%s): %w", agentHost, err)
		}
		lns = append(lns, l2)
		agentURL = "http://" + l2.Addr().String()
	}
	username := "you"
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	s.gw, err = gateway.New(gateway.Config{PublicURL: base, PathURLs: true,
		Auth:   &Auth{Name: s.st.Name, AgentToken: s.st.AgentToken, UserToken: s.st.UserToken, Username: username},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		for _, l := range lns {
			l.Close()
		}
		return "", err
	}
	s.srv = &http.Server{Handler: s.gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	for _, l := range lns {
		go func() { _ = s.srv.Serve(l) }()
	}
	if s.st, err = update(s.dir, func(st *State) { st.Gateway = base }); err != nil {
		return "", err
	}
	s.logf("gateway listening on %s (agent: %s); job runs in %s mode", base, agentURL, s.st.Mode)
	return agentURL, nil
}

func (s *supervisor) shutdownGateway() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.gw.Shutdown(ctx)
	_ = s.srv.Shutdown(ctx)
}

// wait reports the workspace running once the agent has connected, and
// returns when the job ends (exited) or a stop is requested.
func (s *supervisor) wait(ctx context.Context, r runner, done <-chan error) (jobErr error, exited bool) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	running := false
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case err := <-done:
			return err, true
		case <-tick.C:
			if running || s.gw.Agents() == 0 {
				continue
			}
			running = true
			pub := r.published(ctx)
			_, _ = update(s.dir, func(st *State) { st.Status, st.Published = StatusRunning, pub })
			s.logf("agent connected")
			s.notify(StatusRunning)
		}
	}
}

// finish stops the job unless it ended by itself, runs after_script,
// removes what the job created and records the end.
func (s *supervisor) finish(r runner, done <-chan error, jobErr error, exited, stopRequested bool) error {
	if !exited {
		s.logf("stop requested")
		_, _ = update(s.dir, func(st *State) { st.Status = StatusStopping })
		jobErr = r.stop(done)
	}
	r.afterScript()
	r.cleanup()
	if left := Sweep(s.st.Marker, 2*time.Second, 5*time.Second); len(left) > 0 {
		s.logf("processes still running after cleanup: %v", left)
	}
	if exited && !stopRequested {
		msg := "the job ended"
		if jobErr != nil {
			msg = "the job failed: " + jobErr.Error()
		}
		return s.fail(fmt.Errorf("%s; see 'ws logs %s'", msg, s.st.Name))
	}
	_, _ = update(s.dir, func(st *State) { st.Status, st.Error, st.StoppedAt = StatusStopped, "", time.Now().UTC() })
	s.notify("failed: stopped before the agent connected")
	s.logf("stopped")
	return nil
}

// startWatchdog starts 'ws local watchdog DIR' with a pipe on its stdin
// that only this process holds: EOF tells it the supervisor is gone.
func startWatchdog(dir, exe string) (*exec.Cmd, io.Closer, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	c := exec.Command(exe, "local", "watchdog", dir)
	c.Stdin = pr
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Env = withoutMarker(os.Environ())
	if err := c.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, nil, fmt.Errorf("start watchdog: %w", err)
	}
	pr.Close()
	return c, pw, nil
}

func withoutMarker(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, MarkerEnv+"=") {
			out = append(out, e)
		}
	}
	return out
}

// Watchdog waits for EOF on stdin (the supervisor ended, normally or not),
// then removes whatever the workspace left: marked processes, containers.
func Watchdog(dir string, stdin io.Reader) error {
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM)
	_, _ = io.Copy(io.Discard, stdin)
	st, err := Load(dir)
	if err != nil {
		return err
	}
	endJobCgroup(dir)
	Sweep(st.Marker, time.Second, 5*time.Second)
	if st.Mode != ModeShell {
		removeLabelled(context.Background(), st.Mode, labelKey+"="+st.Marker, os.Stderr)
	}
	if st.Active() {
		// The supervisor died without recording it.
		_, _ = update(dir, func(s *State) {
			s.Status, s.Error, s.StoppedAt = StatusFailed, "the supervisor was killed; the watchdog removed its processes", time.Now().UTC()
		})
	}
	return nil
}
