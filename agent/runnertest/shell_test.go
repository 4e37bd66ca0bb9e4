package runnertest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/proctree"
	"github.com/ws-dev/ws/plan"
)

// The shell executor starts the job's script in a process group of its own
// and, on cancel, sends SIGTERM to that group, then SIGKILL to it after
// process.GracefulTimeout (10 min) (gitlab-runner helpers/process
// killer_unix.go Terminate/ForceKill with -pid, killer.go KillAndWait).
// Whatever left the group (setsid, a double fork) gets nothing.

// TestShellCancelEndsDetachedProcesses: postStart leaves background
// processes behind the way devfiles do (python3 -m http.server &), one of
// them in a new session with an empty environment; the runner's
// process-group SIGTERM reaches the agent, which runs preStop and ends all of
// them.
func TestShellCancelEndsDetachedProcesses(t *testing.T) {
	dir := t.TempDir()
	p := &plan.Plan{Version: plan.Version, Workspace: "w", WorkingDir: dir,
		PostStart: []plan.Step{
			step("bg", `sleep 1000 & echo $! > bg.pid`, false),
			step("detached", `setsid env -i /bin/sh -c 'sleep 1001 & echo $! > detached.pid'`, false),
		},
		PreStop: []plan.Step{step("check", `kill -0 "$(cat bg.pid)" && echo preStop-saw-bg-alive >> events`, false)},
	}
	j := start(t, dir, env(t, dir, p), &syscall.SysProcAttr{Setpgid: true}, "/bin/sh", "-c", `"$WS_BIN" agent; echo "agent exit $?"`)
	j.waitFor(`workspace "w" is ready`)
	pids := []int{readPid(t, dir, "bg.pid"), readPid(t, dir, "detached.pid")}
	for _, p := range pids {
		if !proctree.Alive(p) {
			t.Fatalf("background process %d is not running before the cancel", p)
		}
	}
	if err := syscall.Kill(-j.cmd.Process.Pid, syscall.SIGTERM); err != nil { // Terminate()
		t.Fatal(err)
	}
	if _, ok := j.wait(time.Minute); !ok {
		t.Fatalf("the job did not end on SIGTERM:\n%s", j.log())
	}
	for _, p := range pids {
		if proctree.Alive(p) {
			t.Errorf("background process %d survived the cancel:\n%s", p, j.log())
		}
	}
	if !strings.Contains(events(t, dir), "preStop-saw-bg-alive") {
		t.Errorf("preStop ran after the background processes were gone:\n%s", j.log())
	}
}

func readPid(t *testing.T, dir, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
