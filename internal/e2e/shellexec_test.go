package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/gitlabcilocal"
)

// TestShellExecutorEndsBackgroundServer runs a compiled workspace job with gitlab-ci-local's
// shell executor (an implementation of GitLab CI independent of ws): postStart starts a
// server in the background, as devfiles do ('… &'). The server must be up while the
// workspace is (preStop reaches it) and gone when the job has ended: it once outlived the
// job, because it left the agent's process group (issue 11 item 8).
func TestShellExecutorEndsBackgroundServer(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed for the workspace's server")
	}
	gcl := gitlabcilocal.Bin(t)
	ws := testutil.WSBinary(t)
	bin := t.TempDir()
	// The job runs "$WS_BIN" agent with WS_BIN=ws-agent (--agent-source local); ws-agent's
	// command line is ws agent's, so ws under that name serves.
	if err := os.Symlink(ws, filepath.Join(bin, "ws-agent")); err != nil {
		t.Fatal(err)
	}
	dir, home, marks := t.TempDir(), t.TempDir(), t.TempDir()
	port := freePort(t)
	wasUp := filepath.Join(marks, "server-was-up")
	devfile := fmt.Sprintf(`schemaVersion: 2.2.0
metadata:
  name: bg
attributes:
  ws/idle-timeout: 1m
components:
  - name: dev
    container:
      image: busybox
      mountSources: true
commands:
  - id: serve
    exec:
      component: dev
      commandLine: python3 -m http.server %[1]d --bind 127.0.0.1 >/dev/null 2>&1 &
  - id: check
    exec:
      component: dev
      commandLine: python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:%[1]d/")' && echo up > %[2]s
events:
  postStart: [serve]
  preStop: [check]
`, port, wasUp)
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(devfile), 0o644); err != nil {
		t.Fatal(err)
	}
	compile := exec.Command(ws, "compile", "devfile.yaml", "--agent-source", "local", "-o", ".gitlab-ci.yml")
	compile.Dir = dir
	if out, err := compile.CombinedOutput(); err != nil {
		t.Fatalf("ws compile: %v\n%s", err, out)
	}
	// The workspace stops when idle; the compiler's shortest idle timeout is a minute, and
	// this test is about what the stop ends, not when it comes.
	yml, err := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	short := strings.Replace(string(yml), `"idleTimeout":"1m"`, `"idleTimeout":"2s"`, 1)
	if short == string(yml) {
		t.Fatalf("no idle timeout of 1m in the plan:\n%s", yml)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := gitlabcilocal.Repo(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// gitlab-ci-local's shell executor sets $CI_PROJECT_DIR to a /builds path that does not
	// exist on the host (GitLab Runner's shell executor sets the real one): say where it is.
	run := gitlabcilocal.Command(ctx, gcl, dir, home, "--force-shell-executor", "--variable", "CI_PROJECT_DIR="+dir, "workspace")
	run.Env = append(run.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("gitlab-ci-local: %v\n%s", err, out)
	}
	for _, want := range []string{`workspace "bg" is ready`, "stopping the workspace", "agent stopped (idle)", "PASS  workspace"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("gitlab-ci-local output lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(wasUp); err != nil || string(b) != "up\n" {
		t.Fatalf("preStop did not reach the server (%v):\n%s", err, out)
	}
	// The job is over: the background server must be gone with it.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatalf("the background server still listens on %d after the job ended:\n%s", port, out)
	}
}
