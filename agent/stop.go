package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ws-dev/ws/internal/proctree"
)

// start starts cmd in the workspace's process tree (start replaces
// cmd.Start, for pty.Start) and moves the sentinel above it.
func (a *Agent) start(cmd *exec.Cmd, start func() error) error {
	if err := a.tree.Start(cmd, start); err != nil {
		return err
	}
	a.respawnSentinel()
	return nil
}

func (a *Agent) treeText() string {
	switch a.tree.Mode() {
	case proctree.ModeCgroup:
		return "in cgroup " + a.tree.Cgroup()
	case proctree.ModeSubreaper:
		return "as its descendants (child subreaper; no writable cgroup v2)"
	default:
		return "by process group"
	}
}

// preStop runs the plan's preStop steps, bounded by StopTimeout, once per
// job: the agent and after_script both try, whoever claims it first runs it.
func (a *Agent) preStop() {
	if len(a.cfg.Plan.PreStop) == 0 {
		return
	}
	if !a.claimPreStop() {
		a.logf("preStop: already run for this job (%s exists)", a.cfg.StopClaim)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.StopTimeout)
	defer cancel()
	a.logf("running preStop")
	if err := a.RunSteps(ctx, "preStop", a.cfg.Plan.PreStop); err != nil {
		a.logf("%v", err)
	}
}

// claimPreStop creates StopClaim; false when it exists (someone ran
// preStop for this job already).
func (a *Agent) claimPreStop() bool {
	if a.cfg.StopClaim == "" {
		return true
	}
	_ = os.MkdirAll(filepath.Dir(a.cfg.StopClaim), 0o755)
	f, err := os.OpenFile(a.cfg.StopClaim, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false
	}
	if err != nil {
		a.logf("warning: cannot record the preStop run in %s (%v): after_script may run it again", a.cfg.StopClaim, err)
		return true
	}
	fmt.Fprintf(f, "pid %d\n", os.Getpid())
	f.Close()
	return true
}

// JobDeadline is when the agent stops itself: the job's start
// (CI_JOB_STARTED_AT, RFC 3339) plus its timeout (CI_JOB_TIMEOUT, seconds;
// GitLab and runner 15.7+) minus margin. Both count from the job's start,
// unlike RUNNER_SCRIPT_TIMEOUT, which counts from the script's, so image
// pulls and the clone do not eat the margin. ok is false when either
// variable is missing or malformed.
func JobDeadline(startedAt, timeoutSeconds string, margin time.Duration) (deadline time.Time, ok bool) {
	start, err := time.Parse(time.RFC3339, strings.TrimSpace(startedAt))
	if err != nil {
		return time.Time{}, false
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(timeoutSeconds), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return start.Add(time.Duration(secs)*time.Second - margin), true
}
