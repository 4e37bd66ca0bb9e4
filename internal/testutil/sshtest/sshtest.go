// Package sshtest runs Debian's OpenSSH for tests and benchmarks: a key pair made with
// ssh-keygen, an ssh-agent holding it, and an sshd on a free loopback port that lets that key
// in (as the user running the test), each stopped when the test ends. scripts/install-openssh.sh
// installs the packages.
package sshtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
)

// Require skips the test when one of the OpenSSH programs is missing, or fails it when CI is
// set (CI installs them: scripts/install-openssh.sh).
func Require(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			if _, err2 := os.Stat(p); err2 == nil {
				continue
			}
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found; CI installs it with scripts/install-openssh.sh", p)
			}
			t.Skipf("%s not found (bash scripts/install-openssh.sh installs OpenSSH)", p)
		}
	}
}

// SSHD is the path of Debian's sshd (not on a normal user's PATH).
const SSHD = "/usr/sbin/sshd"

// KeyPair writes an Ed25519 key pair without passphrase to dir/name and dir/name.pub and
// returns the private key's path.
func KeyPair(t testing.TB, dir, name string) string {
	t.Helper()
	key := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return key
}

// Agent starts an ssh-agent with key loaded and returns its socket (SSH_AUTH_SOCK).
func Agent(t testing.TB, dir, key string) string {
	t.Helper()
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	// -D prints the environment lines once the socket listens.
	out.WaitFor(t, 10*time.Second, 1, `SSH_AUTH_SOCK=`)
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if b, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, b)
	}
	return sock
}

// Server is a running sshd.
type Server struct {
	Port int
	User string // who may log in: the user running the test
	// HostKey is the server's public host key (authorized_keys form).
	HostKey string
	Log     *testutil.SyncBuffer
}

// StartSSHD starts sshd on a free loopback port, in the foreground, letting in the public
// key authorizedKey (a .pub file) as the current user; stopped when the test ends.
func StartSSHD(t testing.TB, dir, authorizedKey string) *Server {
	t.Helper()
	Require(t, SSHD, "ssh-keygen")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	hostKey := KeyPair(t, dir, "sshd_host_key")
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	b, err := os.ReadFile(authorizedKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(auth, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // sshd binds it next; a free port picked at run time
	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
AuthorizedKeysFile %s
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
Subsystem sftp internal-sftp
LogLevel INFO
`, port, hostKey, auth, u.Username)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd started by root wants its privilege separation directory, which Debian's
		// service unit makes at boot; a test machine may have never started the service.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(SSHD, "-D", "-e", "-f", cfg)
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	log.WaitFor(t, 10*time.Second, 1, `Server listening on 127\.0\.0\.1 port \d+`)
	return &Server{Port: port, User: u.Username, HostKey: strings.TrimSpace(string(pub)), Log: log}
}

// KnownHosts writes a known_hosts file naming the server and returns its path.
func (s *Server) KnownHosts(t testing.TB, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "known_hosts_sshd")
	if err := os.WriteFile(f, []byte(fmt.Sprintf("[127.0.0.1]:%d %s\n", s.Port, s.HostKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Version is `ssh -V` of this machine's OpenSSH, for the record.
func Version() string {
	out, _ := exec.Command("ssh", "-V").CombinedOutput()
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	if sc.Scan() {
		return regexp.MustCompile(`\s+`).ReplaceAllString(sc.Text(), " ")
	}
	return "unknown"
}
