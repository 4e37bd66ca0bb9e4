// Package down implements 'ws down': stop a workspace so that nothing is
// left running.
package down

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gitlab"
)

// DownOptions are the inputs of 'ws down'.
type DownOptions struct {
	IO           *cmdutil.IOStreams
	Factory      *cmdutil.Factory
	Name         string // "" means the default workspace (cmdutil.ResolveName)
	DeleteBranch bool
	Quiet        bool
	cmdutil.GitLabFlags
}

// Result is the JSON shape of 'ws down'.
type Result struct {
	Name          string      `json:"name"`
	Project       string      `json:"project"`
	Branch        string      `json:"branch"`
	Canceled      []int64     `json:"canceledPipelines"`
	StopJob       *gitlab.Job `json:"stopJob"`
	BranchDeleted bool        `json:"branchDeleted"`
	Warnings      []string    `json:"warnings"`
}

// NewCmdDown returns 'ws down'.
func NewCmdDown(f *cmdutil.Factory, runF func(*DownOptions) error) *cobra.Command {
	opts := &DownOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "down [NAME] [--delete-branch]",
		Aliases: []string{"stop"},
		Short:   "Stop a workspace",
		Long: `Cancel every running pipeline of workspace NAME, wait until GitLab reports them
stopped, and play the environment's stop job. --delete-branch also deletes
the ws/NAME branch. NAME defaults as for 'ws status'.`,
		Example: `  $ ws down demo
  $ ws down demo --delete-branch`,
		Args: cmdutil.UsageArgs("down", cobra.MaximumNArgs(1)),
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
			return downRun(c.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DeleteBranch, "delete-branch", false, "delete the ws/NAME branch too")
	cmd.Flags().BoolVar(&opts.Quiet, "quiet", false, "print no progress, only warnings and the result")
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	cmd.ValidArgsFunction = cmdutil.CompleteWorkspaces(f, &opts.Project)
	return cmd
}

func downRun(ctx context.Context, opts *DownOptions) error {
	name, err := cmdutil.ResolveName(ctx, opts.Factory, "down", opts.Name, opts.Project)
	if err != nil {
		return err
	}
	opts.Name = name
	if handled, err := downLocal(ctx, opts); handled { // 'ws up --local'
		return err
	}
	project, client, err := cmdutil.ProjectClient(opts.Factory, opts.GitLabFlags)
	if err != nil {
		return err
	}
	text := !opts.JSON()
	res, err := client.Stop(ctx, gitlab.StopRequest{
		Project: project, Name: opts.Name, DeleteBranch: opts.DeleteBranch,
		PollInterval: opts.Factory.PollInterval,
		OnEvent: func(e gitlab.Event) {
			if text && !opts.Quiet {
				fmt.Fprintln(opts.IO.ErrOut, e.Message)
			}
		},
	})
	if err != nil {
		return cmdutil.GitLabError(err)
	}
	out := &Result{Name: opts.Name, Project: project, Branch: gitlab.Branch(opts.Name), Canceled: append([]int64{}, res.Canceled...),
		StopJob: res.StopJob, BranchDeleted: res.BranchDeleted, Warnings: append([]string{}, res.Warnings...)}
	for _, w := range out.Warnings {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", w)
	}
	if !text {
		return opts.Write(opts.IO.Out, out)
	}
	switch {
	case len(out.Canceled) == 0:
		fmt.Fprintf(opts.IO.Out, "%s: was not running\n", opts.Name)
	default:
		fmt.Fprintf(opts.IO.Out, "%s: stopped\n", opts.Name)
	}
	if out.BranchDeleted {
		fmt.Fprintf(opts.IO.Out, "%s: deleted branch %s\n", opts.Name, out.Branch)
	}
	return nil
}
