package runnertest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ws-dev/ws/agent/cli"
	"github.com/ws-dev/ws/plan"
)

// TestMain lets the test binary be the agent: with WS_TEST_AGENT_MAIN=1 it
// runs the agent's command line (agent/cli, what ws-agent runs), so jobs
// below start "$WS_BIN" agent as a runner would, and the agent's sentinel
// re-executes this binary.
func TestMain(m *testing.M) {
	if os.Getenv("WS_TEST_AGENT_MAIN") == "1" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Stdio([]string{os.Args[0]}, "test")))
	}
	os.Exit(m.Run())
}

// job is a workspace job's script running "$WS_BIN" agent, as a runner
// starts it.
type job struct {
	t    *testing.T
	dir  string // CI_PROJECT_DIR
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	seen chan struct{} // poked on every output line
	done chan error
}

// env is the job's environment: the plan, the project dir and job id, the
// agent (this binary), and extra.
func env(t *testing.T, dir string, p *plan.Plan, extra ...string) []string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WS_TEST_AGENT_MAIN=1", "WS_BIN=" + exe,
		"WS_PLAN=" + string(b), "CI_PROJECT_DIR=" + dir, "CI_JOB_ID=" + jobID(), "WS_AGENT_LOG=" + filepath.Join(dir, "agent.log")}
	return append(e, extra...)
}

var jobs atomic.Int64

// jobID is a job id unique on this host for this run (it names the cgroup).
func jobID() string {
	return strconv.Itoa(os.Getpid()) + "0" + strconv.FormatInt(jobs.Add(1), 10)
}

// start runs argv (a shell, or unshare around one) in dir with env e.
func start(t *testing.T, dir string, e []string, attr *syscall.SysProcAttr, argv ...string) *job {
	t.Helper()
	j := &job{t: t, dir: dir, seen: make(chan struct{}, 1), done: make(chan error, 1)}
	j.cmd = exec.Command(argv[0], argv[1:]...)
	j.cmd.Dir, j.cmd.Env, j.cmd.SysProcAttr = dir, e, attr
	pr, pw := io.Pipe()
	j.cmd.Stdout, j.cmd.Stderr = pw, pw
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			j.mu.Lock()
			j.out.WriteString(sc.Text() + "\n")
			j.mu.Unlock()
			select {
			case j.seen <- struct{}{}:
			default:
			}
		}
	}()
	go func() { err := j.cmd.Wait(); pw.Close(); j.done <- err }()
	t.Cleanup(func() {
		_ = j.cmd.Process.Kill()
	})
	return j
}

func (j *job) log() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.out.String()
}

// waitFor returns once the job's output contains s; it fails the test if
// the job ends first or nothing comes for a minute (a hang, not a clock).
func (j *job) waitFor(s string) {
	j.t.Helper()
	for !strings.Contains(j.log(), s) {
		select {
		case <-j.seen:
		case err := <-j.done:
			j.done <- err
			if !strings.Contains(j.log(), s) {
				j.t.Fatalf("job ended (%v) before %q:\n%s", err, s, j.log())
			}
		case <-time.After(time.Minute):
			j.t.Fatalf("no %q within a minute:\n%s", s, j.log())
		}
	}
}

// wait waits for the job to end, at most d (the runner's own timeouts);
// ok is false when d passed first.
func (j *job) wait(d time.Duration) (err error, ok bool) {
	select {
	case err := <-j.done:
		j.done <- err
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

func events(t *testing.T, dir string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "events"))
	return string(b)
}

func step(id, line string, background bool) plan.Step {
	return plan.Step{Commands: []plan.Command{{ID: id, CommandLine: line, Background: background}}}
}

// serverPlan is a workspace with a server started by postStart (a copy of
// sleep named wsserver, so any container can look for it by name), a
// preStop that records whether the server still runs, and a postStop.
func serverPlan(dir string) *plan.Plan {
	return &plan.Plan{Version: plan.Version, Workspace: "w", WorkingDir: dir,
		PostStart: []plan.Step{step("server", `cp "$(command -v sleep)" ./wsserver && echo started && exec ./wsserver 1000`, true)},
		PreStop: []plan.Step{step("check",
			`if cat /proc/[0-9]*/comm 2>/dev/null | grep -qx wsserver; then echo preStop-saw-server-alive >> events; else echo preStop-saw-server-gone >> events; fi`, false)},
		PostStop: []plan.Step{step("post", `echo postStop >> events`, false)},
	}
}
