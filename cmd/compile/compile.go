// Package compile implements 'ws compile': devfile → .gitlab-ci.yml.
package compile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/plan"
)

// CompileOptions are the inputs of one 'ws compile'.
type CompileOptions struct {
	IO      *cmdutil.IOStreams
	WorkDir func() (string, error)

	Devfile      string
	OutputFile   string // -o/--output-file
	Name         string
	Tags         []string
	Timeout      string
	IdleTimeout  string
	Vars         []string
	Profile      string
	Gateway      string
	Dotfiles     string
	AgentSource  string
	AgentImage   string
	BuilderImage string
	AllowNetwork bool
	HTTPTimeout  time.Duration
	cmdutil.OutputFlags
	// Format is the deprecated --format, kept as an alias of --output.
	Format string
}

// NewCmdCompile returns 'ws compile'. runF replaces compileRun in tests.
func NewCmdCompile(f *cmdutil.Factory, runF func(*CompileOptions) error) *cobra.Command {
	opts := &CompileOptions{IO: f.IO, WorkDir: f.WorkDir}
	cmd := &cobra.Command{
		Use:   "compile [DEVFILE] [flags]",
		Short: "Compile a devfile into a GitLab CI workspace job",
		Long: `Compile a devfile into the .gitlab-ci.yml that runs it as a workspace job.

DEVFILE defaults to the first of .devfile.yaml, .devfile.yml, devfile.yaml and
devfile.yml in the current directory. The YAML goes to standard output, or to
FILE with -o/--output-file (written atomically). Diagnostics go to standard
error as FILE:LINE:COL: error|warning: path: message, each followed by a hint
line.

Settings may also come from the devfile's top-level attributes ws/tags,
ws/timeout, ws/idle-timeout, ws/gateway, ws/agent-source, ws/agent-image,
ws/builder-image, ws/dotfiles and ws/name; flags win. See
docs/devfile-support.md.

With --output json the output is one JSON object (docs/json.md):
  {"devfile": PATH, "yaml": STRING|null, "plan": OBJECT|null, "diagnostics": [...]}

--output is the output format, as on every ws command. It used to name the
YAML file: '--output FILE' (a value other than text or json that looks like
a path) still writes FILE, with a deprecation warning; --format is a
deprecated alias of --output.

Exit status: 0 compiled (warnings allowed), 2 usage error, 3 invalid devfile.`,
		Example: `  $ ws compile                                  # ./.devfile.yaml to stdout
  $ ws compile devfile.yaml -o .gitlab-ci.yml --name demo --tag docker
  $ ws compile --jq .plan.endpoints
  $ ws compile --timeout 8h --idle-timeout 1h --var GO_VERSION=1.24
  $ ws compile --profile gitlab                 # also enforce GitLab Workspaces' rules
  $ ws compile --agent-source local --tag shell # ws on the runner's PATH
  $ ws compile --output json | jq .plan`,
		Args:    cobra.MaximumNArgs(1),
		GroupID: "devfile",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Devfile = args[0]
			}
			if err := opts.outputCompat(cmd); err != nil {
				return err
			}
			if _, err := ParseVars("compile", opts.Vars); err != nil {
				return err
			}
			if opts.Profile != string(compiler.ProfileDefault) && opts.Profile != string(compiler.ProfileGitLab) {
				return cmdutil.FlagErrorf("compile", "invalid --profile %q: want default or gitlab", opts.Profile)
			}
			switch opts.AgentSource {
			case "", compiler.AgentArtifact, compiler.AgentService, compiler.AgentLocal:
			default:
				return cmdutil.FlagErrorf("compile", "invalid --agent-source %q: want artifact, service or local", opts.AgentSource)
			}
			if runF != nil {
				return runF(opts)
			}
			return compileRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.OutputFile, "output-file", "o", "", "write the YAML to `FILE` instead of standard output")
	cmdutil.AddOutputFlags(cmd, &opts.OutputFlags)
	fl.StringVar(&opts.Format, "format", "", "output format: text or json")
	_ = fl.MarkHidden("format") // deprecated: outputCompat warns
	fl.StringVar(&opts.Name, "name", "", "workspace `NAME` (default: metadata.name)")
	fl.StringArrayVar(&opts.Tags, "tag", nil, "runner `TAG` for the jobs (repeatable; default: attribute ws/tags)")
	fl.StringVar(&opts.Timeout, "timeout", "", "job timeout, the workspace's hard cap, e.g. 4h (default 2h)")
	fl.StringVar(&opts.IdleTimeout, "idle-timeout", "", "stop after this long without activity, 0 disables (default 30m)")
	fl.StringArrayVar(&opts.Vars, "var", nil, "set devfile variable `KEY=VALUE` (repeatable)")
	fl.StringVar(&opts.Profile, "profile", string(compiler.ProfileDefault), "rules to enforce: default or gitlab (GitLab Workspaces' devfile rules)")
	fl.StringVar(&opts.Gateway, "gateway", "", "gateway base `URL` compiled into the agent's plan")
	fl.StringVar(&opts.Dotfiles, "dotfiles", "", "dotfiles `REPO` (git URL) the agent clones and installs at start (default: ws/dotfiles)")
	fl.StringVar(&opts.AgentSource, "agent-source", "", "how the agent reaches the job: artifact, service or local (default artifact)")
	fl.StringVar(&opts.AgentImage, "agent-image", "", "ws `IMAGE` that delivers the agent (default: ws/agent-image, else "+compiler.AgentImageRepo+":<this ws version>)")
	fl.StringVar(&opts.BuilderImage, "builder-image", "", "`IMAGE` that builds devfile image components (default "+compiler.DefaultBuilderImage+")")
	fl.BoolVar(&opts.AllowNetwork, "allow-network", false, "fetch parents and plugins given by URL or registry id")
	fl.DurationVar(&opts.HTTPTimeout, "http-timeout", 30*time.Second, "timeout of each fetch with --allow-network")
	_ = cmd.RegisterFlagCompletionFunc("profile", cmdutil.FixedCompletion(string(compiler.ProfileDefault), string(compiler.ProfileGitLab)))
	_ = cmd.RegisterFlagCompletionFunc("agent-source", cmdutil.FixedCompletion(compiler.AgentArtifact, compiler.AgentService, compiler.AgentLocal))
	cmd.ValidArgsFunction = cmdutil.DevfileCompletion
	return cmd
}

