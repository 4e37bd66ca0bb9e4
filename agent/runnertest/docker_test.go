package runnertest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerSigTermScript is the script the Docker executor execs into the
// build container on cancel and on RUNNER_SCRIPT_TIMEOUT, verbatim from
// gitlab-runner shells/bash.go (ContainerSigTermScriptForLinux; run by
// executors/docker sendSIGTERMToContainerProcs): SIGTERM to every PID but 1
// and its own, highest first, waiting up to 6 s for each to exit.
const containerSigTermScript = `PROCS=$(cd /proc && ls -rvd [0-9]*) &&
for P in $PROCS; do
	if [ $$ -ne $P ] && [ $P -ne 1 ]; then
		kill -TERM $P 2>/dev/null &&
		ATTEMPTS=6 &&
		while [ -e /proc/$P ] && [ $ATTEMPTS -gt 0 ]; do
			sleep 1 && ATTEMPTS=$((ATTEMPTS-1));
		done;
	fi;
done
`

// The Docker executor's budgets (executors/docker/internal/wait/wait.go
// StopKillWait): the graceful-exit script gets a 10 s context, then
// ContainerStop with the daemon's default stop timeout (10 s) sends SIGTERM
// to PID 1 and SIGKILL after it.
const (
	sweepBudget = 10 * time.Second
	stopTimeout = 10 * time.Second
)

func needNamespaces(t *testing.T) {
	t.Helper()
	_, e1 := exec.LookPath("unshare")
	_, e2 := exec.LookPath("nsenter")
	if e1 != nil || e2 != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the Docker stop harness needs unshare and nsenter (util-linux) and root: CI must have them")
		}
		t.Skip("needs unshare, nsenter (util-linux) and root for a PID namespace like a container's")
	}
}

// container starts the job's script as PID 1 of a new PID namespace, as
// the Docker executor runs the build container: PID 1 is the shell, the
// agent its child, the workspace's processes above it.
func container(t *testing.T, dir string, e []string, script string) *job {
	return start(t, dir, e, nil, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "/bin/sh", "-c", script)
}

