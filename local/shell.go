package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/ws-dev/ws/internal/proctree"
)

// runner runs a job in one mode.
type runner interface {
	// prepare creates what must exist before the embedded gateway can
	// listen for the agent; it returns the address to listen on for it
	// ("" when 127.0.0.1 reaches the job).
	prepare(ctx context.Context) (agentHost string, err error)
	// start starts the job, whose agent dials gatewayURL; done receives
	// the job's result once it ends.
	start(ctx context.Context, gatewayURL string) (done <-chan error, err error)
	// published returns the endpoints published on this host.
	published(ctx context.Context) []PublishedEndpoint
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
	// The agent installs no dotfiles into this machine's own home (agent/dotfiles.go).
	return append(append(os.Environ(), environ(vs)...), ShellModeEnv+"=1")
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

func (r *shellRunner) prepare(context.Context) (string, error) { return "", nil }

func (r *shellRunner) start(_ context.Context, gatewayURL string) (<-chan error, error) {
	r.gateway = gatewayURL
	fmt.Fprintf(r.log, "ws: running job %q on this host (shell mode): images and services are not used\n", r.job.Name)
	if r.job.Image != "" {
		fmt.Fprintf(r.log, "ws: not using image %s\n", r.job.Image)
	}
	for _, s := range r.job.Services {
		fmt.Fprintf(r.log, "ws: not starting service %s (alias %s)\n", s.Image, s.Name())
	}
	r.cmd = r.command(r.job.Script)
	return startLocked(r.cmd, r.tree)
}

func (r *shellRunner) published(context.Context) []PublishedEndpoint { return nil }

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
	case err = <-done:
	case <-time.After(afterScriptMax):
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	if err != nil { // as in container mode (containerrun.go)
		fmt.Fprintf(r.log, "ws: after_script: %v\n", err)
	}
}

// cleanup ends whatever the job left, however it detached (proc.go).
func (r *shellRunner) cleanup() { endTree(r.log, r.dir, r.tree) }
