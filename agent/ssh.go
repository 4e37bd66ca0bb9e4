package agent

// The agent's SSH server (docs/ssh.md). It has no port: each connection is a tunnel stream of
// kind "ssh" that the gateway opened only for a user who may attach to this workspace, so
// the SSH layer takes no credential of its own ("none" authentication) and grants what
// `ws shell` grants, no more: sessions run as the agent's user, in the project's directory,
// with the workspace's environment. Its host key is made at start and lives in memory only;
// the gateway hands its public half to clients, who pin it.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ws-dev/ws/tunnel"
)

// sshd is the agent's SSH server: its configuration and host key.
type sshd struct {
	a      *Agent
	config *ssh.ServerConfig
	// hostKey is the public host key in authorized_keys form, announced in the Hello.
	hostKey string

	mu       sync.Mutex
	sessions map[*sshSession]struct{} // the open session channels
}

// newSSHD makes the server with a fresh Ed25519 host key.
func newSSHD(a *Agent) (*sshd, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{
		// The gateway authenticated the user and checked the right to attach before it
		// opened this stream; the tunnel is the only way in.
		NoClientAuth:  true,
		ServerVersion: "SSH-2.0-ws-agent",
	}
	cfg.AddHostKey(signer)
	return &sshd{a: a, config: cfg, hostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
		sessions: map[*sshSession]struct{}{}}, nil
}

// stopping tells every open session, on its stderr, that the workspace stops and why, before
// its processes end: otherwise ssh would just exit 255 without a word. A client whose window
// is full does not hold the stop up for more than a second; its channel closes soon anyway.
func (d *sshd) stopping(why string) {
	var wg sync.WaitGroup
	d.mu.Lock()
	for ss := range d.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(ss.ch.Stderr(), "\r\nws: the workspace is stopping: %s\r\n", why)
		}()
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

// ssh serves one SSH connection arriving on a tunnel stream.
func (s *server) ssh(c net.Conn) {
	if s.a.sshd == nil {
		_ = reply(c, errors.New("this agent has no SSH server"))
		c.Close()
		return
	}
	if reply(c, nil) != nil {
		c.Close()
		return
	}
	s.a.sshd.serve(c)
}

func (d *sshd) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(tunnel.HandshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(c, d.config)
	if err != nil {
		return // a client that does not speak SSH, or gave up
	}
	_ = c.SetDeadline(time.Time{})
	// An open SSH connection is activity, as an open shell is: an editor's connection keeps
	// the workspace from idling out.
	d.a.active.Add(1)
	defer func() { d.a.active.Add(-1); d.a.touch() }()
	sc := &sshConn{d: d, conn: conn, forwards: map[string]net.Listener{}}
	defer sc.close()
	go sc.globalRequests(reqs)
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			go sc.session(nc)
		case "direct-tcpip":
			go sc.directTCPIP(nc)
		default:
			_ = nc.Reject(ssh.UnknownChannelType, fmt.Sprintf("ws: channel type %q is not supported (session and direct-tcpip are)", nc.ChannelType()))
		}
	}
}

// sshConn is one SSH connection: its remote forwards and agent-forwarding socket.
type sshConn struct {
	d    *sshd
	conn *ssh.ServerConn

	mu       sync.Mutex
	closed   bool
	forwards map[string]net.Listener // "host:port" as the client asked
	agentDir string                  // holds the agent-forwarding socket; "" until asked for
	agentLn  net.Listener
}

func (sc *sshConn) close() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.closed = true
	for _, ln := range sc.forwards {
		ln.Close()
	}
	if sc.agentLn != nil {
		sc.agentLn.Close()
		os.RemoveAll(sc.agentDir)
	}
}

// ---- global requests: remote forwards ----

type forwardRequest struct {
	Addr string
	Port uint32
}

