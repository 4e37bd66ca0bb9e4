package up

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/config"
)

type waiter struct {
	opts     *UpOptions
	client   *gitlab.Client
	project  string
	name     string
	settings config.Settings
	p        *progress
	out      *Result
}

// wait polls the workspace job until it runs (and, with a gateway, until
// the agent connected), fails, or the wait times out.
func (w *waiter) wait(ctx context.Context) error {
	f := w.opts.Factory
	deadline := f.Now().Add(w.opts.WaitTimeout)
	probe := cmdutil.NewAgentProbe(w.settings)
	agentWait := false // the job runs; waiting for its agent
	runnersChecked, resourceNoted := false, false
	for {
		job, err := w.client.PipelineJob(ctx, w.project, w.out.Pipeline.ID)
		if err != nil {
			return cmdutil.GitLabError(err)
		}
		if job != nil {
			w.out.Job = job
			if job.PipelineStatus != "" && job.PipelineStatus != w.out.Pipeline.Status {
				pl := *w.out.Pipeline // the pipeline as GitLab reports it now, not as created
				pl.Status = job.PipelineStatus
				w.out.Pipeline = &pl
			}
			w.out.State = gitlab.State(w.out.Pipeline, job)
			if !agentWait || job.Status != "running" {
				w.p.status(fmt.Sprintf("job %d (%s) %s", job.ID, job.Name, job.Status))
			}
			switch {
			case job.Status == "waiting_for_resource" && !resourceNoted:
				resourceNoted = true
				w.p.line(ResourceWait(w.name))
			case job.Status == "pending" && !runnersChecked:
				runnersChecked = true
				rc, err := w.client.CheckRunners(ctx, w.project, job.Tags)
				if err != nil {
					return cmdutil.GitLabError(err)
				}
				if warn := rc.Warning(); warn != "" {
					w.out.Warnings = append(w.out.Warnings, warn)
					w.p.warn(warn)
				}
			case job.Status == "running":
				if probe == nil {
					w.p.done()
					return nil
				}
				ok, err := probe.Connected(ctx, w.project, w.name)
				switch {
				case errors.Is(err, cmdutil.ErrProbeUnsupported):
					w.p.done()
					return nil
				case err != nil:
					w.p.warn(err.Error())
				case ok:
					w.out.Agent = "connected"
					w.p.status("agent connected")
					w.p.done()
					return nil
				default:
					w.out.Agent = "waiting"
					agentWait = true
					w.p.status("waiting for the agent to connect to the gateway")
				}
			case gitlab.Final(job.Status) || job.Status == "manual":
				w.p.done()
				why := job.Status
				if job.FailureReason != "" {
					why += " (" + job.FailureReason + ")"
				}
				return &cmdutil.HintError{
					Err:  fmt.Errorf("workspace %s did not start: job %d %s", w.name, job.ID, why),
					Hint: fmt.Sprintf("read the job log with 'ws logs %s', or open %s", w.name, job.WebURL),
				}
			}
		}
		if !f.Now().Before(deadline) {
			w.p.done()
			return &cmdutil.HintError{
				Err:  fmt.Errorf("workspace %s is still %s after %s", w.name, w.out.State, w.opts.WaitTimeout),
				Hint: fmt.Sprintf("the pipeline keeps going; follow it with 'ws status %s' or raise --wait-timeout", w.name),
			}
		}
		if err := f.Sleep(ctx, f.PollInterval); err != nil {
			return err
		}
	}
}

// ResourceWait says why a workspace job waits for its resource group: the
// previous job of the workspace (a restart's canceled one) holds it until
// its after_script and uploads end (docs/launching.md, "Restart").
func ResourceWait(name string) string {
	return fmt.Sprintf("waiting for resource group ws/%s: the previous job of %s holds it until its after_script "+
		"(postStop; up to 5 min, RUNNER_AFTER_SCRIPT_TIMEOUT) and its cache and artifact uploads end", name, name)
}

// progress prints steps to stderr. On a TTY the current phase is one
// live, rewritten line with the time spent in it, and each phase that ends
// stays on screen with its duration; otherwise each step is printed once,
// as a plain line. Quiet (JSON output, --quiet) prints only warnings.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	cs    cmdutil.ColorScheme
	now   func() time.Time

	phase string    // the live line's text
	since time.Time // when the phase began
	last  string    // the last line printed without a TTY
}

func newProgress(ios *cmdutil.IOStreams, quiet bool, now func() time.Time) *progress {
	return &progress{w: ios.ErrOut, tty: ios.IsStderrTTY(), quiet: quiet, cs: ios.ColorErr(), now: now}
}

// line prints a step that has no duration (a commit, a pipeline created).
func (p *progress) line(s string) {
	if p.quiet {
		return
	}
	p.done()
	fmt.Fprintln(p.w, s)
}

// status starts a phase, or redraws the current one with its elapsed time.
func (p *progress) status(s string) {
	if p.quiet {
		return
	}
	if !p.tty {
		if s != p.last {
			p.last = s
			fmt.Fprintln(p.w, s)
		}
		return
	}
	if s != p.phase {
		p.done()
		p.phase, p.since = s, p.now()
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s %s", p.cs.Yellow("•"), s, p.cs.Gray(p.elapsed()))
}

func (p *progress) elapsed() string {
	return "(" + p.now().Sub(p.since).Round(time.Second).String() + ")"
}

func (p *progress) warn(s string) {
	p.done()
	fmt.Fprintf(p.w, "%s %s\n", p.cs.Yellow("warning:"), s)
}

// done ends the live phase: its line stays, with a check mark and the time it took.
func (p *progress) done() {
	if p.phase != "" {
		fmt.Fprintf(p.w, "\r\033[K%s %s %s\n", p.cs.Green("✓"), p.phase, p.cs.Gray(p.elapsed()))
		p.phase = ""
	}
}
