// Package ssh measures SSH into a workspace against Debian's sshd on the same machine, in one
// run (make bench-ssh; figures in docs/benchmarks.md). Every part is its own process, as in
// production:
//
//	scp/ssh ─ProxyCommand─▶ ws ssh --stdio ─▶ ws gateway serve ─▶ ws agent (SSH server)
//	scp/ssh ─TCP─▶ sshd (openssh-server, a free loopback port)
//
// Each figure alternates the two, and reports the medians and the median of the per-pair
// ratios (ws/sshd). The first rows use each Host entry as written (ws config-ssh's puts AES-GCM
// first; OpenSSH's default is ChaCha20-Poly1305), the next two the same cipher on both sides.
package ssh

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/internal/testutil/sshtest"
	"github.com/ws-dev/ws/plan"
)

const (
	jobToken  = "bench-ssh-job-token"
	userToken = "glpat-bench-ssh-user"
	fileSize  = 256 << 20
	gcm       = "aes128-gcm@openssh.com"
	chacha    = "chacha20-poly1305@openssh.com"
	curve     = "KexAlgorithms=curve25519-sha256"
)

// TestSSHAgainstSSHD needs WS_BENCH=1 (it moves gigabytes); WS_BIN names the ws binary
// (make bench-ssh builds it), else it is built.
func TestSSHAgainstSSHD(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("a benchmark: make bench-ssh (WS_BENCH=1)")
	}
	sshtest.Require(t, "ssh", "scp", "ssh-keygen", sshtest.SSHD)
	bin := testutil.WSBinary(t)
	home, work := t.TempDir(), t.TempDir()

	alice := gitlabtokens.User{ID: 1, Username: "alice"}
	fake := &gitlabtokens.Fake{
		Jobs:  map[string]gitlabtokens.Job{jobToken: {ID: 101, Status: "running", Ref: "ws/demo", PipelineID: 9, ProjectID: 42, ProjectPath: "group/app", User: alice}},
		Users: map[string]gitlabtokens.User{userToken: alice},
	}
	glSrv := httptest.NewServer(fake.Handler())
	t.Cleanup(glSrv.Close)
	gl := glSrv.URL
	gw := start(t, bin, nil, "gateway", "serve", "--listen", "127.0.0.1:0", "--gitlab-url", gl, "--public-url", "http://ws.test")
	gwURL := "http://" + regexp.MustCompile(`"gateway listening" addr=(\S+)`).FindStringSubmatch(gw.WaitFor(t, time.Minute, 1, `"gateway listening" addr=\S+`))[1]
	remote := filepath.Join(work, "remote")
	if err := os.MkdirAll(remote, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Version: plan.Version, Workspace: "demo", WorkingDir: remote, IdleTimeout: "0"}
	ps, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ag := start(t, bin, []string{"WS_PLAN=" + ps, "CI_JOB_TOKEN=" + jobToken, "HOME=" + work}, "agent", "--gateway", gwURL)
	ag.WaitFor(t, time.Minute, 1, `connected to gateway`)

	// The client: ws's Host entry, and one for the local sshd with its own key.
	env := append(os.Environ(), "GITLAB_TOKEN="+userToken, "GITLAB_HOST="+gl, "WS_GATEWAY_URL="+gwURL, "HOME="+home, "XDG_CONFIG_HOME="+home, "SSH_AUTH_SOCK=")
	cfg := filepath.Join(home, ".ssh", "config")
	if out, err := command(env, home, bin, "config-ssh", "--yes", "--ssh-config-file", cfg).CombinedOutput(); err != nil {
		t.Fatalf("ws config-ssh: %v\n%s", err, out)
	}
	key := sshtest.KeyPair(t, home, "id_bench")
	srv := sshtest.StartSSHD(t, t.TempDir(), key+".pub")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(f, "\nHost local-sshd\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n",
		srv.Port, srv.User, key, srv.KnownHosts(t, home)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	src := filepath.Join(work, "src.bin")
	data := make([]byte, fileSize)
	r := rand.New(rand.NewPCG(1, 2)) // the same bytes every run; not compressible
	for i := 0; i < len(data); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) time.Duration {
		st := time.Now()
		cmd := command(env, home, args[0], args[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return time.Since(st)
	}
	mibs := func(d time.Duration) float64 { return float64(fileSize) / (1 << 20) / d.Seconds() }
	// scp copies the file to host (up) or back; cipher "" is what the Host entry says.
	scp := func(host string, up bool, cipher ...string) func() float64 {
		args := []string{"scp", "-q", "-F", cfg}
		if len(cipher) > 0 {
			args = append(args, "-c", cipher[0])
		}
		return func() float64 {
			dst := filepath.Join(remote, "dst-"+host+".bin")
			defer os.Remove(dst)
			if up {
				return mibs(run(append(args, src, host+":"+dst)...))
			}
			if err := os.Link(src, dst); err != nil {
				t.Fatal(err)
			}
			back := filepath.Join(work, "back.bin")
			defer os.Remove(back)
			return mibs(run(append(args, host+":"+dst, back)...))
		}
	}
	// exec1 runs 'ssh host true' (extra: ssh options first).
	exec1 := func(host string, extra ...string) func() float64 {
		args := append(append([]string{"ssh", "-F", cfg}, extra...), host, "true")
		return func() float64 { return float64(run(args...).Microseconds()) / 1000 }
	}
	// Warm both up (page cache, the gateway's token cache, sshd's first fork).
	exec1("local-sshd")()
	exec1("ws.demo")()
	scp("local-sshd", true)()
	scp("ws.demo", true)()

	t.Logf("%s; agent, gateway, ws ssh --stdio: %s", sshtest.Version(), bin)
	if os.Getenv("WS_BENCH_CPU") != "" {
		for _, host := range []string{"local-sshd", "ws.demo"} {
			g0, a0 := cpu(t, gw), cpu(t, ag)
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
			v := scp(host, true)()
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
			t.Logf("%s: %.1f MiB/s; CPU s: children %.2f, gateway %.2f, agent %.2f", host, v,
				float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano())/1e9, cpu(t, gw)-g0, cpu(t, ag)-a0)
		}
	}
	for _, m := range []struct {
		what   string
		rounds int
		sshd   func() float64
		ws     func() float64
		unit   string
	}{
		{"scp 256 MiB up (MiB/s)", 5, scp("local-sshd", true), scp("ws.demo", true), "MiB/s"},
		{"scp 256 MiB down (MiB/s)", 5, scp("local-sshd", false), scp("ws.demo", false), "MiB/s"},
		// The same cipher on both sides: what the Ciphers line of ws's entry changes.
		{"scp up, both AES-128-GCM", 5, scp("local-sshd", true, gcm), scp("ws.demo", true, gcm), "MiB/s"},
		{"scp up, both ChaCha20", 5, scp("local-sshd", true, chacha), scp("ws.demo", true, chacha), "MiB/s"},
		{"ssh host true (ms)", 50, exec1("local-sshd"), exec1("ws.demo"), "ms"},
		// sshd's first key exchange, sntrup761x25519 (post-quantum), is one the agent's server
		// does not offer; the same exchange on both sides:
		{"ssh host true, curve25519", 50, exec1("local-sshd", "-o", curve), exec1("ws.demo", "-o", curve), "ms"},
	} {
		var ds, ws, ratios []float64
		for range m.rounds {
			d, w := m.sshd(), m.ws()
			ds, ws, ratios = append(ds, d), append(ws, w), append(ratios, w/d)
		}
		sort.Float64s(ratios)
		t.Logf("%-26s sshd median %8.1f %-5s  ws median %8.1f %-5s  ws/sshd median %.2f× (range %.2f–%.2f, %d pairs)",
			m.what, testutil.Median(ds), m.unit, testutil.Median(ws), m.unit, testutil.Median(ratios), ratios[0], ratios[len(ratios)-1], m.rounds)
	}
}

func command(env []string, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = env, dir
	return cmd
}

// proc is a ws process; its output collects in SyncBuffer.
type proc struct {
	*testutil.SyncBuffer
	pid int
}

// cpu is the CPU time p used so far, in seconds (Linux: /proc/PID/stat, clock ticks of 10 ms).
func cpu(t *testing.T, p *proc) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return float64(ut+st) / 100
}

// start runs a ws process until the test ends.
func start(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	out := &testutil.SyncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return &proc{out, cmd.Process.Pid}
}
