// Package shell implements 'ws shell': a terminal or a command in a workspace.
package shell

import (
	"bytes"
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/internal/attach"
)

// ShellOptions are the inputs of 'ws shell'.
type ShellOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Conn    attach.Flags
	Name    string // "" means the default workspace (cmdutil.ResolveName)
	Command []string
	NoTTY   bool
	cmdutil.OutputFlags
}

// Result is the JSON shape of 'ws shell NAME --output json -- CMD...'.
type Result struct {
	Name     string   `json:"name"`
	Command  []string `json:"command"`
	ExitCode int      `json:"exitCode"`
	Stdout   string   `json:"stdout"`
	Stderr   string   `json:"stderr"`
}

// NewCmdShell returns the 'ws shell' command.
func NewCmdShell(f *cmdutil.Factory, runF func(*ShellOptions) error) *cobra.Command {
	opts := &ShellOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "shell [<name>] [-- <command>...]",
		Short:   "Open a terminal in a workspace, or run a command there",
		Long: `Open an interactive shell in the workspace's job through the ws gateway, or
run one command and exit with its exit status.

With a terminal on stdin and stdout the session runs in a remote PTY that
follows your terminal's size; otherwise stdin, stdout and stderr are piped.

NAME defaults to the workspace of the devfile in the current directory, else
to your only workspace. With --output json (only with a command) the
command's output is collected into one object with its exit code
(docs/json.md); ws still exits with the command's status.`,
		Example: `  $ ws shell demo
  $ ws shell demo -- go test ./...
  $ ws shell -R group/app demo -- sh -c 'echo hi; exit 7'   # exits 7
  $ ws shell -- uname -a                                     # the devfile's workspace`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name, opts.Command = attach.NameAndCommand(c, args)
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			if opts.JSON() && len(opts.Command) == 0 {
				return cmdutil.FlagErrorf("shell", "--output json needs a command: ws shell NAME --output json -- CMD...")
			}
			if runF != nil {
				return runF(opts)
			}
			return shellRun(c.Context(), opts)
		},
	}
	opts.Conn.Add(cmd)
	cmd.Flags().BoolVarP(&opts.NoTTY, "no-tty", "T", false, "never allocate a remote terminal")
	cmdutil.AddOutputFlags(cmd, &opts.OutputFlags)
	cmd.ValidArgsFunction = cmdutil.CompleteWorkspaces(f, &opts.Conn.Project)
	attach.CommandArgs(cmd, "shell")
	return cmd
}

func shellRun(ctx context.Context, opts *ShellOptions) error {
	t, err := attach.Dial(ctx, opts.Factory, "shell", opts.Conn, opts.Name)
	if err != nil {
		return err
	}
	opts.Name = t.Name
	sess, err := t.Tunnel(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()

	eo := gwclient.ExecOptions{Command: opts.Command, Stdin: opts.IO.In, Stdout: opts.IO.Out, Stderr: opts.IO.ErrOut}
	if opts.JSON() {
		var stdout, stderr bytes.Buffer
		eo.Stdout, eo.Stderr = &stdout, &stderr
		code, err := sess.Exec(ctx, eo)
		if err != nil {
			return explainLost(err, opts.Name)
		}
		res := Result{Name: opts.Name, Command: opts.Command, ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String()}
		if err := opts.Write(opts.IO.Out, res); err != nil {
			return err
		}
		if code != 0 {
			return &cmdutil.ExitError{Code: code}
		}
		return nil
	}
	if !opts.NoTTY {
		if tt := attach.RawTerminal(opts.IO, opts.Factory.Getenv); tt != nil {
			defer tt.Restore()
			eo.TTY, eo.Term, eo.Cols, eo.Rows, eo.Resize = true, tt.Term, tt.Cols, tt.Rows, tt.Resize
		}
	}
	code, err := sess.Exec(ctx, eo)
	if err != nil {
		return explainLost(err, opts.Name)
	}
	if code != 0 {
		return &cmdutil.ExitError{Code: code}
	}
	return nil
}

func explainLost(err error, name string) error {
	if errors.Is(err, gwclient.ErrLost) {
		return &cmdutil.HintError{Err: err, Hint: "the job may have stopped; check 'ws status " + name + "'"}
	}
	return err
}
