package local

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/ws-dev/ws/internal/proctree"
)

// alive reports whether process pid exists (and is not a zombie on Linux).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		// pid (comm) S ...: the state follows the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return false
		}
	}
	return true
}

// Marked returns the processes whose environment holds MarkerEnv=marker,
// except this process. It reads /proc, so it finds them only on Linux;
// elsewhere it returns nil and cleanup relies on process groups.
func Marked(marker string) []int {
	if marker == "" || runtime.GOOS != "linux" {
		return nil
	}
	want := []byte(MarkerEnv + "=" + marker + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(d + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, want...)) {
			continue
		}
		if alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// Sweep ends every process marked with marker: SIGTERM, then SIGKILL to
// those left after grace, repeated until none is left or deadline. It
// returns the processes still alive at the end.
func Sweep(marker string, grace, deadline time.Duration) []int {
	pids := Marked(marker)
	if len(pids) == 0 {
		return nil
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	end := time.Now().Add(grace)
	for time.Now().Before(end) && len(Marked(marker)) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	end = time.Now().Add(deadline)
	for {
		pids = Marked(marker)
		if len(pids) == 0 || time.Now().After(end) {
			return pids
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGone waits until pid has exited or d has passed.
func waitGone(pid int, d time.Duration) bool {
	end := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// The job's process tree (shell mode). The marker variable above finds the
// job's processes only while they keep their environment: 'setsid env -i
// cmd &' in a postStart command drops it. So shell mode also starts the job
// in an internal/proctree tree: a cgroup v2 of its own when this user may
// make one (its path is kept in the state dir, for 'ws down' and the
// watchdog), else the supervisor as the child subreaper, which every
// orphan of the job is reparented to.

// cgroupFile holds the path of the job's cgroup, when it has one.
const cgroupFile = "cgroup"

// jobTree makes the tree for the job of the workspace in dir; watchdog is
// the supervisor's other child, which the tree must leave alone. It says in
// the job log how the processes are kept.
func jobTree(log io.Writer, dir, marker string, watchdog int) *proctree.Tree {
	proctree.Exclude(watchdog)
	// The supervisor starts nothing else in shell mode (the watchdog is
	// excluded), so it may reap the job's orphans.
	t, err := proctree.New(proctree.Options{Name: "ws-local-" + marker, Reap: true})
	if err != nil {
		fmt.Fprintf(log, "ws: warning: %v\n", err)
	}
	switch t.Mode() {
	case proctree.ModeCgroup:
		_ = os.WriteFile(filepath.Join(dir, cgroupFile), []byte(t.Cgroup()), 0o600)
		fmt.Fprintf(log, "ws: the job's processes are kept in cgroup %s\n", t.Cgroup())
	case proctree.ModeSubreaper:
		fmt.Fprintln(log, "ws: the job's processes are kept as descendants of the supervisor (child subreaper; no writable cgroup v2)")
	}
	return t
}

func startIn(t *proctree.Tree, c *exec.Cmd) error {
	if t == nil {
		return c.Start()
	}
	return t.Start(c, nil)
}

func doneIn(t *proctree.Tree, c *exec.Cmd) {
	if t != nil {
		t.Done(c)
	}
}

// endTree ends every process left in the job's tree and removes it.
func endTree(log io.Writer, dir string, t *proctree.Tree) {
	if t == nil {
		return
	}
	if left := t.Kill(2 * time.Second); len(left) > 0 {
		fmt.Fprintf(log, "ws: processes of the job still running: %v\n", left)
	}
	_ = t.Close()
	_ = os.Remove(filepath.Join(dir, cgroupFile))
}

// endJobCgroup ends what is left in the job's cgroup of the workspace in dir
// (the watchdog after a killed supervisor; 'ws down').
func endJobCgroup(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, cgroupFile))
	if err != nil || len(b) == 0 {
		return
	}
	if left := proctree.EndCgroup(string(b), time.Second); len(left) == 0 {
		_ = os.Remove(filepath.Join(dir, cgroupFile))
	}
}
