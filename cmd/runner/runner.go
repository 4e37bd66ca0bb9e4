package runner

import (
	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// NewCmdRunner returns 'ws runner' and its subcommands.
func NewCmdRunner(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "runner <command>",
		Short:   "Set up GitLab runners for workspaces",
		GroupID: "admin",
		Long: `Set up GitLab runners for workspaces.

A workspace is a long-running CI job: its runner needs the workspace tags, a
maximum job timeout at least as long as the workspace's, free job slots, and
for Kubernetes the resource override maxima. 'ws runner config' prints that
configuration for each executor.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	cmd.AddCommand(NewCmdConfig(f, nil))
	return cmd
}
