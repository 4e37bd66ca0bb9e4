// Package local implements the hidden 'ws local' commands that 'ws up
// --local' starts: the supervisor and its watchdog.
package local

import (
	"os"
	"syscall"

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
	readyFD := -1
	supervise := &cobra.Command{
		Use:   "supervise <state-dir>",
		Short: "Run a local workspace: embedded gateway, job, cleanup (started by 'ws up --local')",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var ready *os.File
			if readyFD >= 0 {
				// Not inherited by the job, the watchdog or the engine:
				// 'ws up --local' must see EOF when this process ends.
				syscall.CloseOnExec(readyFD)
				ready = os.NewFile(uintptr(readyFD), "ready")
			}
			if ready == nil {
				return local.Supervise(c.Context(), args[0], nil)
			}
			return local.Supervise(c.Context(), args[0], ready)
		},
	}
	supervise.Flags().IntVar(&readyFD, "ready-fd", -1, "write one line to this file descriptor once the agent has connected (or the start failed)")
	cmd.AddCommand(supervise)
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
