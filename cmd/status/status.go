// Package status implements 'ws status' and the row shape 'ws list' shares.
package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gitlab"
)

// StatusOptions are the inputs of 'ws status'.
type StatusOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Name    string
	cmdutil.GitLabFlags
}

// Workspace is the JSON shape of one workspace in 'ws status' and 'ws list'.
type Workspace struct {
	Name       string           `json:"name"`
	Branch     string           `json:"branch"`
	State      string           `json:"state"` // none, starting, running, stopping, stopped, failed
	AgeSeconds int64            `json:"ageSeconds"`
	Commit     string           `json:"commit"`
	Pipeline   *gitlab.Pipeline `json:"pipeline"`
	Job        *gitlab.Job      `json:"job"`
	Warnings   []string         `json:"warnings"`
	// Local and Mode describe a workspace started by 'ws up --local'.
	Local bool   `json:"local,omitempty"`
	Mode  string `json:"mode,omitempty"`
}

// FromGitLab converts a workspace; now is the Factory's clock.
func FromGitLab(w *gitlab.Workspace, now time.Time) Workspace {
	out := Workspace{Name: w.Name, Branch: w.Branch, State: w.State(), Commit: w.Commit, Pipeline: w.Pipeline, Job: w.Job, Warnings: []string{}}
	if w.Pipeline != nil && !w.Pipeline.CreatedAt.IsZero() {
		out.AgeSeconds = int64(now.Sub(w.Pipeline.CreatedAt).Seconds())
	}
	return out
}

// NewCmdStatus returns 'ws status'.
func NewCmdStatus(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "status NAME",
		Short:   "Show a workspace's state, pipeline and job",
		Example: `  $ ws status demo --output json`,
		Args:    cmdutil.UsageArgs("status", cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := cmdutil.CheckFormat("status", "output", opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return statusRun(c.Context(), opts)
		},
	}
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Project == "" { // a workspace started by 'ws up --local'
		if lw, ok, err := findLocal(opts.Factory.Getenv, opts.Factory.Now(), opts.Name); err != nil || ok {
			if err != nil || opts.Output == cmdutil.OutputJSON {
				return errors.Join(err, cmdutil.WriteJSON(opts.IO.Out, lw))
			}
			_, err = fmt.Fprintf(opts.IO.Out, "%s: %s (local, %s mode)\n", lw.Name, lw.State, lw.Mode)
			return err
		}
	}
	project, client, err := cmdutil.ProjectClient(opts.Factory, opts.GitLabFlags)
	if err != nil {
		return err
	}
	w, err := client.Status(ctx, project, opts.Name)
	if err != nil {
		return cmdutil.GitLabError(err)
	}
	out := FromGitLab(w, opts.Factory.Now())
	if w.Job != nil && w.Job.Status == "pending" {
		rc, err := client.CheckRunners(ctx, project, w.Job.Tags)
		if err != nil {
			return cmdutil.GitLabError(err)
		}
		if warn := rc.Warning(); warn != "" {
			out.Warnings = append(out.Warnings, warn)
			fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", warn)
		}
	}
	if opts.Output == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	o := opts.IO.Out
	fmt.Fprintf(o, "%s: %s\n", out.Name, out.State)
	fmt.Fprintf(o, "  branch:   %s\n", out.Branch)
	if p := out.Pipeline; p != nil {
		fmt.Fprintf(o, "  pipeline: %d %s, %s ago  %s\n", p.ID, p.Status, cmdutil.Age(opts.Factory.Now(), p.CreatedAt), p.WebURL)
	}
	if j := out.Job; j != nil {
		line := fmt.Sprintf("  job:      %d %s %s", j.ID, j.Name, j.Status)
		if j.FailureReason != "" {
			line += " (" + j.FailureReason + ")"
		}
		fmt.Fprintf(o, "%s  %s\n", line, j.WebURL)
	}
	if out.State == "running" {
		fmt.Fprintf(o, "  attach:   ws shell %s\n", out.Name)
	}
	return nil
}
