package local

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
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
