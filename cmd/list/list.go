// Package list implements 'ws list': every ws/* workspace of the project.
package list

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/status"
	"github.com/ws-dev/ws/gitlab"
)

// ListOptions are the inputs of 'ws list'.
type ListOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	cmdutil.GitLabFlags
}

// NewCmdList returns 'ws list'.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the project's workspaces (ws/* branches) with state, age, job and URL",
		Args:    cmdutil.UsageArgs("list", cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := cmdutil.CheckFormat("list", "output", opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(c.Context(), opts)
		},
	}
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	now := opts.Factory.Now()
	locals := listLocal(opts, now) // 'ws up --local' workspaces, listed after GitLab's
	project, client, err := cmdutil.ProjectClient(opts.Factory, opts.GitLabFlags)
	if err != nil && len(locals) > 0 && opts.Project == "" {
		// Only local workspaces: no GitLab needed.
		project, client = "this machine", nil
	} else if err != nil {
		return err
	}
	var ws []*gitlab.Workspace
	if client != nil {
		if ws, err = client.List(ctx, project); err != nil {
			return cmdutil.GitLabError(err)
		}
	}
	rows := make([]status.Workspace, 0, len(ws)+len(locals))
	for _, w := range ws {
		rows = append(rows, status.FromGitLab(w, now))
	}
	rows = append(rows, locals...)
	if opts.Output == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "no workspaces in %s; start one with 'ws up'\n", project)
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tAGE\tJOB\tURL")
	for _, r := range rows {
		age, job, url := "-", "-", "-"
		if r.Local {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.State, cmdutil.Age(now, now.Add(-time.Duration(r.AgeSeconds)*time.Second)), "local ("+r.Mode+")", "-")
			continue
		}
		if p := r.Pipeline; p != nil {
			age = cmdutil.Age(now, p.CreatedAt)
			url = p.WebURL
		}
		if j := r.Job; j != nil {
			job = fmt.Sprintf("%d %s", j.ID, j.Status)
			url = j.WebURL
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.State, age, job, url)
	}
	return tw.Flush()
}