type forwardedTCPIP struct {
	Addr       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

func (sc *sshConn) globalRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		switch r.Type {
		case "tcpip-forward":
			port, err := sc.listen(r.Payload)
			if err != nil {
				_ = r.Reply(false, nil)
				continue
			}
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], port)
			_ = r.Reply(true, b[:])
		case "cancel-tcpip-forward":
			var fr forwardRequest
			ok := ssh.Unmarshal(r.Payload, &fr) == nil
			if ok {
				key := net.JoinHostPort(fr.Addr, strconv.Itoa(int(fr.Port)))
				sc.mu.Lock()
				ln := sc.forwards[key]
				delete(sc.forwards, key)
				sc.mu.Unlock()
				ok = ln != nil
				if ok {
					ln.Close()
				}
			}
			_ = r.Reply(ok, nil)
		default:
			// keepalive@openssh.com and others: a failure reply is the answer OpenSSH expects.
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
	}
}

// listen opens a remote forward: on the job's loopback only, as sshd's "GatewayPorts no"
// does, whatever address the client named. It returns the port listened on.
func (sc *sshConn) listen(payload []byte) (uint32, error) {
	var fr forwardRequest
	if err := ssh.Unmarshal(payload, &fr); err != nil || fr.Port > 65535 {
		return 0, errors.New("bad tcpip-forward request")
	}
	host := "127.0.0.1"
	if fr.Addr == "::1" {
		host = "::1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(int(fr.Port))))
	if err != nil {
		return 0, err
	}
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	key := net.JoinHostPort(fr.Addr, strconv.Itoa(int(fr.Port)))
	sc.mu.Lock()
	if sc.closed || sc.forwards[key] != nil {
		sc.mu.Unlock()
		ln.Close()
		return 0, errors.New("forward exists")
	}
	sc.forwards[key] = ln
	sc.mu.Unlock()
	go sc.acceptChannels(ln, "forwarded-tcpip", func(c net.Conn) []byte {
		p := forwardedTCPIP{Addr: fr.Addr, Port: port}
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			p.OriginAddr, p.OriginPort = ra.IP.String(), uint32(ra.Port)
		}
		return ssh.Marshal(&p)
	})
	return port, nil
}

// acceptChannels turns each connection to ln into a channel of chanType to the client
// (extra: its open payload) and relays it, until ln is closed.
func (sc *sshConn) acceptChannels(ln net.Listener, chanType string, extra func(net.Conn) []byte) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			ch, reqs, err := sc.conn.OpenChannel(chanType, extra(c))
			if err != nil {
				c.Close()
				return
			}
			go ssh.DiscardRequests(reqs)
			sc.d.relay(ch, c)
		}()
	}
}

// ---- direct-tcpip: local forwards (ssh -L, -W; editors' servers and ports) ----

type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// directTCPIP connects to the host and port the client asks for, from the job, as a program
// in a shell there could: the workspace's ports, its services, the job's network.
func (sc *sshConn) directTCPIP(nc ssh.NewChannel) {
	var req directTCPIP
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil || req.Port == 0 || req.Port > 65535 {
		_ = nc.Reject(ssh.ConnectionFailed, "ws: bad direct-tcpip request")
		return
	}
	addr := net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port)))
	t, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, fmt.Sprintf("ws: nothing answers at %s in the workspace", addr))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		t.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	sc.d.relay(ch, t)
}

// relay copies between an SSH channel and a connection until both directions end; traffic
// is activity.
func (d *sshd) relay(ch ssh.Channel, c net.Conn) {
	ac := &activityConn{Conn: c, a: d.a}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(ch, ac)
		_ = ch.CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(ac, ch)
	_ = tunnel.CloseWrite(c)
	<-done
	ch.Close()
	c.Close()
}

// ---- sessions ----

// Payloads of session requests (RFC 4254 §6).
type ptyRequest struct {
	Term             string
	Cols, Rows, W, H uint32
	Modes            string
}

type windowChange struct {
	Cols, Rows, W, H uint32
}

type envRequest struct{ Name, Value string }

type commandRequest struct{ Command string }

type signalRequest struct{ Signal string }

type exitSignal struct {
	Signal     string
	CoreDumped bool
	Message    string
	Lang       string
}

// sshSession is one session channel: what the client asked for before its shell, command
// or subsystem started, then that process.
type sshSession struct {
	sc  *sshConn
	ch  ssh.Channel
	env []string

	mu      sync.Mutex
	pty     *ptyRequest
	agent   bool // auth-agent-req@openssh.com
	started bool
	cmd     *exec.Cmd
	ptmx    *ptyMaster
	done    chan struct{} // closed when the process was reaped
	// then is what runs once the request that started the session was answered: reaping
	// the process (or serving SFTP) ends in closing the channel, which must not overtake
	// the answer, or the client sees EOF instead of "exec succeeded" for a quick command.
	then func()
}

