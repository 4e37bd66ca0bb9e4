package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ws-dev/ws/tunnel"
)

// server serves the streams of one gateway connection.
type server struct {
	a    *Agent
	sess *yamux.Session

	mu      sync.Mutex
	pending map[string]*pendingSession
}

type pendingSession struct {
	data, stderr chan net.Conn
}

func newServer(a *Agent, sess *yamux.Session) *server {
	return &server{a: a, sess: sess, pending: map[string]*pendingSession{}}
}

func (s *server) close() {}

func reply(c net.Conn, err error) error {
	_ = c.SetWriteDeadline(time.Now().Add(tunnel.WriteTimeout))
	defer func() { _ = c.SetWriteDeadline(time.Time{}) }()
	if err != nil {
		return tunnel.WriteLine(c, tunnel.Reply{Error: err.Error()})
	}
	return tunnel.WriteLine(c, tunnel.Reply{OK: true})
}

func (s *server) handle(st *yamux.Stream) {
	h, c, err := tunnel.ReadHeader(st)
	if err != nil {
		st.Close()
		return
	}
	switch h.Kind {
	case tunnel.KindPort:
		s.port(h, c)
	case tunnel.KindPortConn:
		s.portConn(h, c)
	case tunnel.KindShell, tunnel.KindExec:
		s.session(h, c)
	case tunnel.KindData, tunnel.KindStderr:
		s.attach(h, c)
	case tunnel.KindSSH:
		s.ssh(c)
	default:
		_ = reply(c, fmt.Errorf("unknown stream kind %q", h.Kind))
		c.Close()
	}
}

func (s *server) port(h tunnel.Header, c net.Conn) {
	if h.Port < 1 || h.Port > 65535 {
		_ = reply(c, fmt.Errorf("port %d is out of range", h.Port))
		c.Close()
		return
	}
	t, err := net.DialTimeout("tcp", net.JoinHostPort("localhost", strconv.Itoa(h.Port)), 5*time.Second)
	if err != nil {
		_ = reply(c, fmt.Errorf("nothing listens on port %d in the workspace", h.Port))
		c.Close()
		return
	}
	if reply(c, nil) != nil {
		c.Close()
		t.Close()
		return
	}
	s.a.touch()
	tunnel.Relay(&activityConn{Conn: c, a: s.a}, t)
	s.a.touch()
}

// portConn connects to localhost:port, dials the gateway a data connection
// with the one-time token of h, replies, and splices the two (both TCP, so
// io.Copy uses splice(2)). An open data connection counts as activity.
func (s *server) portConn(h tunnel.Header, c net.Conn) {
	defer c.Close()
	if h.Token == "" {
		_ = reply(c, errors.New("missing token"))
		return
	}
	var t net.Conn // the port's connection; nil for SSH
	switch {
	case h.SSH && s.a.sshd == nil:
		_ = reply(c, errors.New("this agent has no SSH server"))
		return
	case h.SSH:
	case h.Port < 1 || h.Port > 65535:
		_ = reply(c, fmt.Errorf("port %d is out of range", h.Port))
		return
	default:
		var err error
		t, err = net.DialTimeout("tcp", net.JoinHostPort("localhost", strconv.Itoa(h.Port)), 5*time.Second)
		if err != nil {
			_ = reply(c, fmt.Errorf("nothing listens on port %d in the workspace", h.Port))
			return
		}
	}
	hdr := http.Header{}
	hdr.Set(tunnel.JobTokenHeader, s.a.cfg.Token)
	hdr.Set(tunnel.PortTokenHeader, h.Token)
	g, prefix, err := tunnel.DialUpgrade(context.Background(), strings.TrimRight(s.a.cfg.Gateway, "/")+tunnel.AgentPortPath, hdr, s.a.cfg.HTTPClient)
	if err != nil {
		if t != nil {
			t.Close()
		}
		_ = reply(c, errors.New(tunnel.ErrNoPortConn))
		return
	}
	if reply(c, nil) != nil {
		if t != nil {
			t.Close()
		}
		g.Close()
		return
	}
	c.Close()
	if t == nil {
		// serve counts the connection as activity itself.
		s.a.sshd.serve(tunnel.WithPrefix(g, prefix))
		return
	}
	s.a.active.Add(1)
	defer func() { s.a.active.Add(-1); s.a.touch() }()
	tunnel.Splice(g, prefix, t, nil)
}

// activityConn marks the agent active whenever port traffic flows.
type activityConn struct {
	net.Conn
	a *Agent
}

func (c *activityConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.a.touch()
	}
	return n, err
}

func (c *activityConn) Write(b []byte) (int, error) {
	c.a.touch()
	return c.Conn.Write(b)
}

func (c *activityConn) CloseWrite() error { return tunnel.CloseWrite(c.Conn) }

func (s *server) attach(h tunnel.Header, c net.Conn) {
	s.mu.Lock()
	p := s.pending[h.Session]
	s.mu.Unlock()
	if p == nil {
		_ = reply(c, errors.New("no such session"))
		c.Close()
		return
	}
	ch := p.data
	if h.Kind == tunnel.KindStderr {
		ch = p.stderr
	}
	if ch == nil {
		_ = reply(c, errors.New("session takes no stderr stream"))
		c.Close()
		return
	}
	select {
	case ch <- c:
		// The session's process starts once all its streams are here;
		// a start failure is reported in the exit message. A stream whose
		// reply fails is dead: end it, so the session sees it gone.
		if reply(c, nil) != nil {
			c.Close()
		}
	default:
		_ = reply(c, errors.New("stream already attached"))
		c.Close()
	}
}

