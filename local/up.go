package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/plan"
)

// UpOptions are the inputs of Up.
type UpOptions struct {
	Name       string
	Pipeline   *ci.Pipeline
	Plan       *plan.Plan
	ProjectDir string // CI_PROJECT_DIR in shell mode: the repository itself
	Devfile    string
	Getenv     func(string) string
	// Executable is the ws binary the supervisor and the watchdog run, and
	// the agent in shell mode (default: this process's executable).
	Executable string
	// AgentBinary is the binary container mode delivers into the job
	// (default: [DefaultAgentBinary] of Executable).
	AgentBinary string
	// Wait bounds the wait for the agent to connect (default 2m).
	Wait time.Duration
	// Progress receives one line per step; may be nil.
	Progress func(string)
}

// DefaultAgentBinary is the agent binary container mode delivers when
// UpOptions.AgentBinary is empty: the slim ws-agent beside the ws
// executable (as releases ship them), else the ws executable itself, which
// behaves as ws-agent under that name (cmd/ws).
func DefaultAgentBinary(executable string) string {
	slim := filepath.Join(filepath.Dir(executable), compiler.AgentBinary)
	if fi, err := os.Stat(slim); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return slim
	}
	return executable
}

// UpResult is the JSON of 'ws up --local'.
type UpResult struct {
	Name     string `json:"name"`
	Local    bool   `json:"local"`
	Action   string `json:"action"` // started or already-running
	Mode     string `json:"mode"`   // shell, docker or podman
	Engine   string `json:"engine,omitempty"`
	Status   string `json:"status"`
	Gateway  string `json:"gateway"`
	StateDir string `json:"stateDir"`
	// Published are the endpoints published on 127.0.0.1 (container modes).
	Published []PublishedEndpoint `json:"published"`
	Attach    []string            `json:"attach"`
	Warnings  []string            `json:"warnings"`
}