// outputCompat maps the flags of earlier releases onto today's: --format is
// --output, and '--output FILE' (from before --output meant the format)
// writes FILE with a warning. Any other value than text or json is a usage error.
func (opts *CompileOptions) outputCompat(c *cobra.Command) error {
	if opts.Format != "" {
		if c.Flags().Changed("output") && opts.Format != opts.Output {
			return cmdutil.FlagErrorf("compile", "--format is the old name of --output: give one of them")
		}
		fmt.Fprintln(opts.IO.ErrOut, "warning: --format is deprecated: use --output text|json")
		opts.Output = opts.Format
	}
	if v := opts.Output; v != cmdutil.OutputText && v != cmdutil.OutputJSON && looksLikePath(v) {
		if opts.OutputFile != "" {
			return cmdutil.FlagErrorf("compile", "invalid --output %q: want text or json (the YAML file is -o %s)", v, opts.OutputFile)
		}
		fmt.Fprintf(opts.IO.ErrOut, "warning: --output FILE is deprecated: --output is the format (text or json); write the YAML with -o/--output-file %s\n", v)
		opts.OutputFile, opts.Output = v, cmdutil.OutputText
	}
	if err := opts.OutputFlags.Check(c); err != nil {
		var fe *cmdutil.FlagError
		if errors.As(err, &fe) && !opts.JSON() {
			return cmdutil.FlagErrorf("compile", "%v (write the YAML to a file with -o FILE)", fe.Err)
		}
		return err
	}
	return nil
}

// looksLikePath reports whether an --output value was meant as a file name:
// it has a directory or an extension (".gitlab-ci.yml", "out/ci.yaml").
func looksLikePath(v string) bool {
	return strings.ContainsAny(v, "/\\.")
}

// ParseVars parses --var KEY=VALUE flags.
func ParseVars(cmd string, vars []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vars {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, cmdutil.FlagErrorf(cmd, "invalid --var %q: want KEY=VALUE", v)
		}
		out[k] = val
	}
	return out, nil
}

// Result is the JSON form of 'ws compile --format json'.
type Result struct {
	Devfile     string     `json:"devfile"`
	YAML        *string    `json:"yaml"`
	Plan        *plan.Plan `json:"plan"`
	Diagnostics diag.List  `json:"diagnostics"`
}

func compileRun(opts *CompileOptions) error {
	dir, err := opts.WorkDir()
	if err != nil {
		return err
	}
	vars, _ := ParseVars("compile", opts.Vars)
	copts := compiler.Options{
		Name: opts.Name, Tags: opts.Tags, Timeout: opts.Timeout, IdleTimeout: opts.IdleTimeout,
		Vars: vars, Profile: compiler.Profile(opts.Profile), Gateway: opts.Gateway, Dotfiles: opts.Dotfiles,
		AgentSource: opts.AgentSource, AgentImage: opts.AgentImage, BuilderImage: opts.BuilderImage,
	}
	var po []pipeline.Option
	if opts.AllowNetwork {
		po = append(po, pipeline.WithNetwork(opts.HTTPTimeout))
	}
	res, err := pipeline.CompileFile(dir, opts.Devfile, copts, po...)
	if err != nil {
		return &cmdutil.HintError{Err: err, Hint: cmdutil.NoDevfileHint(err, "compile")}
	}
	if opts.JSON() {
		out := Result{Devfile: res.Devfile, Plan: res.Plan, Diagnostics: res.Diags}
		if out.Diagnostics == nil {
			out.Diagnostics = diag.List{}
		}
		if res.YAML != nil {
			s := string(res.YAML)
			out.YAML = &s
		}
		if err := opts.Write(opts.IO.Out, out); err != nil {
			return err
		}
	} else if err := res.Diags.WriteText(opts.IO.ErrOut); err != nil {
		return err
	}
	if res.Diags.HasErrors() {
		return cmdutil.ErrDevfileInvalid
	}
	if opts.JSON() && opts.OutputFile == "" {
		return nil
	}
	if opts.OutputFile != "" {
		target := opts.OutputFile
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		return cmdutil.WriteFileAtomic(target, res.YAML)
	}
	_, err = opts.IO.Out.Write(res.YAML)
	return err
}
