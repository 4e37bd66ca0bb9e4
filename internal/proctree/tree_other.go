//go:build unix && !linux

package proctree

import (
	"os/exec"
	"syscall"
	"time"
)

const sigterm = syscall.SIGTERM

// New returns a tree that signals the process groups of what it started:
// this system has neither cgroups nor a child subreaper.
func New(Options) (*Tree, error) { return &Tree{mode: ModeGroups, roots: map[int]*exec.Cmd{}}, nil }

// Close does nothing here.
func (t *Tree) Close() error { return nil }

func (t *Tree) prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if !cmd.SysProcAttr.Setsid {
		cmd.SysProcAttr.Setpgid = true
	}
}

// Pids returns the started processes still running.
func (t *Tree) Pids() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for pid := range t.roots {
		if syscall.Kill(pid, 0) == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Signal sends sig to the process group of every started process.
func (t *Tree) Signal(sig syscall.Signal) int {
	pids := t.Pids()
	for _, p := range pids {
		if syscall.Kill(-p, sig) != nil {
			_ = syscall.Kill(p, sig)
		}
	}
	return len(pids)
}

func (t *Tree) killAll() { t.Signal(syscall.SIGKILL) }

func (t *Tree) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for len(t.Pids()) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // no pidfd here
	}
	return true
}

// Alive reports whether process pid exists.
func Alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// OwnCgroup is Linux only.
func OwnCgroup() (string, error) { return "", syscall.ENOSYS }

// CgroupPids is Linux only.
func CgroupPids(string) []int { return nil }

// EndCgroup is Linux only.
func EndCgroup(string, time.Duration) []int { return nil }
