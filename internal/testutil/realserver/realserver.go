// Package realserver starts the real servers the gateway's scale-out tests need — a
// redis-server and an haproxy from Debian's packages (scripts/install-redis-haproxy.sh) —
// each on its own unix socket or free loopback port, and stops them when the test ends.
// Readiness is what the server prints, never a sleep.
package realserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
)

// Need returns the path of program, skipping the test when it is missing, or failing it
// when CI is set (CI installs it with scripts/install-redis-haproxy.sh).
func Need(t testing.TB, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found and CI is set: scripts/install-redis-haproxy.sh installs it", program)
	}
	t.Skipf("%s not found: the scale-out tests need it (bash scripts/install-redis-haproxy.sh installs it)", program)
	return ""
}

// startLimit bounds the wait for a server's ready line (a failure bound, not a delay).
const startLimit = 30 * time.Second

// Redis is a redis-server of one test, on a unix socket, without persistence.
type Redis struct {
	Socket string
	dir    string
	bin    string
	cmd    *exec.Cmd
	Log    *testutil.SyncBuffer
	starts int
}

// StartRedis starts a redis-server; it is stopped when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := Need(t, "redis-server")
	dir, err := os.MkdirTemp("", "ws-redis-") // short: unix socket paths are limited to 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &Redis{Socket: filepath.Join(dir, "redis.sock"), dir: dir, bin: bin, Log: &testutil.SyncBuffer{}}
	r.Start(t)
	t.Cleanup(r.Stop)
	return r
}

// URL is the go-redis URL of the server.
func (r *Redis) URL() string { return "unix://" + r.Socket }

// Start starts the server (again, after Stop: empty, on the same socket).
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.cmd = exec.Command(r.bin, "--port", "0", "--unixsocket", r.Socket, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", "")
	r.cmd.Stdout, r.cmd.Stderr = r.Log, r.Log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.starts++
	if _, err := r.Log.Wait(startLimit, r.starts, mustRE("(?i)ready to accept connections")); err != nil {
		t.Fatalf("redis-server did not get ready: %v\n%s", err, r.Log.String())
	}
}

// Stop stops the server and waits for it to exit.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// HAProxy is an haproxy in TCP mode in front of the given servers, checking each with
// GET /healthz.
type HAProxy struct {
	// Addr is the address clients and agents dial (127.0.0.1:port).
	Addr string
	Log  *testutil.SyncBuffer
	cmd  *exec.Cmd
}

// StartHAProxy starts an haproxy balancing TCP connections round-robin over servers
// (name → host:port); servers failing GET /healthz get no new connections within 200 ms
// while their established ones stay (a replica that lost Redis keeps its agents). It is
// stopped when the test ends.
func StartHAProxy(t testing.TB, servers map[string]string, order []string) *HAProxy {
	t.Helper()
	bin := Need(t, "haproxy")
	addr := FreeAddr(t)
	var b strings.Builder
	fmt.Fprintf(&b, `global
  log stderr format raw local0 info
defaults
  mode tcp
  log global
  option dontlognull
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  retries 3
  option redispatch
frontend ws
  bind %s
  default_backend gateways
backend gateways
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
  default-server inter 200ms fall 1 rise 1
`, addr)
	for _, n := range order {
		fmt.Fprintf(&b, "  server %s %s check\n", n, servers[n])
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &HAProxy{Addr: addr, Log: &testutil.SyncBuffer{}}
	h.cmd = exec.Command(bin, "-W", "-db", "-f", cfg)
	h.cmd.Stdout, h.cmd.Stderr = h.Log, h.Log
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		_ = h.cmd.Wait()
	})
	if _, err := h.Log.Wait(startLimit, 1, mustRE(`Loading success`)); err != nil {
		t.Fatalf("haproxy did not start: %v\n%s", err, h.Log.String())
	}
	return h
}

// FreeAddr returns a loopback address with a port free at the time of the call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func mustRE(s string) *regexp.Regexp { return regexp.MustCompile(s) }
