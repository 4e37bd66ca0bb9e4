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
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/internal/proctree"
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
func Supervise(ctx context.Context, dir string) error {
	st, err := Load(dir)
	if err != nil {
		return err
	}
	var j Job
	b, err := os.ReadFile(filepath.Join(dir, jobFile))
	if err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	fail := func(err error) error {
		logf("failed: %v", err)
		_, _ = update(dir, func(s *State) { s.Status, s.Error, s.StoppedAt = StatusFailed, err.Error(), time.Now().UTC() })
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	// The watchdog outlives a killed supervisor and then cleans up.
	wd, wdPipe, err := startWatchdog(dir, st.Executable)
	if err != nil {
		return fail(err)
	}
	defer func() {
		wdPipe.Close() // EOF: the watchdog sweeps once more and exits
		_ = wd.Wait()
	}()

	addrs := []string{"127.0.0.1:0"}
	var bridgeIP string
	if st.Mode != ModeShell {
		if bridgeIP, err = hostGatewayIP(ctx, st.Mode); err != nil {
			return fail(err)
		}
	}
	ln, err := net.Listen("tcp", addrs[0])
	if err != nil {
		return fail(fmt.Errorf("embedded gateway: %w", err))
	}
	port := ln.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{ln}
	if bridgeIP != "" {
		l2, err := net.Listen("tcp", net.JoinHostPort(bridgeIP, fmt.Sprint(port)))
		if err != nil {
			return fail(fmt.Errorf("embedded gateway on the container bridge %s: %w", bridgeIP, err))
		}
		lns = append(lns, l2)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	username := "you"
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	gw, err := gateway.New(gateway.Config{PublicURL: base, PathURLs: true,
		Auth:   &Auth{Name: st.Name, AgentToken: st.AgentToken, UserToken: st.UserToken, Username: username},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	for _, l := range lns {
		go func() { _ = srv.Serve(l) }()
	}
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 3*time.Second)
		gw.Shutdown(sctx)
		_ = srv.Shutdown(sctx)
		c()
	}()
	st, err = update(dir, func(s *State) { s.Gateway, s.PID, s.WatchdogPID = base, os.Getpid(), wd.Process.Pid })
	if err != nil {
		return fail(err)
	}
	logf("gateway listening on %s; job runs in %s mode", base, st.Mode)

	logFile, err := os.OpenFile(filepath.Join(dir, JobLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()

	var r runner
	switch st.Mode {
	case ModeShell:
		r = &shellRunner{st: st, job: &j, dir: dir, log: logFile, gateway: base, tree: jobTree(logFile, dir, st.Marker, wd.Process.Pid)}
	default:
		gwIn := fmt.Sprintf("http://host.docker.internal:%d", port)
		r, err = newContainerRunner(st, &j, dir, logFile, gwIn)
		if err != nil {
			return fail(err)
		}
	}
	done, err := r.start(ctx)
	if err != nil {
		r.cleanup()
		return fail(err)
	}
	// Report "running" once the agent is connected.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	running := false
	var jobErr error
	exited := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case jobErr = <-done:
			exited = true
			break loop
		case <-tick.C:
			if !running && gw.Agents() > 0 {
				running = true
				_, _ = update(dir, func(s *State) { s.Status = StatusRunning })
				logf("agent connected")
			}
		}
	}
	stop()
	if !exited {
		logf("stop requested")
		_, _ = update(dir, func(s *State) { s.Status = StatusStopping })
		jobErr = r.stop(done)
	}
	r.afterScript()
	r.cleanup()
	if left := Sweep(st.Marker, 2*time.Second, 5*time.Second); len(left) > 0 {
		logf("processes still running after cleanup: %v", left)
	}
	if exited && ctx.Err() == nil {
		msg := "the job ended"
		if jobErr != nil {
			msg = "the job failed: " + jobErr.Error()
		}
		return fail(fmt.Errorf("%s; see 'ws logs %s'", msg, st.Name))
	}
	_, _ = update(dir, func(s *State) { s.Status, s.Error, s.StoppedAt = StatusStopped, "", time.Now().UTC() })
	logf("stopped")
	return nil
}

// runner runs a job in one mode.
type runner interface {
	// start starts the job; done receives its result once it ends.
	start(ctx context.Context) (done <-chan error, err error)
	// stop asks the job to end (SIGTERM: the agent runs preStop), then
	// forces it after stopGrace; it returns the job's result.
	stop(done <-chan error) error
	afterScript()
	cleanup()
}

// shellRunner runs the job on the host, like a shell-executor runner: in
// the project directory itself, with the job's variables in the
// environment; images and services are not used.
type shellRunner struct {
	st      *State
	job     *Job
	dir     string
	log     io.Writer
	gateway string
	cmd     *exec.Cmd
	tree    *proctree.Tree // the job's processes (proc.go)
}

func (r *shellRunner) env() []string {
	vs := r.job.Environment(Env{Workspace: r.st.Name, ProjectDir: r.st.ProjectDir, BuildsDir: filepath.Dir(r.st.ProjectDir),
		WSBin: r.st.Executable, Gateway: r.gateway, AgentToken: r.st.AgentToken, Marker: r.st.Marker,
		AgentLog: filepath.Join(r.dir, "agent.log")})
	env := os.Environ()
	for _, v := range vs {
		env = append(env, v.Name+"="+v.Value)
	}
	// The agent installs no dotfiles into this machine's own home (agent/dotfiles.go).
	return append(env, ShellModeEnv+"=1")
}

// ShellModeEnv is set in the environment of a job that runs in shell mode,
// on the user's own machine.
const ShellModeEnv = "WS_LOCAL_SHELL"

// ShellCommand is the command shell mode runs for lines (exported for tests).
func ShellCommand(lines []string) []string { return []string{"/bin/sh", "-c", ShellScript(lines)} }

func (r *shellRunner) command(lines []string) *exec.Cmd {
	argv := ShellCommand(lines)
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = r.st.ProjectDir
	c.Env = r.env()
	c.Stdout, c.Stderr = r.log, r.log
	c.SysProcAttr = jobAttr()
	c.WaitDelay = time.Second
	return c
}

func (r *shellRunner) start(context.Context) (<-chan error, error) {
	fmt.Fprintf(r.log, "ws: running job %q on this host (shell mode): images and services are not used\n", r.job.Name)
	if r.job.Image != "" {
		fmt.Fprintf(r.log, "ws: not using image %s\n", r.job.Image)
	}
	for _, s := range r.job.Services {
		fmt.Fprintf(r.log, "ws: not starting service %s (alias %s)\n", s.Image, s.Alias)
	}
	r.cmd = r.command(r.job.Script)
	return startLocked(r.cmd, r.tree)
}

// startLocked starts c from a thread that stays alive until c ends:
// Pdeathsig fires when the *thread* that started the child exits. With a
// tree, c starts in it (proc.go).
func startLocked(c *exec.Cmd, tree *proctree.Tree) (<-chan error, error) {
	done := make(chan error, 1)
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := startIn(tree, c); err != nil {
			started <- err
			return
		}
		started <- nil
		err := c.Wait()
		doneIn(tree, c)
		done <- err
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start job: %w", err)
	}
	return done, nil
}

func (r *shellRunner) stop(done <-chan error) error {
	pgid := r.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-done
	}
}

func (r *shellRunner) afterScript() {
	if len(r.job.AfterScript) == 0 {
		return
	}
	c := r.command(r.job.AfterScript)
	done, err := startLocked(c, r.tree)
	if err != nil {
		fmt.Fprintf(r.log, "ws: after_script: %v\n", err)
		return
	}
	select {
	case <-done:
	case <-time.After(afterScriptMax):
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// cleanup ends whatever the job left, however it detached (proc.go).
func (r *shellRunner) cleanup() { endTree(r.log, r.dir, r.tree) }

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
		removeContainers(context.Background(), st.Mode, st.Marker)
	}
	if st.Active() {
		// The supervisor died without recording it.
		_, _ = update(dir, func(s *State) {
			s.Status, s.Error, s.StoppedAt = StatusFailed, "the supervisor was killed; the watchdog removed its processes", time.Now().UTC()
		})
	}
	return nil
}
