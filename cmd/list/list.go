// Package list implements 'ws list': every ws/* workspace of the project.
package list

import (
	"context"
	"fmt"
	"strings"
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
	// All lists the local workspaces of every directory, not only those
	// started from the current repository.
	All bool
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
		Long: `List the GitLab project's workspaces (its ws/* branches) and the local ones
('ws up --local') started from the current repository; --all adds the local
workspaces of every other directory.`,
		Example: `  $ ws list
  $ ws list --all --jq '.[] | select(.state == "running") | .name'`,
		Args: cmdutil.UsageArgs("list", cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(c.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "also list local workspaces started from other directories")
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	now := opts.Factory.Now()
	locals, hidden := listLocal(opts, now) // 'ws up --local' workspaces, listed after GitLab's
	project, client, err := cmdutil.ProjectClient(opts.Factory, opts.GitLabFlags)
	if err != nil && (len(locals) > 0 || hidden > 0) && opts.Project == "" {
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
		rows = append(rows, status.FromGitLab(w, project, now))
	}
	rows = append(rows, locals...)
	if opts.JSON() {
		return opts.Write(opts.IO.Out, rows)
	}
	if hidden > 0 {
		defer fmt.Fprintf(opts.IO.ErrOut, "%d local workspace(s) of other directories not shown; see them with 'ws list --all'\n", hidden)
	}
	if len(rows) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "no workspaces in %s; start one with 'ws up'\n", project)
		return nil
	}
	table := [][]string{{"NAME", "STATE", "AGE", "JOB", "URL"}}
	for _, r := range rows {
		age, job, url := "-", "-", "-"
		if r.Local {
			table = append(table, []string{r.Name, r.State, cmdutil.Age(now, now.Add(-time.Duration(r.AgeSeconds)*time.Second)), "local (" + r.Mode + ")", "-"})
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
		table = append(table, []string{r.Name, r.State, age, job, url})
	}
	return writeTable(opts.IO, table)
}

// writeTable aligns columns by their visible width, then colours the STATE
// column (tabwriter would count the colour codes as width).
func writeTable(ios *cmdutil.IOStreams, rows [][]string) error {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	cs := ios.ColorOut()
	var b strings.Builder
	for n, r := range rows {
		for i, c := range r {
			cell := c
			if i == 1 && n > 0 {
				cell = cs.State(c)
			}
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := fmt.Fprint(ios.Out, b.String())
	return err
}