// session runs a shell (PTY) or a command (pipes). ctl is its control
// stream: resize and signal in, exit out.
func (s *server) session(h tunnel.Header, ctl net.Conn) {
	defer ctl.Close()
	if h.Session == "" {
		_ = reply(ctl, errors.New("missing session id"))
		return
	}
	p := &pendingSession{data: make(chan net.Conn, 1)}
	if h.Kind == tunnel.KindExec {
		p.stderr = make(chan net.Conn, 1)
	}
	s.mu.Lock()
	if s.pending[h.Session] != nil {
		s.mu.Unlock()
		_ = reply(ctl, errors.New("session id in use"))
		return
	}
	s.pending[h.Session] = p
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, h.Session)
		s.mu.Unlock()
	}()
	if reply(ctl, nil) != nil {
		return
	}
	timeout := time.NewTimer(tunnel.HandshakeTimeout)
	defer timeout.Stop()
	var data, stderr net.Conn
	for data == nil || (p.stderr != nil && stderr == nil) {
		select {
		case data = <-p.data:
		case stderr = <-p.stderr:
		case <-timeout.C:
			for _, c := range []net.Conn{data, stderr} {
				if c != nil {
					c.Close()
				}
			}
			return
		}
	}
	s.a.active.Add(1)
	defer func() { s.a.active.Add(-1); s.a.touch() }()
	defer data.Close()
	if stderr != nil {
		defer stderr.Close()
	}

	sess := &procSession{ctl: ctl, done: make(chan struct{}), loopDone: make(chan struct{})}
	var code int
	var err error
	if h.Kind == tunnel.KindShell {
		code, err = s.runPTY(h, sess, data)
	} else {
		code, err = s.runExec(h, sess, data, stderr)
	}
	m := tunnel.Control{Type: tunnel.MsgExit, Code: &code}
	if err != nil {
		code = 127
		m.Error = err.Error()
	}
	_ = ctl.SetWriteDeadline(time.Now().Add(tunnel.WriteTimeout))
	_ = tunnel.WriteLine(ctl, m)
	_ = tunnel.CloseWrite(ctl)
	if sess.loopStarted {
		// Let the client close its side, so the exit message is not lost
		// to a reset.
		select {
		case <-sess.loopDone:
		case <-time.After(2 * time.Second):
		}
	}
}

// procSession is a running shell or command and its control stream.
type procSession struct {
	ctl         net.Conn
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process was reaped
	loopDone    chan struct{}
	loopStarted bool
}

func (s *server) command(h tunnel.Header) *exec.Cmd {
	return s.a.sessionCommand(h.Command, h.Env, h.Term)
}

func loginShell(env []string) string {
	for _, sh := range []string{lookupEnv(env, "SHELL"), "/bin/bash", "/bin/sh"} {
		if sh == "" {
			continue
		}
		if _, err := os.Stat(sh); err == nil {
			return sh
		}
	}
	return "/bin/sh"
}

func lookupEnv(env []string, k string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if len(env[i]) > len(k) && env[i][:len(k)] == k && env[i][len(k)] == '=' {
			return env[i][len(k)+1:]
		}
	}
	return ""
}

func (s *server) runPTY(h tunnel.Header, ps *procSession, data net.Conn) (int, error) {
	cmd := s.command(h)
	ps.cmd = cmd
	ptmx, err := s.a.startPTY(cmd, h.Cols, h.Rows)
	if err != nil {
		data.Close()
		return 127, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	defer s.a.tree.Done(cmd)
	// The data stream is closed by session() when the session ends.
	outDone := pumpPTY(ptmx, data)
	ps.loopStarted = true
	go ps.controlLoop(ptmx.Resize)
	err = cmd.Wait()
	close(ps.done)
	drained(outDone)
	_ = tunnel.CloseWrite(data)
	return exitCode(err), nil
}

func (s *server) runExec(h tunnel.Header, ps *procSession, data, stderr net.Conn) (int, error) {
	cmd := s.command(h)
	ps.cmd = cmd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = data
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = s.a.start(cmd, nil)
	}
	if err != nil {
		data.Close()
		stderr.Close()
		return 127, fmt.Errorf("start %s: %w", cmd.Args[0], err)
	}
	defer s.a.tree.Done(cmd)
	go func() {
		_, _ = io.Copy(stdin, data) // ends when the client or the process closes its side
		stdin.Close()
	}()
	ps.loopStarted = true
	go ps.controlLoop(nil)
	err = cmd.Wait()
	close(ps.done)
	_ = tunnel.CloseWrite(data)
	_ = tunnel.CloseWrite(stderr)
	return exitCode(err), nil
}

// controlLoop applies resize and signal messages until the control stream
// ends; if the client goes away while the process runs, it is hung up.
func (ps *procSession) controlLoop(resize func(cols, rows int)) {
	defer close(ps.loopDone)
	lr := tunnel.NewLineReader(ps.ctl, tunnel.MaxHeaderBytes)
	for {
		var m tunnel.Control
		if err := lr.Read(&m); err != nil {
			hangUp(ps.cmd, ps.done)
			return
		}
		switch m.Type {
		case tunnel.MsgResize:
			if resize != nil {
				resize(m.Cols, m.Rows)
			}
		case tunnel.MsgSignal:
			if sig, ok := signals[m.Signal]; ok {
				signalGroup(ps.cmd, sig)
			}
		}
	}
}

var signals = map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL, "QUIT": syscall.SIGQUIT}

func clamp(v, def int) int {
	if v <= 0 {
		return def
	}
	return min(v, 1000)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}
