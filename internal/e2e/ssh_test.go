package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/internal/testutil/sshtest"
	"github.com/ws-dev/ws/plan"
)

// sshEnv is a workspace with an agent process, a gateway, a fake GitLab that serves the
// project's repository, and a client home whose SSH config 'ws config-ssh' wrote.
type sshEnv struct {
	dir     string   // the workspace's project directory (a git checkout)
	gitRoot string   // the fake GitLab's repositories
	gl      string   // the fake GitLab's URL
	g       *gw      // the gateway
	cli     []string // the client's environment (alice)
	home    string   // the client's home
	config  string   // its ~/.ssh/config
	ag      *proc
}

// startSSHEnv starts it all; endpointPort is announced as the devfile endpoint "web".
func startSSHEnv(t *testing.T, endpointPort int) *sshEnv {
	t.Helper()
	e := &sshEnv{dir: t.TempDir(), gitRoot: t.TempDir(), home: t.TempDir()}
	e.config = filepath.Join(e.home, ".ssh", "config")
	git(t, e.gitRoot, "init", "-q", "--bare", "group/app.git")
	git(t, e.dir, "init", "-q", "-b", "main", ".")
	if err := os.WriteFile(filepath.Join(e.dir, "README"), []byte("work\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, e.dir, "add", "README")
	git(t, e.dir, "-c", "user.name=Alice", "-c", "user.email=alice@example.com", "commit", "-q", "-m", "work done in the workspace")

	alice, bob := gitlabtokens.User{ID: 1, Username: "alice"}, gitlabtokens.User{ID: 2, Username: "bob"}
	fake := &gitlabtokens.Fake{
		Jobs:    map[string]gitlabtokens.Job{jobToken: {ID: 101, Status: "running", Ref: "ws/demo", PipelineID: 9, ProjectID: projectID, ProjectPath: "group/app", User: alice}},
		Users:   map[string]gitlabtokens.User{aliceToken: alice, bobToken: bob},
		Repos:   map[string]gitlabtokens.GitRepo{"group/app": {ProjectID: projectID, JobTokenPush: true}},
		GitRoot: e.gitRoot,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fake.Handler()}
	go serve(srv, ln)
	t.Cleanup(func() { srv.Close() })
	e.gl = "http://" + ln.Addr().String()
	e.g = startGateway(t, e.gl, "", &testutil.SyncBuffer{})

	p := &plan.Plan{Version: plan.Version, Workspace: "demo", WorkingDir: e.dir, IdleTimeout: "0",
		Endpoints: []plan.Endpoint{{Name: "web", TargetPort: endpointPort, Protocol: "http", Exposure: "public"}}}
	agentHome := t.TempDir()
	// What a CI job's environment holds (the devfile's env arrives as job variables), and
	// no SSH agent of the test's own: keys reach the workspace only by forwarding.
	agentEnv := []string{"WS_PLAN=" + writePlan(t, p), "CI_JOB_TOKEN=" + jobToken, "CI_SERVER_URL=" + e.gl,
		"CI_PROJECT_PATH=group/app", "DEVFILE_GREETING=hello-from-the-devfile", "HOME=" + agentHome,
		"SSH_AUTH_SOCK=", "GIT_TERMINAL_PROMPT=0", "WS_AGENT_LOG=" + filepath.Join(agentHome, "agent.log")}
	e.ag = start(t, agentEnv, "agent", "--gateway", e.g.url(), "--max-backoff", "500ms")
	e.ag.out.WaitFor(t, 30*time.Second, 1, `connected to gateway`)

	e.cli = []string{"WS_E2E_MAIN=1", "GITLAB_TOKEN=" + aliceToken, "WS_GATEWAY_URL=" + e.g.url(), "GITLAB_HOST=" + e.gl,
		"HOME=" + e.home, "XDG_CONFIG_HOME=" + e.home, "SSH_AUTH_SOCK="}
	return e
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// ssh runs an OpenSSH program (ssh, scp, sftp) with the client's environment, in a
// directory outside any git checkout; it returns stdout, stderr and the exit code.
func (e *sshEnv) ssh(t *testing.T, stdin io.Reader, prog string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = e.home
	cmd.Env = append(os.Environ(), e.cli...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%s %v hung; stderr:\n%s", prog, args, stderr.String())
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// ws runs the test binary as ws with the client's environment, outside any git checkout.
func (e *sshEnv) ws(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return e.ssh(t, nil, os.Args[0], args...)
}

// TestSSH: the real OpenSSH client (ssh, scp, sftp) through 'ws config-ssh' Host entries and
// the ProxyCommand 'ws ssh --stdio', a real gateway, and a real agent process started as CI
// starts it.
func TestSSH(t *testing.T) {
	sshtest.Require(t, "ssh", "scp", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "git")
	endpoint := httpServer(t, "hello from the endpoint\n")
	e := startSSHEnv(t, endpoint)
	sshF := func(args ...string) []string { return append([]string{"-F", e.config, "-o", "BatchMode=yes"}, args...) }

	t.Run("config-ssh", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Dir(e.config), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.config, []byte("Host *\n  ServerAliveInterval 30\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := e.ws(t, "config-ssh", "--ssh-config-file", e.config)
		if code != 2 || !strings.Contains(errOut, "--yes") || !strings.Contains(out, "+Include ") {
			t.Fatalf("config-ssh without a terminal or --yes = %d, %q, %q; want a diff and exit 2 asking for --yes", code, out, errOut)
		}
		if b, _ := os.ReadFile(e.config); string(b) != "Host *\n  ServerAliveInterval 30\n" {
			t.Fatalf("config changed without --yes: %q", b)
		}
		_, errOut, code = e.ws(t, "config-ssh", "--yes", "--ssh-config-file", e.config)
		if code != 0 {
			t.Fatalf("config-ssh --yes = %d %s", code, errOut)
		}
		b, _ := os.ReadFile(e.config)
		if !strings.HasPrefix(string(b), "# Added by 'ws config-ssh'") || !strings.HasSuffix(string(b), "Host *\n  ServerAliveInterval 30\n") {
			t.Fatalf("config after config-ssh:\n%s", b)
		}
		managed, _ := os.ReadFile(filepath.Join(e.home, ".ssh", "ws", "config"))
		if !strings.Contains(string(managed), "\nHost ws.demo ws.demo.group.app\n") {
			t.Fatalf("managed file lacks the workspace:\n%s", managed)
		}
		_, errOut, code = e.ws(t, "config-ssh", "--ssh-config-file", e.config)
		if code != 0 || !strings.Contains(errOut, "up to date") {
			t.Fatalf("second config-ssh = %d %q, want no change", code, errOut)
		}
		// ws open --ide names that entry and the project's directory in the job.
		out, errOut, code = e.ws(t, "open", "demo", "--ide", "vscode", "--no-browser")
		if code != 0 || out != "vscode://vscode-remote/ssh-remote+ws.demo.group.app"+e.dir+"\n" || errOut != "" {
			t.Fatalf("ws open --ide vscode = %d %q %q", code, out, errOut)
		}
	})

	t.Run("exec exit status and the devfile's environment", func(t *testing.T) {
		out, errOut, code := e.ssh(t, nil, "ssh", sshF("ws.demo", "echo $DEVFILE_GREETING; pwd; exit 5")...)
		if code != 5 || out != "hello-from-the-devfile\n"+e.dir+"\n" {
			t.Fatalf("ssh ws.demo = %d %q (stderr %q), want 5 and the greeting and %s", code, out, errOut, e.dir)
		}
		// The ProxyCommand pinned the key the gateway vouches for.
		_, status := userGet(t, e.g.url()+"/api/v1/workspaces/42/demo", "", aliceToken)
		key := regexp.MustCompile(`"ssh_host_key":"(ssh-ed25519 [A-Za-z0-9+/=]+)"`).FindStringSubmatch(status)
		kh, _ := os.ReadFile(filepath.Join(e.home, ".ssh", "ws", "known_hosts", "ws.demo.group.app"))
		if key == nil || string(kh) != "ws.demo.group.app "+key[1]+"\n" {
			t.Fatalf("pinned host key %q, gateway status %s", kh, status)
		}
		// ws's own client too.
		out, errOut, code = e.ws(t, "ssh", "demo", "--", "echo", "hi;", "exit", "7")
		if code != 7 || out != "hi\n" {
			t.Fatalf("ws ssh demo -- ... = %d %q %q, want 7 and hi", code, out, errOut)
		}
	})

	t.Run("pty follows a resize", func(t *testing.T) {
		cmd := exec.Command("ssh", sshF("-tt", "ws.demo")...)
		cmd.Dir = e.home
		cmd.Env = append(os.Environ(), e.cli...)
		interactiveResize(t, cmd)
	})

	t.Run("sftp and scp", func(t *testing.T) {
		local := t.TempDir()
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		if err := os.WriteFile(filepath.Join(local, "up.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		batch := fmt.Sprintf("put %s sftp-up.bin\nget sftp-up.bin %s\n", filepath.Join(local, "up.bin"), filepath.Join(local, "sftp-down.bin"))
		if _, errOut, code := e.ssh(t, strings.NewReader(batch), "sftp", sshF("-b", "-", "ws.demo")...); code != 0 {
			t.Fatalf("sftp = %d %s", code, errOut)
		}
		if _, errOut, code := e.ssh(t, nil, "scp", sshF(filepath.Join(local, "up.bin"), "ws.demo:scp-up.bin")...); code != 0 {
			t.Fatalf("scp up = %d %s", code, errOut)
		}
		if _, errOut, code := e.ssh(t, nil, "scp", sshF("ws.demo:"+filepath.Join(e.dir, "scp-up.bin"), filepath.Join(local, "scp-down.bin"))...); code != 0 {
			t.Fatalf("scp down = %d %s", code, errOut)
		}
		for _, f := range []string{filepath.Join(e.dir, "sftp-up.bin"), filepath.Join(local, "sftp-down.bin"), filepath.Join(e.dir, "scp-up.bin"), filepath.Join(local, "scp-down.bin")} {
			if b, err := os.ReadFile(f); err != nil || !bytes.Equal(b, data) {
				t.Errorf("%s: %d bytes, %v; want the 1 MiB sent", f, len(b), err)
			}
		}
	})

	t.Run("ssh -L to a devfile endpoint", func(t *testing.T) {
		lport := freePort(t)
		cmd, out := e.background(t, "ssh", sshF("-o", "ExitOnForwardFailure=yes", "-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, endpoint), "ws.demo", "echo forwarding; cat")...)
		// Local forwards listen before the session starts, so they listen once it speaks.
		out.WaitFor(t, 20*time.Second, 1, `forwarding`)
		// No keep-alive: ssh ends only once every forwarded connection has.
		hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for range 2 {
			resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/", lport))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "hello from the endpoint\n" {
				t.Fatalf("GET through ssh -L = %d %q", resp.StatusCode, body)
			}
		}
		cmd.end(t, false)
	})

	t.Run("ssh -R", func(t *testing.T) {
		back := httpServer(t, "hello from your machine\n")
		cmd, out := e.background(t, "ssh", sshF("-N", "-o", "ExitOnForwardFailure=yes", "-R", fmt.Sprintf("0:127.0.0.1:%d", back), "ws.demo")...)
		// ssh says which port the workspace listens on once it does.
		m := regexp.MustCompile(`Allocated port (\d+) for remote forward`).FindStringSubmatch(out.WaitFor(t, 20*time.Second, 1, `Allocated port \d+ for remote forward`))
		// The workspace's loopback is this machine's: dial it as a program in the job would.
		out2, errOut, code := e.ssh(t, nil, "ssh", sshF("ws.demo", fmt.Sprintf(`bash -c "exec 3<>/dev/tcp/127.0.0.1/%s && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3"`, m[1]))...)
		if code != 0 || !strings.HasSuffix(out2, "hello from your machine\n") {
			t.Fatalf("the workspace through ssh -R = %d %q %q", code, out2, errOut)
		}
		cmd.end(t, true)
	})

	t.Run("ssh -A and git push over SSH", func(t *testing.T) {
		keys := t.TempDir()
		key := sshtest.KeyPair(t, keys, "id_alice")
		srv := sshtest.StartSSHD(t, t.TempDir(), key+".pub")
		kh := srv.KnownHosts(t, keys)
		remote := fmt.Sprintf("ssh://%s@127.0.0.1:%d%s/group/app.git", srv.User, srv.Port, e.gitRoot)
		push := fmt.Sprintf(`GIT_SSH_COMMAND='ssh -o BatchMode=yes -o UserKnownHostsFile=%s' git push %s HEAD:refs/heads/from-ssh`, kh, remote)
		// Without forwarding the workspace has no key: the push is refused.
		if _, errOut, code := e.ssh(t, nil, "ssh", sshF("ws.demo", push)...); code == 0 {
			t.Fatalf("git push over SSH without -A worked: the workspace has a key of its own?\n%s", errOut)
		}
		e.cli = append(e.cli, "SSH_AUTH_SOCK="+sshtest.Agent(t, keys, key))
		defer func() { e.cli = e.cli[:len(e.cli)-1] }()
		if _, errOut, code := e.ssh(t, nil, "ssh", sshF("-A", "ws.demo", push)...); code != 0 {
			t.Fatalf("ssh -A ws.demo git push = %d\n%s", code, errOut)
		}
		if log := git(t, e.gitRoot, "--git-dir", "group/app.git", "log", "--format=%s", "from-ssh"); log != "work done in the workspace\n" {
			t.Fatalf("pushed branch log %q", log)
		}
		// ws ssh -A forwards the same agent.
		if _, errOut, code := e.ws(t, "ssh", "-A", "demo", "--", strings.Replace(push, "from-ssh", "from-ws-ssh", 1)); code != 0 {
			t.Fatalf("ws ssh -A demo -- git push = %d\n%s", code, errOut)
		}
	})

	t.Run("git push over HTTPS with the job's credential", func(t *testing.T) {
		push := fmt.Sprintf("git push %s/group/app.git HEAD:refs/heads/from-https", e.gl)
		if _, errOut, code := e.ssh(t, nil, "ssh", sshF("ws.demo", push)...); code != 0 {
			t.Fatalf("git push over HTTPS = %d\n%s", code, errOut)
		}
		if log := git(t, e.gitRoot, "--git-dir", "group/app.git", "log", "--format=%s", "from-https"); log != "work done in the workspace\n" {
			t.Fatalf("pushed branch log %q", log)
		}
		// The helper answers for the job's own project only.
		out, _, code := e.ssh(t, nil, "ssh", sshF("ws.demo", fmt.Sprintf("printf 'protocol=http\\nhost=%s\\npath=other/project.git\\n\\n' | git credential fill", strings.TrimPrefix(e.gl, "http://")))...)
		if code == 0 || strings.Contains(out, jobToken) {
			t.Fatalf("credential for another project = %d %q, want none", code, out)
		}
		// The token is nowhere on disk in the job.
		if hits := grepDir(t, e.dir, jobToken); len(hits) > 0 {
			t.Fatalf("the job token was written to %v", hits)
		}
	})

	t.Run("another GitLab user is refused", func(t *testing.T) {
		e.cli = append(e.cli, "GITLAB_TOKEN="+bobToken)
		defer func() { e.cli = e.cli[:len(e.cli)-1] }()
		_, errOut, code := e.ssh(t, nil, "ssh", sshF("ws.demo", "true")...)
		if code != 255 || !strings.Contains(errOut, "only the user who launched it can") {
			t.Fatalf("bob's ssh = %d %q, want 255 and the refusal", code, errOut)
		}
		_, errOut, code = e.ws(t, "ssh", "-R", "group/app", "demo", "--", "true")
		if code != 4 || !strings.Contains(errOut, "only the user who launched it can") {
			t.Fatalf("bob's ws ssh = %d %q, want 4", code, errOut)
		}
		e.cli = append(e.cli, "GITLAB_TOKEN=glpat-revoked")
		defer func() { e.cli = e.cli[:len(e.cli)-1] }()
		_, errOut, code = e.ssh(t, nil, "ssh", sshF("ws.demo", "true")...)
		if code != 255 || strings.Contains(errOut, "glpat-revoked") {
			t.Fatalf("ssh with a refused token = %d %q, want 255 and no token in the message", code, errOut)
		}
		_, errOut2, code := e.ws(t, "ssh", "-R", "group/app", "demo", "--", "true")
		if code != 4 || !strings.Contains(errOut, "the gateway rejected your GitLab token") || !strings.Contains(errOut2, "the gateway rejected your GitLab token") {
			t.Fatalf("ws ssh with a refused token = %d %q (ssh: %q), want 4 and why", code, errOut2, errOut)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		_, errOut, code := e.ssh(t, nil, "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ProxyCommand="+os.Args[0]+" ssh --stdio -R group/app nope", "nope", "true")
		if code != 255 || !strings.Contains(errOut, `workspace "nope": no agent is connected`) {
			t.Fatalf("unknown workspace = %d %q", code, errOut)
		}
		_, errOut, code = e.ssh(t, nil, "ssh", sshF("-s", "ws.demo", "nfs")...)
		if code != 1 || !strings.Contains(errOut, `subsystem "nfs" is not supported`) {
			t.Fatalf("unsupported subsystem = %d %q", code, errOut)
		}
		sock := filepath.Join(t.TempDir(), "s")
		cmd, out := e.background(t, "ssh", sshF("-L", sock+":/run/nothing.sock", "ws.demo", "echo forwarding; cat")...)
		out.WaitFor(t, 20*time.Second, 1, `forwarding`)
		if c, err := net.Dial("unix", sock); err == nil {
			_, _ = io.ReadAll(c) // the channel is refused: the connection ends
			c.Close()
		}
		out.WaitFor(t, 20*time.Second, 1, `open failed: unknown channel type: ws: channel type "direct-streamlocal@openssh.com" is not supported`)
		cmd.end(t, false)
		_, errOut, code = e.ws(t, "ssh", "--stdio")
		if code != 2 || !strings.Contains(errOut, "--stdio needs the workspace NAME") {
			t.Fatalf("ws ssh --stdio = %d %q", code, errOut)
		}
	})

	t.Run("stopped workspace", func(t *testing.T) {
		// Open sessions (OpenSSH's and ws's own client) end when the workspace stops, saying
		// why: no hang.
		var open []*bg
		for _, c := range []struct {
			prog string
			args []string
		}{{"ssh", sshF("ws.demo", "echo started; exec cat")}, {os.Args[0], []string{"ssh", "demo", "--", "echo started; exec cat"}}} {
			b, out := e.background(t, c.prog, c.args...)
			out.WaitFor(t, 20*time.Second, 1, `started`)
			open = append(open, b)
		}
		if err := e.ag.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if c := e.ag.wait(t, 20*time.Second); c != 0 {
			t.Fatalf("agent exit %d; its output:\n%s", c, e.ag.out)
		}
		for _, b := range open {
			select {
			case <-b.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("%v stayed open after the workspace stopped:\n%s", b.cmd.Args, b.out)
			}
			if code := b.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(b.out.String(), "ws: the workspace is stopping: it was asked to stop") {
				t.Fatalf("%v into a workspace that stopped = %d %q, want non-zero and why", b.cmd.Args, code, b.out)
			}
		}
		// The gateway logs the agent's end once it no longer lists it.
		e.g.logs.WaitFor(t, 20*time.Second, 1, `msg="agent disconnected" workspace=42/demo`)
		_, errOut, code := e.ssh(t, nil, "ssh", sshF("ws.demo", "true")...)
		if code != 255 || !strings.Contains(errOut, `workspace "demo": no agent is connected`) || !strings.Contains(errOut, "hint: check 'ws status demo'") {
			t.Fatalf("ssh to a stopped workspace = %d %q", code, errOut)
		}
		_, errOut, code = e.ws(t, "ssh", "demo", "--", "true")
		if code != 1 || !strings.Contains(errOut, `workspace "demo": no agent is connected`) || !strings.Contains(errOut, "hint: check 'ws status demo'") {
			t.Fatalf("ws ssh to a stopped workspace = %d %q", code, errOut)
		}
		// config-ssh removes the entries of workspaces that are gone, and their pinned keys.
		if _, errOut, code := e.ws(t, "config-ssh", "--ssh-config-file", e.config); code != 0 {
			t.Fatalf("config-ssh = %d %s", code, errOut)
		}
		managed, _ := os.ReadFile(filepath.Join(e.home, ".ssh", "ws", "config"))
		if strings.Contains(string(managed), "ws.demo") {
			t.Fatalf("the stopped workspace's entry stayed:\n%s", managed)
		}
		if _, err := os.Stat(filepath.Join(e.home, ".ssh", "ws", "known_hosts", "ws.demo.group.app")); err == nil {
			t.Error("its pinned key stayed")
		}
	})
}

// bg is an OpenSSH client running in the background with its stdin open; end closes stdin
// (and interrupts it) and waits for it.
type bg struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	out   *testutil.SyncBuffer // its stdout and stderr
}

func (e *sshEnv) background(t *testing.T, prog string, args ...string) (*bg, *testutil.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = e.home
	cmd.Env = append(os.Environ(), e.cli...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &bg{cmd: cmd, stdin: stdin, done: make(chan struct{}), out: out}
	go func() { _ = cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-b.done })
	return b, out
}

func (b *bg) end(t *testing.T, interrupt bool) {
	t.Helper()
	b.stdin.Close()
	if interrupt { // ssh -N reads no stdin: it ends on SIGINT
		_ = b.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%v did not end", b.cmd.Args)
	}
}

// httpServer serves body on a free loopback port and returns the port.
func httpServer(t *testing.T, body string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })}
	go serve(srv, ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// grepDir lists the files under dir that contain s.
func grepDir(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
				hits = append(hits, p)
			}
		}
		return nil
	})
	return hits
}