// Up starts workspace o.Name on this machine: it writes the state, starts
// the detached supervisor and waits until the agent has connected.
func Up(ctx context.Context, o UpOptions) (*UpResult, error) {
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if o.Wait == 0 {
		o.Wait = 2 * time.Minute
	}
	dir, err := Dir(o.Getenv, o.Name)
	if err != nil {
		return nil, err
	}
	res := &UpResult{Name: o.Name, Local: true, StateDir: dir, Warnings: []string{}, Published: []PublishedEndpoint{}}
	if st, err := Load(dir); err == nil && effectiveStatus(st) != StatusStopped && effectiveStatus(st) != StatusFailed {
		res.Action, res.Mode, res.Engine, res.Status, res.Gateway = "already-running", st.Mode, st.Engine, st.Status, st.Gateway
		res.Published = append(res.Published, st.Published...)
		res.Attach = attach(o.Name, o.Plan)
		progress(fmt.Sprintf("%s: already running locally (%s mode); nothing started", o.Name, st.Mode))
		return res, nil
	}
	j, err := JobFrom(o.Pipeline, o.Plan)
	if err != nil {
		return nil, err
	}
	for _, s := range j.Skipped {
		res.Warnings = append(res.Warnings, fmt.Sprintf("job %s does not run locally", s))
	}
	det, err := DetectMode(ctx, o.Getenv)
	if err != nil {
		return nil, &Error{Err: err, Hint: "set WS_LOCAL_ENGINE to shell, docker or podman, or unset it to let ws choose"}
	}
	exe := o.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the ws executable: %w", err)
		}
	}
	agentBin := o.AgentBinary
	if agentBin == "" {
		agentBin = DefaultAgentBinary(exe)
	}
	res.Mode = det.Mode
	if det.Mode == ModeShell {
		progress(fmt.Sprintf("%s: shell mode (%s): the job runs on this host in %s; image %s and %d service(s) are not used",
			o.Name, det.Why, o.ProjectDir, orNone(j.Image), len(j.Services)))
	} else {
		res.Engine = det.Engine.String()
		if err := checkAgentBinary(agentBin, det.Engine); err != nil {
			return nil, &Error{Err: err, Hint: "or run the job on this host with WS_LOCAL_ENGINE=shell"}
		}
		progress(fmt.Sprintf("%s: %s mode (%s): image %s, %d service(s)", o.Name, det.Mode, det.Why, j.Image, len(j.Services)))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	for _, f := range []string{JobLog, supervisorLog, "agent.log"} {
		_ = os.Remove(filepath.Join(dir, f)) // a new run starts a new log
	}
	jb, _ := json.MarshalIndent(j, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, jobFile), jb, 0o600); err != nil {
		return nil, err
	}
	st := &State{Name: o.Name, Mode: det.Mode, Engine: res.Engine, Status: StatusStarting, Marker: o.Name + "-" + newSecret()[:16],
		ProjectDir: o.ProjectDir, Devfile: o.Devfile, Executable: exe, AgentBinary: agentBin, StartedAt: time.Now().UTC(),
		AgentToken: newSecret(), UserToken: newSecret()}
	if err := Save(dir, st); err != nil {
		return nil, err
	}
	sup, err := spawnSupervisor(exe, dir)
	if err != nil {
		return nil, err
	}
	if _, err := update(dir, func(s *State) { s.PID = sup.pid }); err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("%s: supervisor started (pid %d); waiting for the agent", o.Name, sup.pid))

	line, err := sup.wait(ctx, o.Wait)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, &Error{Err: fmt.Errorf("local workspace %s: the agent did not connect within %s", o.Name, o.Wait),
			Hint: fmt.Sprintf("see 'ws logs %s'; stop it with 'ws down %s'", o.Name, o.Name)}
	case line != StatusRunning:
		msg := strings.TrimPrefix(line, "failed: ")
		if line == "" { // the supervisor ended without a word
			msg = "the supervisor exited: " + lastLine(filepath.Join(dir, supervisorLog))
			if st, err := Load(dir); err == nil && st.Error != "" {
				msg = st.Error
			}
		}
		return nil, &Error{Err: fmt.Errorf("local workspace %s did not start: %s", o.Name, msg),
			Hint: fmt.Sprintf("see 'ws logs %s' and %s", o.Name, filepath.Join(dir, supervisorLog))}
	}
	st, err = Load(dir)
	if err != nil {
		return nil, err
	}
	res.Action, res.Status, res.Gateway = "started", st.Status, st.Gateway
	res.Published = append(res.Published, st.Published...)
	res.Attach = attach(o.Name, o.Plan)
	return res, nil
}

// Error is a failure with a hint for the user.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func attach(name string, p *plan.Plan) []string {
	out := []string{"ws shell " + name}
	if p != nil {
		for _, e := range p.Endpoints {
			out = append(out, fmt.Sprintf("ws port-forward %s %d", name, e.TargetPort))
		}
	}
	return append(out, "ws down "+name)
}

// supervisorProc is a supervisor started by Up.
type supervisorProc struct {
	pid   int
	ready *os.File // its first line says how the start went; EOF: it died
}

