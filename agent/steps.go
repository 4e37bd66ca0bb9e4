package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/ws-dev/ws/plan"
)

// RunSteps runs steps in order: a step's commands start together and the
// step ends when its foreground commands have finished; background
// commands are started and left running (tracked for termination). The
// first failing step stops the sequence.
func (a *Agent) RunSteps(ctx context.Context, stage string, steps []plan.Step) error {
	for i, st := range steps {
		var wg sync.WaitGroup
		errs := make([]error, len(st.Commands))
		for j, c := range st.Commands {
			cmd, err := a.startCommand(stage, c)
			if err != nil {
				errs[j] = err
				continue
			}
			if c.Background {
				go func() {
					err := cmd.Wait()
					a.tree.Done(cmd)
					a.logf("%s: %s (background) ended: %v", stage, c.ID, exitText(err))
				}()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				stop := context.AfterFunc(ctx, func() { signalGroup(cmd, syscall.SIGTERM) })
				err := cmd.Wait()
				stop()
				a.tree.Done(cmd)
				if errors.Is(err, exec.ErrWaitDelay) {
					// The command exited 0 but left a background process
					// holding its output (python3 -m http.server &).
					err = nil
				}
				if err != nil {
					errs[j] = fmt.Errorf("%s: command %s failed: %s", stage, c.ID, exitText(err))
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func (a *Agent) startCommand(stage string, c plan.Command) (*exec.Cmd, error) {
	cmd := exec.Command("/bin/sh", "-c", c.CommandLine)
	cmd.Dir = a.dir(c.WorkingDir)
	if cmd.Dir != "" {
		// exec would say "fork/exec /bin/sh: no such file or directory", naming the shell.
		if fi, err := os.Stat(cmd.Dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s: start %s: its working directory %s does not exist (workingDir %q; is $CI_PROJECT_DIR the job's directory?)", stage, c.ID, cmd.Dir, c.WorkingDir)
		}
	}
	cmd.Env = a.env()
	for _, e := range c.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdin = nil
	w := a.prefixWriter("[" + c.ID + "] ")
	cmd.Stdout, cmd.Stderr = w, w
	// Background servers may keep inherited pipes open; don't block on them.
	cmd.WaitDelay = 2 * time.Second
	a.logf("%s: running %s: %s", stage, c.ID, c.CommandLine)
	if err := a.start(cmd, nil); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", stage, c.ID, err)
	}
	return cmd, nil
}

func (a *Agent) dir(d string) string {
	if d != "" {
		return os.ExpandEnv(d)
	}
	return a.cfg.Plan.WorkingDir
}

func exitText(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.Error()
	default:
		return err.Error()
	}
}

// prefixWriter writes each line with prefix to the job log and log file.
func (a *Agent) prefixWriter(prefix string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			a.writeLog(prefix + sc.Text() + "\n")
		}
		_, _ = io.Copy(io.Discard, pr) // drain past an over-long line so writers never block
	}()
	return pw
}

// signalGroup signals cmd's process group (each command and shell runs in
// its own group, so its children get the signal too).
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
}