func (sc *sshConn) session(nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	ss := &sshSession{sc: sc, ch: ch, done: make(chan struct{})}
	d := sc.d
	d.mu.Lock()
	d.sessions[ss] = struct{}{}
	d.mu.Unlock()
	defer func() { d.mu.Lock(); delete(d.sessions, ss); d.mu.Unlock() }()
	for r := range reqs {
		ok := ss.request(r)
		if r.WantReply {
			_ = r.Reply(ok, nil)
		}
		ss.mu.Lock()
		then := ss.then
		ss.then = nil
		ss.mu.Unlock()
		if then != nil {
			go then()
		}
	}
	// The client closed the channel (or the connection ended): hang up what still runs.
	ss.mu.Lock()
	cmd := ss.cmd
	ss.mu.Unlock()
	if cmd != nil {
		hangUp(cmd, ss.done)
	}
	ch.Close()
}

// request handles one session request and says whether it succeeded.
func (ss *sshSession) request(r *ssh.Request) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch r.Type {
	case "pty-req":
		var p ptyRequest
		if ss.started || ssh.Unmarshal(r.Payload, &p) != nil {
			return false
		}
		ss.pty = &p
		return true
	case "window-change":
		var w windowChange
		if ssh.Unmarshal(r.Payload, &w) != nil {
			return false
		}
		if ss.ptmx != nil {
			ss.ptmx.Resize(int(w.Cols), int(w.Rows))
		} else if ss.pty != nil {
			ss.pty.Cols, ss.pty.Rows = w.Cols, w.Rows
		}
		return true
	case "env":
		var e envRequest
		if ss.started || ssh.Unmarshal(r.Payload, &e) != nil || e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return false
		}
		// A session may run any program with any environment anyway: nothing to refuse.
		ss.env = append(ss.env, e.Name+"="+e.Value)
		return true
	case "auth-agent-req@openssh.com":
		if ss.started {
			return false
		}
		ss.agent = true
		return true
	case "signal":
		var sr signalRequest
		if ssh.Unmarshal(r.Payload, &sr) != nil || ss.cmd == nil {
			return false
		}
		sig, ok := signals[sr.Signal]
		if ok {
			signalGroup(ss.cmd, sig)
		}
		return ok
	case "shell", "exec":
		if ss.started {
			return false
		}
		var argv []string
		if r.Type == "exec" {
			var c commandRequest
			if ssh.Unmarshal(r.Payload, &c) != nil {
				return false
			}
			// As sshd does: the command line goes to the user's shell.
			argv = []string{loginShell(ss.sc.d.a.cfg.Env), "-c", c.Command}
		}
		if err := ss.start(argv); err != nil {
			fmt.Fprintf(ss.ch.Stderr(), "ws: %v\r\n", err)
			return false
		}
		return true
	case "subsystem":
		var c commandRequest
		if ss.started || ssh.Unmarshal(r.Payload, &c) != nil {
			return false
		}
		ss.started = true
		if c.Command != "sftp" {
			// Accepted, to say why on stderr and exit 1: OpenSSH drops a refused request's
			// stderr.
			ss.then = func() { ss.fail(fmt.Sprintf("ws: subsystem %q is not supported (sftp is)", c.Command)) }
			return true
		}
		ss.then = ss.sftp
		return true
	case "x11-req":
		fmt.Fprint(ss.ch.Stderr(), "ws: X11 forwarding is not supported\r\n")
		return false
	}
	return false
}

