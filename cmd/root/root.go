// Package root builds the ws command tree and maps errors to exit codes.
package root

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	agentcmd "github.com/ws-dev/ws/cmd/agent"
	"github.com/ws-dev/ws/cmd/auth"
	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/compile"
	"github.com/ws-dev/ws/cmd/doctor"
	"github.com/ws-dev/ws/cmd/down"
	gatewaycmd "github.com/ws-dev/ws/cmd/gateway"
	"github.com/ws-dev/ws/cmd/list"
	localcmd "github.com/ws-dev/ws/cmd/local"
	"github.com/ws-dev/ws/cmd/logs"
	opencmd "github.com/ws-dev/ws/cmd/open"
	"github.com/ws-dev/ws/cmd/portforward"
	"github.com/ws-dev/ws/cmd/restart"
	"github.com/ws-dev/ws/cmd/runner"
	"github.com/ws-dev/ws/cmd/shell"
	"github.com/ws-dev/ws/cmd/status"
	"github.com/ws-dev/ws/cmd/up"
	"github.com/ws-dev/ws/cmd/validate"
	"github.com/ws-dev/ws/internal/build"
)

// Main runs ws with the process's arguments and returns the exit code.
func Main() int {
	f := cmdutil.New()
	return Run(f, nil)
}

// Run executes ws with args (os.Args[1:] when nil) and returns the exit code.
func Run(f *cmdutil.Factory, args []string) int {
	cmd := NewCmdRoot(f)
	if args != nil {
		cmd.SetArgs(args)
	}
	err := cmd.Execute()
	return exitCode(err, f.IO.ErrOut)
}

// NewCmdRoot returns the root command with every subcommand attached.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ws <command> [flags]",
		Short: "Developer workspaces from a devfile, on GitLab CI runners",
		Long: `ws turns the devfile in your repository into a workspace job on your GitLab
project's CI runners, and gives you a terminal and the devfile's ports in it.`,
		Example: `  $ ws compile                      # print the CI job for ./.devfile.yaml
  $ ws validate devfile.yaml        # check a devfile, print diagnostics
  $ ws up                           # launch the workspace on GitLab`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       build.Version,
	}
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetVersionTemplate("ws version {{.Version}}\n")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cmdutil.FlagError{Cmd: commandPath(c), Err: err}
	})
	cmd.PersistentFlags().StringVar(&f.ConfigFlags.Host, "host", "", "GitLab `URL` (default: $GITLAB_HOST, then glab's config, then https://gitlab.com)")
	cmd.PersistentFlags().StringVar(&f.ConfigFlags.Token, "token", "", "GitLab access `TOKEN` (default: $GITLAB_TOKEN, $GITLAB_ACCESS_TOKEN, $OAUTH_TOKEN, then glab's config); prefer the environment: a flag is visible to other local users in the process list")
	cmd.AddGroup(
		&cobra.Group{ID: "devfile", Title: "Devfile commands:"},
		&cobra.Group{ID: "workspace", Title: "Workspace commands:"},
		&cobra.Group{ID: "admin", Title: "Set-up and server commands:"},
	)

	// Subcommands. Each lives in its own package under cmd/.
	// ws:commands (keep this marker; add one line per command below it)
	cmd.AddCommand(doctor.NewCmdDoctor(f, nil))
	cmd.AddCommand(up.NewCmdUp(f, nil))
	cmd.AddCommand(restart.NewCmdRestart(f, nil))
	cmd.AddCommand(down.NewCmdDown(f, nil))
	cmd.AddCommand(list.NewCmdList(f, nil))
	cmd.AddCommand(status.NewCmdStatus(f, nil))
	cmd.AddCommand(logs.NewCmdLogs(f, nil))
	cmd.AddCommand(auth.NewCmdAuth(f, nil))
	cmd.AddCommand(shell.NewCmdShell(f, nil))
	cmd.AddCommand(portforward.NewCmdPortForward(f, nil))
	cmd.AddCommand(opencmd.NewCmdOpen(f, nil))
	cmd.AddCommand(agentcmd.NewCmdAgent(f, nil))
	cmd.AddCommand(gatewaycmd.NewCmdGateway(f, nil))
	cmd.AddCommand(compile.NewCmdCompile(f, nil))
	cmd.AddCommand(validate.NewCmdValidate(f, nil))
	cmd.AddCommand(runner.NewCmdRunner(f))
	cmd.AddCommand(localcmd.NewCmdLocal(f))

	cmd.AddCommand(newCmdVersion(f))
	cmd.AddCommand(helpTopic("exit-codes", "Exit codes of ws", exitCodesHelp))
	cmd.AddCommand(helpTopic("environment", "Environment variables ws reads", environmentHelp))
	// Unknown subcommands are usage errors too.
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return &cmdutil.FlagError{Cmd: "", Err: fmt.Errorf("unknown command %q for ws", args[0])}
		}
		return nil
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	usageArgs(cmd)
	return cmd
}

func newCmdVersion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the ws version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := "ws version " + build.Version
			if build.Commit != "" {
				v += " (" + build.Commit
				if build.Date != "" {
					v += " " + build.Date
				}
				v += ")"
			}
			_, err := fmt.Fprintln(f.IO.Out, v)
			return err
		},
	}
}

// usageArgs makes every command's positional-argument check a usage error
// (exit code 2): cobra's own checks (cobra.ExactArgs, ...) return plain
// errors, which would exit 1.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cc *cobra.Command, args []string) error {
			err := check(cc, args)
			var fe *cmdutil.FlagError
			if err == nil || errors.As(err, &fe) {
				return err
			}
			return &cmdutil.FlagError{Cmd: commandPath(cc), Err: err}
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// commandPath returns the command's path without the leading "ws ".
func commandPath(c *cobra.Command) string {
	p := c.CommandPath()
	if len(p) > 3 {
		return p[3:]
	}
	return ""
}

func exitCode(err error, stderr io.Writer) int {
	var (
		flagErr *cmdutil.FlagError
		authErr *cmdutil.AuthError
		hintErr *cmdutil.HintError
		exitErr *cmdutil.ExitError
	)
	switch {
	case err == nil:
		return cmdutil.ExitOK
	case errors.As(err, &exitErr):
		return exitErr.Code
	case errors.Is(err, cmdutil.ErrDevfileInvalid): // diagnostics already printed
		return cmdutil.ExitDevfile
	case errors.As(err, &flagErr):
		help := "ws --help"
		if flagErr.Cmd != "" {
			help = "ws " + flagErr.Cmd + " --help"
		}
		fmt.Fprintf(stderr, "ws: %v\nRun '%s' for usage.\n", err, help)
		return cmdutil.ExitUsage
	case errors.As(err, &authErr):
		fmt.Fprintf(stderr, "ws: %v\n", err)
		if authErr.Hint != "" {
			fmt.Fprintf(stderr, "hint: %s\n", authErr.Hint)
		}
		return cmdutil.ExitAuth
	case errors.As(err, &hintErr):
		fmt.Fprintf(stderr, "ws: %v\nhint: %s\n", err, hintErr.Hint)
		return cmdutil.ExitFailure
	case errors.Is(err, cmdutil.ErrSilent):
		return cmdutil.ExitFailure
	default:
		fmt.Fprintf(stderr, "ws: %v\n", err)
		return cmdutil.ExitFailure
	}
}
