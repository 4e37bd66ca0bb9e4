package proctree

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const sigterm = syscall.SIGTERM

// New returns a tree in the best mode this process can have: a cgroup of
// its own when cgroup v2 is mounted and the process may make and use a
// child of its cgroup (root on a host, or a delegated cgroup; Docker mounts
// it read-only), else the subreaper. An error with a non-nil tree is a warning: the tree works
// but orphans escape it.
func New(opts Options) (*Tree, error) {
	t := &Tree{roots: map[int]*exec.Cmd{}, cgfd: -1, reap: opts.Reap}
	if !opts.NoCgroup && opts.Name != "" {
		if dir, fd, err := makeCgroup(opts.Parent, opts.Name); err == nil {
			t.mode, t.cgroup, t.cgfd = ModeCgroup, dir, fd
			return t, nil
		}
	}
	t.mode = ModeSubreaper
	if t.reap {
		t.startReaper()
	}
	registry.Lock()
	registry.subreapers++
	registry.Unlock()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		// Still usable: it ends what it started and their descendants,
		// but orphans go to init.
		return t, fmt.Errorf("become the child subreaper (orphaned processes will escape a stop): %w", err)
	}
	return t, nil
}

// Close stops the reaper and removes the tree's cgroup; call it after Kill.
func (t *Tree) Close() error {
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	if t.mode == ModeSubreaper {
		registry.Lock()
		registry.subreapers--
		if registry.subreapers == 0 {
			_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		}
		registry.Unlock()
		t.mode = ModeGroups // closed: a second Close does nothing
		return nil
	}
	if t.mode != ModeCgroup {
		return nil
	}
	if t.cgfd >= 0 {
		unix.Close(t.cgfd)
		t.cgfd = -1
	}
	return removeCgroup(t.cgroup)
}

// removeCgroup removes dir and the (empty) cgroups below it, deepest first.
func removeCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

func (t *Tree) prepare(cmd *exec.Cmd) {
	if t.mode != ModeCgroup {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = t.cgfd
}

// Pids returns the live processes of the tree (zombies excluded).
func (t *Tree) Pids() []int {
	if t.mode == ModeCgroup {
		return CgroupPids(t.cgroup)
	}
	t.reapOrphans()
	self := os.Getpid()
	registry.Lock()
	t.mu.Lock()
	var queue []int
	for pid := range t.roots {
		queue = append(queue, pid)
	}
	// Orphans: children of this process that no owner waits for.
	for _, c := range children(self) {
		if !registry.started[c] && !registry.excluded[c] {
			queue = append(queue, c)
		}
	}
	t.mu.Unlock()
	registry.Unlock()
	seen := map[int]bool{}
	var out []int
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		if live(p) {
			out = append(out, p)
		}
		queue = append(queue, children(p)...)
	}
	return out
}

// Signal sends sig to every process of the tree and returns how many.
func (t *Tree) Signal(sig syscall.Signal) int {
	pids := t.Pids()
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
	return len(pids)
}

func (t *Tree) killAll() {
	if t.mode == ModeCgroup && KillCgroup(t.cgroup) == nil {
		return
	}
	// Processes may fork while they are killed: repeat until none is left.
	for range 50 {
		if t.Signal(syscall.SIGKILL) == 0 {
			return
		}
	}
}

// waitGone waits until the tree is empty or d has passed, woken by the
// exit of any member (pidfd), not by a clock.
func (t *Tree) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		pids := t.Pids()
		if len(pids) == 0 {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		waitAnyExit(pids, left)
	}
}

// waitAnyExit blocks until one of pids exits or d passes.
func waitAnyExit(pids []int, d time.Duration) {
	var fds []unix.PollFd
	for _, p := range pids {
		fd, err := unix.PidfdOpen(p, 0)
		if err != nil {
			return // gone already (or no pidfd): look again at once
		}
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	defer func() {
		for _, f := range fds {
			unix.Close(int(f.Fd))
		}
	}()
	ms := int(d.Milliseconds()) + 1
	for {
		_, err := unix.Poll(fds, ms)
		if err != unix.EINTR {
			return
		}
	}
}

// startReaper reaps orphans reparented to this process (subreaper mode) on
// every SIGCHLD; children an owner waits for are left to it.
func (t *Tree) startReaper() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ch:
				t.reapOrphans()
			}
		}
	}()
	t.stop = func() { signal.Stop(ch); close(done) }
}

func (t *Tree) reapOrphans() {
	if !t.reap {
		return
	}
	registry.Lock()
	defer registry.Unlock()
	for _, c := range children(os.Getpid()) {
		if registry.started[c] || registry.excluded[c] {
			continue
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(c, &ws, unix.WNOHANG, nil)
	}
}

// children lists pid's children from /proc/PID/task/*/children, else by a
// scan of every process's parent.
func children(pid int) []int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if errors.Is(err, os.ErrNotExist) {
			return scanChildren(pid)
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func scanChildren(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		p, _ := strconv.Atoi(filepath.Base(d))
		if st, ok := stat(p); ok && st.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

type procStat struct {
	state byte
	ppid  int
}

func stat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) S ppid ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return procStat{state: f[0][0], ppid: ppid}, true
}

// live reports whether pid exists and is not a zombie.
func live(pid int) bool {
	st, ok := stat(pid)
	return ok && st.state != 'Z' && st.state != 'X'
}

// Alive reports whether process pid exists and has not exited (a zombie
// has).
func Alive(pid int) bool { return pid > 0 && live(pid) }

// makeCgroup makes dir/name under parent (default: this process's cgroup
// v2) and checks, by starting /bin/sh in it, that processes can be started
// there.
func makeCgroup(parent, name string) (string, int, error) {
	if parent == "" {
		p, err := OwnCgroup()
		if err != nil {
			return "", -1, err
		}
		parent = p
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", -1, err
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return "", -1, err
	}
	probe := exec.Command("/bin/sh", "-c", ":")
	probe.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := probe.Run(); err != nil {
		unix.Close(fd)
		os.Remove(dir)
		return "", -1, err
	}
	return dir, fd, nil
}

// OwnCgroup returns the cgroup v2 directory this process is in, from
// /proc/self/cgroup and the cgroup2 mount in /proc/self/mountinfo.
func OwnCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var path string
	found := false
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			path, found = p, true
		}
	}
	if !found {
		return "", errors.New("no cgroup v2 hierarchy")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source super
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		fs := strings.Fields(pre)
		if len(fs) < 5 {
			continue
		}
		root, mnt := fs[3], fs[4]
		rel, ok := strings.CutPrefix(path, root)
		if !ok {
			continue
		}
		return filepath.Join(mnt, rel), nil
	}
	return "", errors.New("cgroup2 is not mounted")
}

// CgroupPids returns the processes in cgroup dir and its descendants.
func CgroupPids(dir string) []int {
	var out []int
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && live(pid) {
				out = append(out, pid)
			}
		}
		return nil
	})
	return out
}

// KillCgroup SIGKILLs every process in cgroup dir at once (cgroup.kill,
// Linux 5.14+), else one by one.
func KillCgroup(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err == nil {
		return nil
	}
	for range 50 {
		pids := CgroupPids(dir)
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("processes left in %s", dir)
}

// EndCgroup ends what is left in cgroup dir (SIGTERM, then SIGKILL after
// grace) and removes it: for a watchdog whose supervisor died.
func EndCgroup(dir string, grace time.Duration) []int {
	t := &Tree{mode: ModeCgroup, cgroup: dir, cgfd: -1}
	left := t.Kill(grace)
	if len(left) == 0 {
		_ = removeCgroup(dir)
	}
	return left
}
