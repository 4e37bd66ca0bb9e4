package local

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ws-dev/ws/internal/proctree"
)

// TestJobTreeEndsWhatTheAgentMissed: a process the job's script leaves
// before (or without) the agent, detached from the session and the marker
// variable, is ended with the job's tree; in cgroup mode also by the path
// kept in the state dir (the watchdog and 'ws down' after a killed
// supervisor).
func TestJobTreeEndsWhatTheAgentMissed(t *testing.T) {
	for _, killed := range []bool{false, true} {
		dir := t.TempDir()
		var log bytes.Buffer
		tree := jobTree(&log, dir, "test-"+strconv.Itoa(os.Getpid()), 0)
		pidfile := filepath.Join(dir, "pid")
		c := exec.Command("/bin/sh", "-c", `setsid env -i /bin/sh -c 'sleep 1000 >/dev/null 2>&1 & echo $! > `+pidfile+`'`)
		c.SysProcAttr = jobAttr()
		done, err := startLocked(c, tree)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(pidfile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if !alive(pid) {
			t.Fatalf("detached process %d is not running", pid)
		}
		if killed && tree.Mode() == proctree.ModeCgroup {
			// The supervisor is gone: only the state dir knows the cgroup.
			endJobCgroup(dir)
		} else {
			endTree(&log, dir, tree)
		}
		if alive(pid) {
			t.Fatalf("detached process %d survived (killed supervisor: %v; %s)", pid, killed, log.String())
		}
		tree.Close()
	}
}
