// Package local implements the hidden 'ws local' commands that 'ws up
// --local' starts: the supervisor and its watchdog.
package local

import (
	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/local"
)

// NewCmdLocal returns the hidden 'ws local' command.
func NewCmdLocal(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "local",
		Short:  "Internal: the processes behind 'ws up --local'",
		Hidden: true,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "supervise <state-dir>",
		Short: "Run a local workspace: embedded gateway, job, cleanup (started by 'ws up --local')",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return local.Supervise(c.Context(), args[0])
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "watchdog <state-dir>",
		Short: "Clean up a local workspace once its supervisor ends (started by the supervisor)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return local.Watchdog(args[0], f.IO.In)
		},
	})
	return cmd
}
