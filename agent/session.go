package agent

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// What a user's session needs whichever way it arrived (a tunnel shell or exec stream, or an
// SSH session channel): its command, its PTY, and its end when the client goes away.

// sessionCommand is a user's shell (argv empty: the login shell) or command: in the
// project's directory, with the workspace's environment (sessionEnv), then env, then TERM.
func (a *Agent) sessionCommand(argv, env []string, term string) *exec.Cmd {
	if len(argv) == 0 {
		argv = []string{loginShell(a.cfg.Env), "-l"}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = a.cfg.Plan.WorkingDir
	cmd.Env = append(a.sessionEnv(), env...)
	if term != "" {
		cmd.Env = append(cmd.Env, "TERM="+term)
	}
	return cmd
}

// ptyMaster is a PTY's master side. Resizing and closing are serialised: a resize uses the
// file's descriptor number, which a concurrent Close would invalidate (and the number could
// be reused by another file); reads and writes need no such care.
type ptyMaster struct {
	*os.File
	mu     sync.Mutex
	closed bool
}

// Resize applies a client's window size (0 keeps the default of that side); after Close it
// does nothing.
func (p *ptyMaster) Resize(cols, rows int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		_ = pty.Setsize(p.File, winsize(cols, rows))
	}
}

func (p *ptyMaster) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return p.File.Close()
}

// startPTY starts cmd in the workspace's process tree with a new PTY of cols×rows as its
// controlling terminal (in a session of its own), and returns the PTY's master.
func (a *Agent) startPTY(cmd *exec.Cmd, cols, rows int) (*ptyMaster, error) {
	var ptmx *os.File
	err := a.start(cmd, func() (err error) {
		ptmx, err = pty.StartWithSize(cmd, winsize(cols, rows)) // Setsid + controlling terminal
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ptyMaster{File: ptmx}, nil
}

func winsize(cols, rows int) *pty.Winsize {
	return &pty.Winsize{Cols: uint16(clamp(cols, 80)), Rows: uint16(clamp(rows, 24))}
}

// pumpPTY copies between the PTY and the client's stream until both directions end, then
// closes the PTY. The returned channel closes when the PTY's output has reached the client
// (at the process's end, unless a background child keeps the terminal open).
func pumpPTY(ptmx *ptyMaster, client io.ReadWriter) <-chan struct{} {
	inDone, outDone := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = io.Copy(ptmx, client)
		close(inDone)
	}()
	go func() {
		_, _ = io.Copy(client, ptmx)
		close(outDone)
	}()
	// Close the PTY only when neither copy uses it any more.
	go func() {
		<-inDone
		<-outDone
		ptmx.Close()
	}()
	return outDone
}

// drained waits (at most a second) for a finished process's PTY output to reach the client.
func drained(outDone <-chan struct{}) {
	select {
	case <-outDone:
	case <-time.After(time.Second):
	}
}

// hangUp ends the process group of a session whose client went away, as a terminal hang-up
// does: SIGHUP, then SIGKILL if it still runs 3 s later. done closes when it was reaped.
func hangUp(cmd *exec.Cmd, done <-chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	signalGroup(cmd, syscall.SIGHUP)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		signalGroup(cmd, syscall.SIGKILL)
	}
}
