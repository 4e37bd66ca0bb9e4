package cmdutil

import "github.com/spf13/cobra"

// UsageArgs makes a wrong number of positional arguments a usage error
// (exit code 2), as 'ws help exit-codes' promises: cobra's own checks
// (cobra.ExactArgs, cobra.NoArgs, ...) return plain errors, which exit 1.
// cmd is the command path after "ws", as for FlagErrorf.
func UsageArgs(cmd string, check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return &FlagError{Cmd: cmd, Err: err}
		}
		return nil
	}
}