// spawnSupervisor starts 'ws local supervise DIR' in a new session, with
// its output in supervisor.log and a pipe it reports its start on, and does
// not wait for it.
func spawnSupervisor(exe, dir string) (*supervisorProc, error) {
	logf, err := os.OpenFile(filepath.Join(dir, supervisorLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pw.Close()
	c := exec.Command(exe, "local", "supervise", "--ready-fd", "3", dir)
	c.Stdout, c.Stderr = logf, logf
	c.ExtraFiles = []*os.File{pw}
	c.Dir = "/"
	c.Env = withoutMarker(os.Environ())
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		pr.Close()
		return nil, fmt.Errorf("start the local supervisor: %w", err)
	}
	// Reap it if it exits while we still run.
	go func() { _ = c.Wait() }()
	return &supervisorProc{pid: c.Process.Pid, ready: pr}, nil
}

// wait returns the supervisor's report ("" when it ended without one), or
// an error when d passes or ctx ends first.
func (p *supervisorProc) wait(ctx context.Context, d time.Duration) (string, error) {
	defer p.ready.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(p.ready).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case line := <-got:
		return line, nil
	case <-t.C:
		return "", fmt.Errorf("timeout")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// DownResult is the JSON of 'ws down' for a local workspace.
type DownResult struct {
	Name       string `json:"name"`
	Local      bool   `json:"local"`
	WasRunning bool   `json:"wasRunning"`
	Stopped    bool   `json:"stopped"`
	// Leftover is the number of processes of the workspace still running
	// after the stop; ws down fails when it is not 0.
	Leftover int `json:"leftoverProcesses"`
	// LeftoverObjects counts the containers, networks and volumes of the
	// workspace still in the engine after the stop (container modes).
	LeftoverObjects int `json:"leftoverEngineObjects"`
}

// Down stops local workspace name and everything it started, and checks
// that nothing is left.
func Down(ctx context.Context, getenv func(string) string, name string) (*DownResult, error) {
	dir, err := Dir(getenv, name)
	if err != nil {
		return nil, err
	}
	st, err := Load(dir)
	if err != nil {
		return nil, err
	}
	res := &DownResult{Name: name, Local: true}
	if alive(st.PID) {
		res.WasRunning = true
		_ = syscall.Kill(st.PID, syscall.SIGTERM)
		// stopGrace for the job, after_script, cleanup.
		if !waitGone(st.PID, stopGrace+afterScriptMax+10*time.Second) {
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
			waitGone(st.PID, 5*time.Second)
		}
	}
	if st.WatchdogPID > 0 {
		waitGone(st.WatchdogPID, 10*time.Second)
	}
	endJobCgroup(dir)
	left := Sweep(st.Marker, time.Second, 5*time.Second)
	var objects []string
	if st.Mode != ModeShell {
		label := labelKey + "=" + st.Marker
		removeLabelled(ctx, st.Mode, label, io.Discard)
		for _, kind := range [][]string{{"ps", "--all"}, {"network", "ls"}, {"volume", "ls"}} {
			objects = append(objects, listLabelled(ctx, st.Mode, label, append(kind, "--quiet")...)...)
		}
	}
	res.Leftover, res.LeftoverObjects = len(left), len(objects)
	if st2, err := Load(dir); err == nil && st2.Active() {
		_, _ = update(dir, func(s *State) { s.Status, s.StoppedAt = StatusStopped, time.Now().UTC() })
	}
	if res.Leftover > 0 {
		return res, fmt.Errorf("local workspace %s: %d process(es) still running after stop: %v", name, len(left), left)
	}
	if res.LeftoverObjects > 0 {
		return res, fmt.Errorf("local workspace %s: %s still has %d container(s), network(s) or volume(s) labelled %s=%s: %v",
			name, st.Mode, len(objects), labelKey, st.Marker, objects)
	}
	res.Stopped = true
	return res, nil
}

// ErrStopped is returned by Lookup for a workspace that is not running.
var ErrStopped = errors.New("local workspace is not running")

// Lookup returns the embedded gateway and user token of running local
// workspace name: what 'ws shell', 'ws port-forward' and 'ws open' use.
// It returns ErrNotFound when there is no such local workspace.
func Lookup(getenv func(string) string, name string) (gatewayURL, token string, err error) {
	st, err := Find(getenv, name)
	if err != nil {
		return "", "", err
	}
	if st.Status != StatusRunning && st.Status != StatusStarting {
		return "", "", fmt.Errorf("%s (%s): %w", name, st.Status, ErrStopped)
	}
	return st.Gateway, st.UserToken, nil
}

// Logs writes the job log of local workspace name to w; with follow it
// keeps writing until the supervisor has ended.
func Logs(ctx context.Context, getenv func(string) string, name string, w io.Writer, follow bool) error {
	dir, err := Dir(getenv, name)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(dir, JobLog))
	if err != nil {
		return fmt.Errorf("local workspace %s has no job log yet: %w", name, err)
	}
	defer f.Close()
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		if !follow {
			return nil
		}
		st, err := Load(dir)
		if err != nil || !alive(st.PID) {
			_, err = io.Copy(w, f)
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
