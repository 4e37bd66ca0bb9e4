// Package agent implements 'ws agent', the process the workspace job runs;
// the same command line as the slim ws-agent binary (agent/cli).
package agent

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/agent/cli"
	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/build"
)

// NewCmdAgent returns the hidden 'ws agent' command. Its flags are the
// agent's own (agent/cli), parsed there: 'ws agent ARGS' and 'ws-agent ARGS'
// behave the same. runF, when set, receives the arguments instead (tests).
func NewCmdAgent(f *cmdutil.Factory, runF func(args []string) error) *cobra.Command {
	return &cobra.Command{
		GroupID:            "admin",
		Use:                "agent [flags]",
		Short:              "Run the in-job workspace agent (started by the generated job)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(args)
			}
			ctx := c.Context()
			self := []string{"/proc/self/exe", "agent"}
			if exe, err := os.Executable(); err == nil {
				self[0] = exe
			}
			e := cli.Stdio(self, build.Version)
			e.Getenv, e.Stdin, e.Stdout, e.Stderr = f.Getenv, f.IO.In, f.IO.Out, f.IO.ErrOut
			if code := cli.Main(ctx, args, e); code != 0 {
				return &cmdutil.ExitError{Code: code}
			}
			return nil
		},
	}
}
