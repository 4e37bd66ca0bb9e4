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
	Format  string
	Profile string
	Name    string
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
output as a JSON array with --format json.

Exit status: 0 valid (warnings allowed), 2 usage error, 3 invalid devfile.`,
		Example: `  $ ws validate
  $ ws validate path/to/devfile.yaml --format json
  $ ws validate --profile gitlab     # also GitLab Workspaces' rules`,
		Args:    cobra.MaximumNArgs(1),
		GroupID: "devfile",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Devfile = args[0]
			}
			if err := cmdutil.CheckFormat("validate", "format", opts.Format); err != nil {
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
	cmd.Flags().StringVar(&opts.Format, "format", cmdutil.OutputText, "output format: text or json")
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
		return &cmdutil.HintError{Err: err, Hint: "pass the devfile's path: ws validate path/to/devfile.yaml"}
	}
	diags := res.Diags
	if opts.Format == cmdutil.OutputJSON {
		if err := diags.WriteJSON(opts.IO.Out); err != nil {
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
	if opts.Format == cmdutil.OutputText {
		errs, warns := diags.Count()
		_ = errs
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

var _ = diag.Error
