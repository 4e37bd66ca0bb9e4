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
	Name    string // "" means the default workspace (cmdutil.ResolveName)
	cmdutil.GitLabFlags
}

// Workspace is the JSON shape of one workspace in 'ws status' and 'ws list'
// (docs/json.md).
type Workspace struct {
	Name       string           `json:"name"`
	Project    string           `json:"project"` // "" for a local workspace
	Branch     string           `json:"branch"`
	State      string           `json:"state"` // none, starting, running, stopping, stopped, failed
	AgeSeconds int64            `json:"ageSeconds"`
	Commit     string           `json:"commit"`
	Pipeline   *gitlab.Pipeline `json:"pipeline"`
	Job        *gitlab.Job      `json:"job"`
	// Agent is "connected", "waiting" or "unknown" (no gateway configured,
	// the gateway cannot tell, or not asked: 'ws list').
	Agent    string         `json:"agent"`
	Attach   cmdutil.Attach `json:"attach"`
	Warnings []string       `json:"warnings"`
	// Local and Mode describe a workspace started by 'ws up --local'.
	Local bool   `json:"local,omitempty"`
	Mode  string `json:"mode,omitempty"`
	// Dir is the project directory of a local workspace.
	Dir string `json:"dir,omitempty"`
}

// FromGitLab converts a workspace of project; now is the Factory's clock.
func FromGitLab(w *gitlab.Workspace, project string, now time.Time) Workspace {
	out := Workspace{Name: w.Name, Project: project, Branch: w.Branch, State: w.State(), Commit: w.Commit, Pipeline: w.Pipeline, Job: w.Job,
		Agent: "unknown", Attach: cmdutil.NewAttach(w.Name, nil, w.Pipeline, w.Job), Warnings: []string{}}
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
		Use:     "status [NAME]",
		Short:   "Show a workspace's state, pipeline and job",
		Long: `Show a workspace's state, its pipeline and job, whether its agent is connected
to the gateway, and how to attach.

NAME defaults to the workspace of the devfile in the current directory, else
to your only workspace; with several, ws asks on a terminal and lists them
otherwise.`,
		Example: `  $ ws status
  $ ws status demo --output json
  $ ws status demo --jq .job.status`,
		Args: cmdutil.UsageArgs("status", cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return statusRun(c.Context(), opts)
		},
	}
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	cmd.ValidArgsFunction = cmdutil.CompleteWorkspaces(f, &opts.Project)
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	name, err := cmdutil.ResolveName(ctx, opts.Factory, "status", opts.Name, opts.Project)
	if err != nil {
		return err
	}
	cs := opts.IO.ColorOut()
	if opts.Project == "" { // a workspace started by 'ws up --local'
		if lw, ok, err := findLocal(opts.Factory.Getenv, opts.Factory.Now(), name); err != nil || ok {
			if err != nil || opts.JSON() {
				return errors.Join(err, opts.Write(opts.IO.Out, lw))
			}
			_, err = fmt.Fprintf(opts.IO.Out, "%s: %s (local, %s mode)\n", lw.Name, cs.State(lw.State), lw.Mode)
			return err
		}
	}
	project, client, err := cmdutil.ProjectClient(opts.Factory, opts.GitLabFlags)
	if err != nil {
		return err
	}
	w, err := client.Status(ctx, project, name)
	if err != nil {
		return cmdutil.GitLabError(err)
	}
	out := FromGitLab(w, project, opts.Factory.Now())
	if w.Job != nil && w.Job.Status == "pending" {
		rc, err := client.CheckRunners(ctx, project, w.Job.Tags)
		if err != nil {
			return cmdutil.GitLabError(err)
		}
		if warn := rc.Warning(); warn != "" {
			out.Warnings = append(out.Warnings, warn)
			fmt.Fprintf(opts.IO.ErrOut, "%s %s\n", opts.IO.ColorErr().Yellow("warning:"), warn)
		}
	}
	if out.State == "running" {
		askGateway(ctx, opts, project, &out)
	}
	if opts.JSON() {
		return opts.Write(opts.IO.Out, out)
	}
	o := opts.IO.Out
	fmt.Fprintf(o, "%s: %s\n", out.Name, cs.State(out.State))
	fmt.Fprintf(o, "  branch:   %s\n", out.Branch)
	if p := out.Pipeline; p != nil {
		fmt.Fprintf(o, "  pipeline: %d %s, %s ago  %s\n", p.ID, cs.State(p.Status), cmdutil.Age(opts.Factory.Now(), p.CreatedAt), p.WebURL)
	}
	if j := out.Job; j != nil {
		line := fmt.Sprintf("  job:      %d %s %s", j.ID, j.Name, cs.State(j.Status))
		if j.FailureReason != "" {
			line += " (" + j.FailureReason + ")"
		}
		fmt.Fprintf(o, "%s  %s\n", line, j.WebURL)
	}
	if out.Agent != "unknown" {
		fmt.Fprintf(o, "  agent:    %s\n", cs.State(out.Agent))
	}
	if out.State == "running" {
		fmt.Fprintf(o, "  attach:   %s\n", out.Attach.Shell)
		for _, a := range out.Attach.Open {
			fmt.Fprintf(o, "            %s\n", a)
		}
	}
	return nil
}

// askGateway fills in whether the agent is connected and which endpoints it
// offers, when a gateway is configured and can tell.
func askGateway(ctx context.Context, opts *StatusOptions, project string, out *Workspace) {
	s, err := opts.Factory.Config()
	if err != nil {
		return
	}
	probe := cmdutil.NewAgentProbe(s)
	if probe == nil {
		return
	}
	ok, err := probe.Connected(ctx, project, out.Name)
	switch {
	case errors.Is(err, cmdutil.ErrProbeUnsupported):
		return
	case err != nil:
		out.Warnings = append(out.Warnings, err.Error())
		fmt.Fprintf(opts.IO.ErrOut, "%s %v\n", opts.IO.ColorErr().Yellow("warning:"), err)
		return
	case !ok:
		out.Agent = "waiting"
		return
	}
	out.Agent = "connected"
	if el, isLister := probe.(cmdutil.EndpointLister); isLister {
		if names, err := el.Endpoints(ctx, project, out.Name); err == nil {
			out.Attach = cmdutil.NewAttach(out.Name, names, out.Pipeline, out.Job)
		}
	}
}