// start starts the session's shell (argv empty) or command, with a PTY if one was asked
// for. ss.mu is held.
func (ss *sshSession) start(argv []string) error {
	a := ss.sc.d.a
	env := append([]string{"SSH_CONNECTION=127.0.0.1 0 127.0.0.1 22"}, ss.env...)
	if ss.agent {
		sock, err := ss.sc.agentSocket()
		if err != nil {
			return fmt.Errorf("agent forwarding: %w", err)
		}
		env = append(env, "SSH_AUTH_SOCK="+sock)
	}
	term := ""
	if ss.pty != nil {
		term = ss.pty.Term
	}
	cmd := a.sessionCommand(argv, env, term)
	if ss.pty != nil {
		ptmx, err := a.startPTY(cmd, int(ss.pty.Cols), int(ss.pty.Rows))
		if err != nil {
			return fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		ss.ptmx = ptmx
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Stdout, cmd.Stderr = ss.ch, ss.ch.Stderr()
		// Background children may keep the output open: don't wait for them forever.
		cmd.WaitDelay = time.Second
		stdin, err := cmd.StdinPipe()
		if err == nil {
			err = a.start(cmd, nil)
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", cmd.Args[0], err)
		}
		go func() {
			_, _ = io.Copy(stdin, ss.ch) // until the client's EOF
			stdin.Close()
		}()
	}
	ss.started, ss.cmd, ss.then = true, cmd, ss.wait
	return nil
}

// wait reaps the process, sends its exit status once its output went out, and closes.
func (ss *sshSession) wait() {
	a := ss.sc.d.a
	var outDone <-chan struct{}
	if ss.ptmx != nil {
		outDone = pumpPTY(ss.ptmx, ss.ch)
	}
	err := ss.cmd.Wait()
	a.tree.Done(ss.cmd)
	close(ss.done)
	if outDone != nil {
		drained(outDone)
	}
	ss.exit(err)
}

// exit reports how the process ended (exit-status, or exit-signal when a signal killed it)
// and closes the channel.
func (ss *sshSession) exit(err error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			name := strings.TrimPrefix(signalName(st.Signal()), "SIG")
			_, _ = ss.ch.SendRequest("exit-signal", false, ssh.Marshal(&exitSignal{Signal: name, CoreDumped: st.CoreDump()}))
			_ = ss.ch.CloseWrite()
			ss.ch.Close()
			return
		}
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(exitCode(err)))
	_, _ = ss.ch.SendRequest("exit-status", false, b[:])
	_ = ss.ch.CloseWrite()
	ss.ch.Close()
}

// fail ends a session that cannot run with message on its stderr and exit status 1.
func (ss *sshSession) fail(message string) {
	fmt.Fprintf(ss.ch.Stderr(), "%s\r\n", message)
	ss.exit(errors.New(message))
}

// signalName is the SSH name of sig (RFC 4254 §6.10 lists the POSIX ones without "SIG").
func signalName(sig syscall.Signal) string {
	for name, s := range signals {
		if s == sig {
			return name
		}
	}
	return strconv.Itoa(int(sig))
}

// sftp serves the SFTP subsystem in the agent's process, starting in the project's directory.
func (ss *sshSession) sftp() {
	a := ss.sc.d.a
	a.active.Add(1)
	defer func() { a.active.Add(-1); a.touch() }()
	var opts []sftp.ServerOption
	if dir := a.cfg.Plan.WorkingDir; dir != "" {
		opts = append(opts, sftp.WithServerWorkingDirectory(dir))
	}
	code := 0
	srv, err := sftp.NewServer(ss.ch, opts...)
	if err == nil {
		err = srv.Serve() // until the client's EOF; srv.Close would close the channel first
	}
	if err != nil && !errors.Is(err, io.EOF) {
		code = 1
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	_, _ = ss.ch.SendRequest("exit-status", false, b[:])
	ss.ch.Close()
}

// agentSocket returns the connection's agent-forwarding socket, made on first use: a Unix
// socket in a directory only the agent's user may enter; each connection to it becomes an
// auth-agent@openssh.com channel to the client's agent.
func (sc *sshConn) agentSocket() (string, error) {
	// sc.mu guards agentDir; the caller holds only the session's lock.
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.closed {
		return "", errors.New("connection closed")
	}
	if sc.agentDir != "" {
		return filepath.Join(sc.agentDir, "agent.sock"), nil
	}
	dir, err := os.MkdirTemp("", "ws-ssh-agent-")
	if err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	sc.agentDir, sc.agentLn = dir, ln
	go sc.acceptChannels(ln, "auth-agent@openssh.com", func(net.Conn) []byte { return nil })
	return sock, nil
}