// pid1 is the host PID of the namespace's PID 1 (unshare's only child), 0
// once it has ended.
func (j *job) pid1() int {
	pid := strconv.Itoa(j.cmd.Process.Pid)
	b, _ := os.ReadFile("/proc/" + pid + "/task/" + pid + "/children")
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

// signal1 sends sig to the namespace's PID 1, if it still runs.
func (j *job) signal1(sig syscall.Signal) {
	if p := j.pid1(); p > 0 {
		_ = syscall.Kill(p, sig)
	}
}

// settled waits until the workspace is ready and its server runs: no
// process starts or ends then. The runner's sweep lists /proc with
// 'ls -rvd [0-9]*' and runs its loop only if ls succeeds ('&&'): a PID that
// ends between the shell's glob and ls makes it skip every SIGTERM, and the
// container stop that follows signals PID 1 only. That is the runner's
// behaviour too; the tests below take the stop at a quiet moment.
func (j *job) settled() {
	j.t.Helper()
	j.waitFor(`workspace "w" is ready`)
	j.waitFor("[server] started")
}

// dockerStop does what StopKillWait does to the build container: exec the
// sweep and wait for it at most sweepBudget (the runner stops waiting then,
// it does not stop the script), then stop the container: SIGTERM to PID 1,
// SIGKILL after stopTimeout.
func (j *job) dockerStop() {
	j.t.Helper()
	p1 := j.pid1()
	if p1 == 0 {
		j.t.Fatalf("the container is not running:\n%s", j.log())
	}
	sweep := exec.Command("nsenter", "--target", strconv.Itoa(p1), "--pid", "--mount", "/bin/sh", "-c", os.Getenv("WS_SWEEP_DEBUG")+containerSigTermScript)
	sweep.Stderr = os.Stderr
	if err := sweep.Start(); err != nil {
		j.t.Fatal(err)
	}
	swept := make(chan struct{})
	go func() { _ = sweep.Wait(); close(swept) }()
	select {
	case <-swept:
	case err := <-j.done:
		j.done <- err // for j.wait below
	case <-time.After(sweepBudget):
	}
	j.signal1(syscall.SIGTERM)
	if _, ok := j.wait(stopTimeout); !ok {
		j.signal1(syscall.SIGKILL)
	}
	if _, ok := j.wait(time.Minute); !ok {
		j.t.Fatalf("the container did not stop:\n%s", j.log())
	}
}

// afterScript runs after_script as the Docker executor does: in a fresh
// container of the same image, on the same builds volume (the project dir).
func afterScript(t *testing.T, dir string, e []string) string {
	t.Helper()
	j := container(t, dir, e, `"$WS_BIN" agent --hook stop`)
	if err, ok := j.wait(time.Minute); !ok || err != nil {
		t.Fatalf("after_script: %v\n%s", err, j.log())
	}
	return j.log()
}

// TestDockerStopRunsPreStopFirst: on the Docker executor's stop the agent
// hears the runner before the workspace's processes do (its sentinel has
// the highest PID), so preStop sees the server still running; after_script
// in a fresh container then runs postStop and does not run preStop again.
func TestDockerStopRunsPreStopFirst(t *testing.T) {
	needNamespaces(t)
	dir := t.TempDir()
	e := env(t, dir, serverPlan(dir), "WS_AGENT_SENTINEL=1")
	j := container(t, dir, e, `"$WS_BIN" agent; echo "agent exit $?"`)
	j.settled()
	j.dockerStop()
	log := j.log()
	t.Logf("job log:\n%s", log)
	for _, want := range []string{"the runner is stopping the job", "running preStop", "agent stopped (runner)", "agent exit 0"} {
		if !strings.Contains(log, want) {
			t.Errorf("job log lacks %q:\n%s", want, log)
		}
	}
	if ev := events(t, dir); !strings.Contains(ev, "preStop-saw-server-alive") {
		t.Fatalf("preStop did not see the server alive; events:\n%s\njob log:\n%s", ev, log)
	}
	after := afterScript(t, dir, e)
	if !strings.Contains(after, "preStop: already run for this job") {
		t.Errorf("after_script did not notice the agent's preStop:\n%s", after)
	}
	if ev := events(t, dir); strings.Count(ev, "preStop-saw") != 1 || !strings.Contains(ev, "postStop") {
		t.Errorf("want preStop once and postStop once; events:\n%s", ev)
	}
}

// TestDockerStopWithoutSentinel shows why the sentinel is there: without
// it the sweep reaches the server (a higher PID) before the agent, which
// then runs preStop too late to see it.
func TestDockerStopWithoutSentinel(t *testing.T) {
	needNamespaces(t)
	dir := t.TempDir()
	e := env(t, dir, serverPlan(dir), "WS_AGENT_SENTINEL=0")
	j := container(t, dir, e, `"$WS_BIN" agent; echo "agent exit $?"`)
	j.settled()
	j.dockerStop()
	if ev := events(t, dir); !strings.Contains(ev, "preStop-saw-server-gone") {
		t.Fatalf("want the server ended before preStop (the runner's order); events:\n%s\njob log:\n%s", ev, j.log())
	}
}

// TestDockerKilledAgentLeavesPreStopToAfterScript: when the container is
// killed before the agent heard anything, after_script runs preStop (the
// workspace's processes are gone by then: a fresh container) and postStop.
func TestDockerKilledAgentLeavesPreStopToAfterScript(t *testing.T) {
	needNamespaces(t)
	dir := t.TempDir()
	e := env(t, dir, serverPlan(dir), "WS_AGENT_SENTINEL=1")
	j := container(t, dir, e, `"$WS_BIN" agent`)
	j.settled()
	j.signal1(syscall.SIGKILL)
	if _, ok := j.wait(time.Minute); !ok {
		t.Fatal("the container did not die")
	}
	after := afterScript(t, dir, e)
	ev := events(t, dir)
	if !strings.Contains(ev, "preStop-saw-server-gone") || !strings.Contains(ev, "postStop") {
		t.Fatalf("after_script should run preStop and postStop; events:\n%s\nafter_script:\n%s", ev, after)
	}
}
