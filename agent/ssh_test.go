package agent

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshClient serves one SSH connection with a's server over a loopback TCP connection (a
// tunnel stream is as buffered; net.Pipe is not, and both sides write their version line
// first) and returns a client on it that pins the agent's host key.
func sshClient(t *testing.T, a *Agent) *ssh.Client {
	t.Helper()
	if a.sshd == nil {
		t.Fatal("the agent has no SSH server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cs, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.sshd.serve(ss); close(done) }()
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(a.sshd.hostKey))
	if err != nil {
		t.Fatal(err)
	}
	cc, chans, reqs, err := ssh.NewClientConn(cs, "ws.demo", &ssh.ClientConfig{User: "ws", HostKeyCallback: ssh.FixedHostKey(key)})
	if err != nil {
		t.Fatal(err)
	}
	c := ssh.NewClient(cc, chans, reqs)
	t.Cleanup(func() { c.Close(); <-done })
	return c
}

// A command that ends at once must still be reported as started, with its output and exit
// status: the channel's close once overtook the answer to "exec", and ws ssh printed
// "start in workspace: EOF" for about one 'echo' in ten on a loaded machine.
func TestSSHQuickCommands(t *testing.T) {
	a := New(Config{})
	c := sshClient(t, a)
	for i := range 200 {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.CombinedOutput("echo quick")
		if err != nil || string(out) != "quick\n" {
			t.Fatalf("exec %d: %q, %v", i, out, err)
		}
	}
	for _, tc := range []struct {
		cmd  string
		code int
	}{{"exit 3", 3}, {"true", 0}, {"false", 1}} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		err = s.Run(tc.cmd)
		var ee *ssh.ExitError
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s: %v", tc.cmd, err)
		case tc.code != 0 && (!errors.As(err, &ee) || ee.ExitStatus() != tc.code):
			t.Errorf("%s: %v, want exit status %d", tc.cmd, err, tc.code)
		}
	}
}

// A subsystem other than sftp is accepted only to say why it cannot run, on stderr, with
// exit status 1 (OpenSSH drops a refused request's stderr).
func TestSSHUnknownSubsystem(t *testing.T) {
	a := New(Config{})
	c := sshClient(t, a)
	for range 20 {
		ch, reqs, err := c.OpenChannel("session", nil)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := ch.SendRequest("subsystem", true, ssh.Marshal(&struct{ Name string }{"netconf"}))
		if err != nil || !ok {
			t.Fatalf("subsystem request: %v %v", ok, err)
		}
		stderr, _ := io.ReadAll(ch.Stderr())
		status := -1
		for r := range reqs {
			if r.Type == "exit-status" && len(r.Payload) == 4 {
				status = int(binary.BigEndian.Uint32(r.Payload))
			}
		}
		if status != 1 || !strings.Contains(string(stderr), `subsystem "netconf" is not supported`) {
			t.Fatalf("netconf: exit status %d, stderr %q", status, stderr)
		}
	}
}
