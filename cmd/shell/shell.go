// Package shell implements 'ws shell': a terminal or a command in a workspace.
package shell

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/internal/gwclient"
)

// ShellOptions are the inputs of 'ws shell'.
type ShellOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Conn    gwclient.Flags
	Name    string
	Command []string
	NoTTY   bool
}

// NewCmdShell returns the 'ws shell' command.
func NewCmdShell(f *cmdutil.Factory, runF func(*ShellOptions) error) *cobra.Command {
	opts := &ShellOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "shell <name> [-- <command>...]",
		Short:   "Open a terminal in a workspace, or run a command there",
		Long: `Open an interactive shell in the workspace's job through the ws gateway, or
run one command and exit with its exit status.

With a terminal on stdin and stdout the session runs in a remote PTY that
follows your terminal's size; otherwise stdin, stdout and stderr are piped.`,
		Example: `  $ ws shell demo
  $ ws shell demo -- go test ./...
  $ ws shell -R group/app demo -- sh -c 'echo hi; exit 7'   # exits 7`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || c.ArgsLenAtDash() == 0 {
				return cmdutil.FlagErrorf("shell", "missing workspace name")
			}
			if c.ArgsLenAtDash() > 1 || (c.ArgsLenAtDash() == -1 && len(args) > 1) {
				return cmdutil.FlagErrorf("shell", "put the command after --: ws shell NAME -- CMD...")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.Command = args[1:]
			if runF != nil {
				return runF(opts)
			}
			return shellRun(c.Context(), opts)
		},
	}
	opts.Conn.Add(cmd)
	cmd.Flags().BoolVarP(&opts.NoTTY, "no-tty", "T", false, "never allocate a remote terminal")
	return cmd
}

func shellRun(ctx context.Context, opts *ShellOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	t, err := gwclient.Resolve(opts.Factory, opts.Conn, opts.Name)
	if err != nil {
		return err
	}
	sess, err := t.Connect(ctx, opts.Factory)
	if err != nil {
		return err
	}
	defer sess.Close()

	eo := gateway.ExecOptions{Command: opts.Command, Stdin: opts.IO.In, Stdout: opts.IO.Out, Stderr: opts.IO.ErrOut}
	inFile, _ := opts.IO.In.(*os.File)
	outFile, _ := opts.IO.Out.(*os.File)
	if !opts.NoTTY && opts.IO.IsStdinTTY() && opts.IO.IsStdoutTTY() && inFile != nil && outFile != nil {
		eo.TTY = true
		eo.Term = opts.Factory.Getenv("TERM")
		if eo.Term == "" {
			eo.Term = "xterm-256color"
		}
		if w, h, err := term.GetSize(int(outFile.Fd())); err == nil {
			eo.Cols, eo.Rows = w, h
		}
		old, err := term.MakeRaw(int(inFile.Fd()))
		if err == nil {
			defer term.Restore(int(inFile.Fd()), old)
		}
		resize := make(chan [2]int, 1)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if w, h, err := term.GetSize(int(outFile.Fd())); err == nil {
					select {
					case resize <- [2]int{w, h}:
					default:
					}
				}
			}
		}()
		eo.Resize = resize
	}
	code, err := sess.Exec(ctx, eo)
	if err != nil {
		if errors.Is(err, gateway.ErrLost) {
			return &cmdutil.HintError{Err: err, Hint: "the job may have stopped; check 'ws status " + opts.Name + "'"}
		}
		return err
	}
	if code != 0 {
		return &cmdutil.ExitError{Code: code}
	}
	return nil
}
