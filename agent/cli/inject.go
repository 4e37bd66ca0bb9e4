package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// InjectDir is where the agent service delivers the agent, relative to
// $CI_BUILDS_DIR: outside the project directory, so the clone's 'git
// clean' does not remove it, and per job ($CI_JOB_ID/), so jobs sharing the
// builds volume do not collide. The compiler writes the same path.
const InjectDir = ".ws-agent"

// Inject is the agent service's command (--agent-source service). Services
// share the builds volume with the job container, so it copies this binary
// to $CI_BUILDS_DIR/.ws-agent/$CI_JOB_ID/ws-agent, where the job's script
// waits for it, and then holds a lock on that directory until the service
// is stopped.
//
// On the Docker executor with GIT_STRATEGY fetch (the default) the builds
// dir is a volume that later jobs of the project reuse (gitlab-runner
// executors/docker createBuildVolume: volumesManager.Create, not
// CreateTemporary). So Inject also removes the directories of earlier jobs
// that no live service holds: what after_script could not remove (a job
// timeout skips after_script) goes with the next delivery.
func Inject(ctx context.Context, e Env) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	builds, job := e.Getenv("CI_BUILDS_DIR"), e.Getenv("CI_JOB_ID")
	if builds == "" || job == "" {
		return &hintError{errors.New("CI_BUILDS_DIR or CI_JOB_ID is not set"), "'ws-agent inject' is the command of the ws-agent-injector service in a workspace job"}
	}
	root := filepath.Join(builds, InjectDir)
	own := filepath.Join(root, job)
	if err := os.MkdirAll(own, 0o755); err != nil {
		return fmt.Errorf("deliver the agent: %w", err)
	}
	lock, err := lockDir(own, true)
	if err != nil {
		return fmt.Errorf("lock %s: %w", own, err)
	}
	defer lock.Close()
	removed := sweepStale(root, job)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dst := filepath.Join(own, "ws-agent")
	if err := copyFile(exe, dst+".tmp"); err != nil {
		return fmt.Errorf("deliver the agent: %w", err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		return fmt.Errorf("deliver the agent: %w", err)
	}
	fmt.Fprintf(e.Stdout, "ws-agent: delivered %s (removed %d stale deliveries)\n", dst, removed)
	<-ctx.Done()
	_ = os.RemoveAll(own)
	return nil
}

// lockDir takes an exclusive flock on directory dir (blocking or not).
func lockDir(dir string, wait bool) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sweepStale removes the deliveries under root, except keep, that no
// running service holds locked; it returns how many.
func sweepStale(root, keep string) int {
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0
	}
	n := 0
	for _, en := range entries {
		if en.Name() == keep || !en.IsDir() {
			continue
		}
		p := filepath.Join(root, en.Name())
		l, err := lockDir(p, false)
		if err != nil {
			continue // a live job's, or unreadable: leave it
		}
		if os.RemoveAll(p) == nil {
			n++
		}
		l.Close()
	}
	return n
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
