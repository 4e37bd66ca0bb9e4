// Package root builds the ws command tree and maps errors to exit codes.
package root

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	agentcmd "github.com/ws-dev/ws/cmd/agent"
	"github.com/ws-dev/ws/cmd/auth"
	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/compile"
	"github.com/ws-dev/ws/cmd/configssh"
	"github.com/ws-dev/ws/cmd/doctor"
	"github.com/ws-dev/ws/cmd/down"
	gatewaycmd "github.com/ws-dev/ws/cmd/gateway"
	initcmd "github.com/ws-dev/ws/cmd/init"
	"github.com/ws-dev/ws/cmd/list"
	localcmd "github.com/ws-dev/ws/cmd/local"
	"github.com/ws-dev/ws/cmd/logs"
	opencmd "github.com/ws-dev/ws/cmd/open"
	"github.com/ws-dev/ws/cmd/portforward"
	"github.com/ws-dev/ws/cmd/restart"
	"github.com/ws-dev/ws/cmd/runner"
	"github.com/ws-dev/ws/cmd/shell"
	sshcmd "github.com/ws-dev/ws/cmd/ssh"
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

// Run executes ws with args (os.Args[1:] when nil) and returns the exit
// code. The first Ctrl-C (SIGINT) or SIGTERM cancels the command's context,
// so commands stop cleanly; a second one ends ws at once.
func Run(f *cmdutil.Factory, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the next signal gets the default action
	}()
	cmd := NewCmdRoot(f)
	if args != nil {
		cmd.SetArgs(args)
	}
	err := cmd.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return cmdutil.ExitInterrupted
	}
	return exitCode(err, f.IO)
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
	cmd.PersistentFlags().StringVar(&f.ConfigFlags.Host, "host", "", "GitLab `URL` (default: $GITLAB_HOST, $GITLAB_URI, $GL_HOST, $CI_SERVER_URL in a CI job, the git remote, glab's config, then https://gitlab.com)")
	cmd.PersistentFlags().StringVar(&f.ConfigFlags.Token, "token", "", "GitLab access `TOKEN` (default: $GITLAB_TOKEN, $GITLAB_ACCESS_TOKEN, $OAUTH_TOKEN, then glab's login: its config or keyring); prefer the environment: a flag is visible to other local users in the process list")
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
	cmd.AddCommand(sshcmd.NewCmdSSH(f, nil))
	cmd.AddCommand(configssh.NewCmdConfigSSH(f, nil))
	cmd.AddCommand(agentcmd.NewCmdAgent(f, nil))
	cmd.AddCommand(gatewaycmd.NewCmdGateway(f, nil))
	cmd.AddCommand(compile.NewCmdCompile(f, nil))
	cmd.AddCommand(validate.NewCmdValidate(f, nil))
	cmd.AddCommand(runner.NewCmdRunner(f))
	cmd.AddCommand(localcmd.NewCmdLocal(f))

	cmd.AddCommand(initcmd.NewCmdInit(f, nil))
	cmd.AddCommand(newCmdVersion(f))
	cmd.AddCommand(helpTopic("exit-codes", "Exit codes of ws", exitCodesHelp))
	cmd.AddCommand(helpTopic("environment", "Environment variables ws reads", environmentHelp))
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	usageArgs(cmd)
	return cmd
}

// VersionInfo is the JSON shape of 'ws version --output json'.
type VersionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

func newCmdVersion(f *cmdutil.Factory) *cobra.Command {
	var out cmdutil.OutputFlags
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the ws version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.Check(cmd); err != nil {
				return err
			}
			if out.JSON() {
				return out.Write(f.IO.Out, VersionInfo{Version: build.Version, Commit: build.Commit, Date: build.Date,
					Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH})
			}
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
	cmdutil.AddOutputFlags(cmd, &out)
	return cmd
}

// usageArgs makes every command's positional-argument check a usage error
// (exit code 2): cobra's own checks (cobra.ExactArgs, ...) return plain
// errors, which would exit 1.
func usageArgs(c *cobra.Command) {
	if c.HasSubCommands() {
		// A command that only groups others: an unknown word is a usage
		// error with cobra's typo suggestions ('ws upp' → 'ws up').
		c.Args = func(cc *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			return &cmdutil.FlagError{Cmd: commandPath(cc), Err: unknownCommand(cc, args[0])}
		}
	}
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

// unknownCommand is cobra's message for an unknown subcommand, with its
// suggestions (which cobra skips when a command has its own Args check).
func unknownCommand(c *cobra.Command, arg string) error {
	msg := fmt.Sprintf("unknown command %q for %q", arg, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
	}
	if s := c.SuggestionsFor(arg); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return errors.New(msg)
}

// commandPath returns the command's path without the leading "ws ".
func commandPath(c *cobra.Command) string {
	p := c.CommandPath()
	if len(p) > 3 {
		return p[3:]
	}
	return ""
}

func exitCode(err error, ios *cmdutil.IOStreams) int {
	stderr := ios.ErrOut
	cs := ios.ColorErr()
	return exitCodeColor(err, stderr, cs)
}

func exitCodeColor(err error, stderr io.Writer, cs cmdutil.ColorScheme) int {
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
		fmt.Fprintf(stderr, "%s %v\nRun '%s' for usage.\n", cs.Red("ws:"), err, help)
		return cmdutil.ExitUsage
	case errors.As(err, &authErr):
		fmt.Fprintf(stderr, "%s %v\n", cs.Red("ws:"), err)
		if authErr.Hint != "" {
			fmt.Fprintf(stderr, "%s %s\n", cs.Gray("hint:"), authErr.Hint)
		}
		return cmdutil.ExitAuth
	case errors.As(err, &hintErr):
		fmt.Fprintf(stderr, "%s %v\n%s %s\n", cs.Red("ws:"), err, cs.Gray("hint:"), hintErr.Hint)
		return cmdutil.ExitFailure
	case errors.Is(err, cmdutil.ErrSilent):
		return cmdutil.ExitFailure
	default:
		fmt.Fprintf(stderr, "%s %v\n", cs.Red("ws:"), err)
		return cmdutil.ExitFailure
	}
}
