package proctree

import (
	"os/exec"
	"sync"
	"time"
)

// Mode names how a Tree keeps its processes.
type Mode string

const (
	// ModeCgroup: the tree's processes start in a cgroup v2 of the tree's
	// own (clone3 CLONE_INTO_CGROUP), which nothing but an explicit move
	// leaves; a stop writes cgroup.kill.
	ModeCgroup Mode = "cgroup"
	// ModeSubreaper: this process is the child subreaper
	// (PR_SET_CHILD_SUBREAPER), so orphaned descendants are reparented to it
	// instead of to init and stay in its process tree, which a stop walks
	// through /proc.
	ModeSubreaper Mode = "subreaper"
	// ModeGroups: neither is available (not Linux): the tree knows the
	// processes it started and signals their process groups.
	ModeGroups Mode = "process groups"
)

// Options configure New.
type Options struct {
	// Name is the name of the tree's cgroup, made under this process's own
	// cgroup (or under Parent); it should be unique on the host, e.g.
	// "ws-agent-<pid>".
	Name string
	// Parent is the cgroup v2 directory to make the tree's cgroup in;
	// default: this process's cgroup.
	Parent string
	// NoCgroup skips the cgroup and uses the subreaper (tests of the
	// fallback; hosts where cgroups are managed by someone else).
	NoCgroup bool
	// Reap makes the tree reap, in subreaper mode, every child of this
	// process that was not started through a Tree and not Excluded: the
	// orphans reparented to it. Set it only in a process whose every child
	// is started through the tree (the agent, the local supervisor): in any
	// other, it could take a child's exit status from the code that waits
	// for it. Without it, exited orphans stay zombies until this process
	// ends (they no longer count as the tree's).
	Reap bool
}

// Tree is the set of processes a workspace started, their descendants and
// the orphans those left. One process should hold one Tree in subreaper
// mode: orphans carry no trace of the tree they came from, so every tree of
// the process claims them.
type Tree struct {
	mode   Mode
	cgroup string // the cgroup directory (ModeCgroup)
	cgfd   int    // an fd of it for CLONE_INTO_CGROUP

	reap  bool
	mu    sync.Mutex
	roots map[int]*exec.Cmd // processes started through Start, not yet Done
	stop  func()            // stops the reaper
}

// Mode reports how the tree keeps its processes.
func (t *Tree) Mode() Mode { return t.mode }

// Cgroup returns the tree's cgroup directory ("" unless ModeCgroup).
func (t *Tree) Cgroup() string { return t.cgroup }

// Start starts cmd inside the tree. start, when not nil, is called to start
// cmd instead of cmd.Start (pty.Start). The caller still waits for cmd and
// then calls Done; until then the tree never reaps it.
func (t *Tree) Start(cmd *exec.Cmd, start func() error) error {
	if start == nil {
		start = cmd.Start
	}
	t.prepare(cmd)
	registry.Lock()
	defer registry.Unlock()
	if err := start(); err != nil {
		return err
	}
	registry.started[cmd.Process.Pid] = true
	t.mu.Lock()
	t.roots[cmd.Process.Pid] = cmd
	t.mu.Unlock()
	return nil
}

// Done tells the tree that cmd's owner has waited for it.
func (t *Tree) Done(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	registry.Lock()
	delete(registry.started, cmd.Process.Pid)
	registry.Unlock()
	t.mu.Lock()
	delete(t.roots, cmd.Process.Pid)
	t.mu.Unlock()
}

// Exclude marks pid, a child of this process started elsewhere (a
// watchdog), as not the workspace's: no tree signals or reaps it.
func Exclude(pid int) {
	registry.Lock()
	registry.excluded[pid] = true
	registry.Unlock()
}

// registry is what every tree of this process shares: which children have
// an owner that waits for them (never reaped by a tree) and which are not
// the workspace's at all.
var registry = struct {
	sync.Mutex
	started  map[int]bool
	excluded map[int]bool
	// subreapers counts the open trees in subreaper mode; the last Close
	// gives the process its ordinary parent role back.
	subreapers int
}{started: map[int]bool{}, excluded: map[int]bool{}}

// Kill ends every process of the tree: SIGTERM to each, then SIGKILL to
// those left after grace, then waits up to killWait for them to be gone. It
// returns the processes still there (none, unless one is stuck in the
// kernel or outside this process's reach).
func (t *Tree) Kill(grace time.Duration) []int {
	if len(t.Pids()) == 0 {
		return nil
	}
	t.Signal(sigterm)
	if t.waitGone(grace) {
		return nil
	}
	t.killAll()
	t.waitGone(killWait)
	return t.Pids()
}

// killWait bounds the wait for SIGKILLed processes to disappear.
const killWait = 5 * time.Second
