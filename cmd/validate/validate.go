// Package validate implements 'ws validate': diagnostics only.
package validate

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/internal/pipeline"
)

// ValidateOptions are the inputs of one 'ws validate'.
type ValidateOptions struct {
	IO      *cmdutil.IOStreams
	WorkDir func() (string, error)

	Devfile string
	Profile string
	Name    string
	cmdutil.OutputFlags
	// Format is the deprecated --format, an alias of --output.
	Format string
}

// NewCmdValidate returns 'ws validate'. runF replaces validateRun in tests.
func NewCmdValidate(f *cmdutil.Factory, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IO, WorkDir: f.WorkDir}
	cmd := &cobra.Command{
		Use:   "validate [DEVFILE] [flags]",
		Short: "Check a devfile and print its diagnostics",
		Long: `Check that a devfile loads and compiles, and print every error and warning.

DEVFILE defaults to the first of .devfile.yaml, .devfile.yml, devfile.yaml and
devfile.yml in the current directory. Nothing is written. Diagnostics go to
standard error as FILE:LINE:COL: error|warning: path: message, or to standard
output as a JSON array with --output json (docs/json.md). --format is a
deprecated alias of --output.

Exit status: 0 valid (warnings allowed), 2 usage error, 3 invalid devfile.`,
		Example: `  $ ws validate
  $ ws validate path/to/devfile.yaml --output json
  $ ws validate --jq '.[] | select(.severity == "error") | .summary'
  $ ws validate --profile gitlab     # also GitLab Workspaces' rules`,
		Args:    cobra.MaximumNArgs(1),
		GroupID: "devfile",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Devfile = args[0]
			}
			if opts.Format != "" {
				if cmd.Flags().Changed("output") && opts.Format != opts.Output {
					return cmdutil.FlagErrorf("validate", "--format is the old name of --output: give one of them")
				}
				fmt.Fprintln(opts.IO.ErrOut, "warning: --format is deprecated: use --output text|json")
				opts.Output = opts.Format
			}
			if err := opts.OutputFlags.Check(cmd); err != nil {
				return err
			}
			if opts.Profile != string(compiler.ProfileDefault) && opts.Profile != string(compiler.ProfileGitLab) {
				return cmdutil.FlagErrorf("validate", "invalid --profile %q: want default or gitlab", opts.Profile)
			}
			if runF != nil {
				return runF(opts)
			}
			return validateRun(opts)
		},
	}
	cmdutil.AddOutputFlags(cmd, &opts.OutputFlags)
	cmd.Flags().StringVar(&opts.Format, "format", "", "output format: text or json")
	_ = cmd.Flags().MarkHidden("format") // deprecated: RunE warns
	_ = cmd.RegisterFlagCompletionFunc("profile", cmdutil.FixedCompletion(string(compiler.ProfileDefault), string(compiler.ProfileGitLab)))
	cmd.ValidArgsFunction = cmdutil.DevfileCompletion
	cmd.Flags().StringVar(&opts.Name, "name", "", "workspace `NAME` (default: metadata.name)")
	cmd.Flags().StringVar(&opts.Profile, "profile", string(compiler.ProfileDefault), "rules to enforce: default or gitlab")
	return cmd
}

func validateRun(opts *ValidateOptions) error {
	dir, err := opts.WorkDir()
	if err != nil {
		return err
	}
	res, err := pipeline.CompileFile(dir, opts.Devfile, compiler.Options{Name: opts.Name, Profile: compiler.Profile(opts.Profile)})
	if err != nil {
		return &cmdutil.HintError{Err: err, Hint: cmdutil.NoDevfileHint(err, "validate")}
	}
	diags := res.Diags
	if opts.JSON() {
		if diags == nil {
			diags = diag.List{}
		}
		if err := opts.Write(opts.IO.Out, diags); err != nil {
			return err
		}
	} else {
		if err := diags.WriteText(opts.IO.ErrOut); err != nil {
			return err
		}
	}
	if diags.HasErrors() {
		return cmdutil.ErrDevfileInvalid
	}
	if !opts.JSON() {
		_, warns := diags.Count()
		fmt.Fprintf(opts.IO.ErrOut, "%s: valid (%d warning%s)\n", res.Devfile, warns, plural(warns))
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
