// Package restart implements 'ws restart': cancel the workspace's running
// pipelines, confirm they stopped, recompile, commit when changed and
// create a new pipeline.
package restart

import (
	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/up"
)

// NewCmdRestart returns 'ws restart'. Its options are those of 'ws up'
// with Recreate set: a retried job would run its old frozen config, so a
// restart is always cancel + commit + new pipeline.
func NewCmdRestart(f *cmdutil.Factory, runF func(*up.UpOptions) error) *cobra.Command {
	opts := &up.UpOptions{IO: f.IO, Factory: f, Command: "restart", Recreate: true}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "restart [NAME [DEVFILE]]",
		Short:   "Cancel a workspace and launch it again, recompiling the devfile",
		Long: `Cancel the running pipelines of workspace NAME, wait until GitLab reports them
stopped (cancel alone proves nothing), recompile the devfile, commit it to
ws/NAME when it changed, and create a new pipeline.

NAME defaults to the workspace of the devfile in the current directory.
With --output json the result is the shape of 'ws up' (docs/json.md), with
the pipeline's and the job's state as GitLab last reported them.

The new job waits for the resource group ws/NAME while the canceled job
still runs its after_script (postStop; up to 5 minutes by default,
RUNNER_AFTER_SCRIPT_TIMEOUT) and its cache and artifact uploads; ws says so
while it waits.`,
		Example: `  $ ws restart demo
  $ ws restart demo devfile.yaml --no-wait`,
		Args: cmdutil.UsageArgs("restart", cobra.RangeArgs(0, 2)),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) >= 1 {
				opts.Name = args[0]
			}
			if len(args) == 2 {
				opts.Devfile = args[1]
			}
			if err := opts.Validate(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return up.Run(c.Context(), opts)
		},
	}
	up.AddLaunchFlags(cmd, opts)
	_ = cmd.Flags().MarkHidden("name")
	cmd.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 1 {
			return cmdutil.DevfileCompletion(c, nil, toComplete)
		}
		return cmdutil.CompleteWorkspaces(f, &opts.Project)(c, args, toComplete)
	}
	return cmd
}
