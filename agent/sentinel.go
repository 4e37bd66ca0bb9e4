package agent

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// The sentinel lets the agent hear a Docker executor's stop before the
// workspace's processes do. On cancel (and on RUNNER_SCRIPT_TIMEOUT) the
// runner execs a script into the build container that sends SIGTERM to
// every process but PID 1 and itself in descending PID order, waiting up to
// 6 s for each to exit, and gives the whole script 10 s before it stops the
// container (gitlab-runner shells/bash.go ContainerSigTermScriptForLinux,
// executors/docker/internal/wait StopKillWait). Every process the agent
// starts has a higher PID than the agent, so without help the agent is
// signalled last, if at all.
//
// So after each process it starts the agent starts a new sentinel (and ends
// the previous one): its PID is higher than every process the agent
// started, and the runner's sweep reaches it first. The sentinel ignores
// SIGTERM, tells the agent, and holds: the sweep waits up to 6 s on it while
// the agent runs preStop with the workspace's processes untouched. Only
// processes that the workspace's own processes forked after the last start
// can come before it.

// sentinelHold bounds how long a sentinel that heard SIGTERM waits for the
// agent (the runner's sweep waits 6 s at most on one process).
const sentinelHold = 30 * time.Second

// sentinelMsg is the line a sentinel writes when it gets SIGTERM.
const sentinelMsg = "SIGTERM"

type sentinel struct {
	cmd   *exec.Cmd
	stdin io.Closer
}

func (s *sentinel) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	s.stdin.Close()
}

// respawnSentinel starts a new sentinel, then ends the previous one.
func (a *Agent) respawnSentinel() {
	if len(a.cfg.Sentinel) == 0 || a.stopping.Load() {
		return
	}
	a.sentinelMu.Lock()
	defer a.sentinelMu.Unlock()
	cmd := exec.Command(a.cfg.Sentinel[0], a.cfg.Sentinel[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return
	}
	if err := a.tree.Start(cmd, nil); err != nil {
		stdin.Close()
		a.logf("warning: start the stop sentinel: %v", err)
		return
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == sentinelMsg {
				a.heardRunner()
			}
		}
		_ = cmd.Wait()
		a.tree.Done(cmd)
	}()
	if a.sentinel != nil {
		a.sentinel.stop()
	}
	a.sentinel = &sentinel{cmd: cmd, stdin: stdin}
}

func (a *Agent) heardRunner() {
	if !a.stopping.Load() {
		a.stopOnce.Do(func() { close(a.runnerStop) })
	}
}

func (a *Agent) stopSentinel() {
	a.sentinelMu.Lock()
	defer a.sentinelMu.Unlock()
	if a.sentinel != nil {
		a.sentinel.stop()
		a.sentinel = nil
	}
}

// RunSentinel is the sentinel process ('ws-agent sentinel'): it ignores
// SIGTERM, writes sentinelMsg to out when one comes, and returns when in
// closes (the agent is done, or gone) or after sentinelHold.
func RunSentinel(in io.Reader, out io.Writer) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(eof)
	}()
	select {
	case <-eof:
		return
	case <-term:
		fmt.Fprintln(out, sentinelMsg)
	}
	select {
	case <-eof:
	case <-time.After(sentinelHold):
	}
}
