package agent

import (
	"bufio"
	"context"
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
// the previous one once the new one listens): its PID is higher than every
// process the agent started, and the runner's sweep reaches it first. Every
// second the agent also moves it above what the workspace's processes
// forked since. The sentinel ignores SIGTERM, tells the agent, and holds:
// the sweep waits up to 6 s on it while the agent runs preStop with the
// workspace's processes untouched. Only processes forked within the last
// second before the stop come before it.

// sentinelHold bounds how long a sentinel that heard SIGTERM waits for the
// agent (the runner's sweep waits 6 s at most on one process).
const sentinelHold = 30 * time.Second

// Lines a sentinel writes: once it listens for SIGTERM, and when one came.
const (
	sentinelReady = "ready"
	sentinelMsg   = "SIGTERM"
)

// sentinelCheck is how often the agent looks for processes the workspace
// forked above the sentinel (it moves the sentinel up when it finds one).
const sentinelCheck = time.Second

type sentinel struct {
	seq   int
	cmd   *exec.Cmd
	stdin io.Closer
	ready chan struct{} // closed once it listens and is the current one
	done  chan struct{} // closed once it was reaped
}

func (s *sentinel) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	s.stdin.Close()
}

// respawnSentinel starts a new sentinel; once it listens it replaces the
// current one, which stays until then. It returns the new one's ready.
func (a *Agent) respawnSentinel() <-chan struct{} {
	if len(a.cfg.Sentinel) == 0 || a.stopping.Load() {
		return nil
	}
	a.sentinelMu.Lock()
	defer a.sentinelMu.Unlock()
	cmd := exec.Command(a.cfg.Sentinel[0], a.cfg.Sentinel[1:]...)
	cmd.SysProcAttr = sentinelAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil
	}
	if err := a.tree.Start(cmd, nil); err != nil {
		stdin.Close()
		a.logf("warning: start the stop sentinel: %v", err)
		return nil
	}
	a.sentinelSeq++
	s := &sentinel{seq: a.sentinelSeq, cmd: cmd, stdin: stdin, ready: make(chan struct{}), done: make(chan struct{})}
	a.sentinels[s] = true
	a.newestReady = s.ready
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch sc.Text() {
			case sentinelReady:
				a.promote(s)
			case sentinelMsg:
				a.heardRunner()
			}
		}
		_ = cmd.Wait()
		a.tree.Done(cmd)
		// Killed by SIGTERM before it listened: the agent only ever
		// sends SIGKILL, so this is the runner too.
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			a.heardRunner()
		}
		a.sentinelMu.Lock()
		delete(a.sentinels, s)
		a.sentinelMu.Unlock()
		close(s.done)
	}()
	return s.ready
}

// promote makes s the current sentinel unless a newer one is, and ends the
// one it replaces; s is ready once that one is gone.
func (a *Agent) promote(s *sentinel) {
	a.sentinelMu.Lock()
	old := a.sentinel
	if old != nil && old.seq > s.seq {
		old, s = s, old // s came too late: it is the one to end
	} else {
		a.sentinel = s
	}
	a.sentinelMu.Unlock()
	if old != nil && old != s {
		old.stop()
		select {
		case <-old.done:
		case <-time.After(time.Second):
		}
	}
	if s != nil {
		select {
		case <-s.ready:
		default:
			close(s.ready)
		}
	}
}

// waitSentinel waits, at most d, until the newest sentinel listens.
func (a *Agent) waitSentinel(d time.Duration) {
	a.sentinelMu.Lock()
	ready := a.newestReady
	a.sentinelMu.Unlock()
	if ready == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	}
}

// keepSentinelOnTop moves the sentinel up whenever a process of the
// workspace has a higher PID (something a shell or server forked), until
// ctx ends.
func (a *Agent) keepSentinelOnTop(ctx context.Context) {
	if len(a.cfg.Sentinel) == 0 {
		return
	}
	t := time.NewTicker(sentinelCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.sentinelMu.Lock()
		top, own := 0, map[int]bool{}
		if a.sentinel != nil {
			top = a.sentinel.cmd.Process.Pid
		}
		for s := range a.sentinels {
			own[s.cmd.Process.Pid] = true
		}
		a.sentinelMu.Unlock()
		for _, p := range a.tree.Pids() {
			if p > top && !own[p] {
				a.respawnSentinel()
				break
			}
		}
	}
}

func (a *Agent) heardRunner() {
	if !a.stopping.Load() {
		a.stopOnce.Do(func() { close(a.runnerStop) })
	}
}

func (a *Agent) stopSentinel() {
	a.sentinelMu.Lock()
	defer a.sentinelMu.Unlock()
	for s := range a.sentinels {
		s.stop()
	}
	a.sentinel = nil
}

// RunSentinel is the sentinel process ('ws-agent sentinel'): it ignores
// SIGTERM, says sentinelReady, writes sentinelMsg when a SIGTERM comes, and
// returns when in closes (the agent is done, or gone) or after
// sentinelHold.
func RunSentinel(in io.Reader, out io.Writer) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Fprintln(out, sentinelReady)
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
