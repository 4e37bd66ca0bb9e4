// Package compile implements 'ws compile': devfile → .gitlab-ci.yml.
package compile

import (
	"fmt"
	"os"
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
	Output       string
	Name         string
	Tags         []string
	Timeout      string
	IdleTimeout  string
	Vars         []string
	Profile      string
	Format       string
	Gateway      string
	AgentSource  string
	AgentImage   string
	BuilderImage string
	AllowNetwork bool
	HTTPTimeout  time.Duration
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
FILE with -o (written atomically). Diagnostics go to standard error as
FILE:LINE:COL: error|warning: path: message, each followed by a hint line.

Settings may also come from the devfile's top-level attributes ws/tags,
ws/timeout, ws/idle-timeout, ws/gateway, ws/agent-source, ws/agent-image,
ws/builder-image and ws/name; flags win. See docs/devfile-support.md.

With --format json the output is one JSON object:
  {"devfile": PATH, "yaml": STRING|null, "plan": OBJECT|null, "diagnostics": [...]}

Exit status: 0 compiled (warnings allowed), 2 usage error, 3 invalid devfile.`,
		Example: `  $ ws compile                                  # ./.devfile.yaml to stdout
  $ ws compile devfile.yaml -o .gitlab-ci.yml --name demo --tag docker
  $ ws compile --timeout 8h --idle-timeout 1h --var GO_VERSION=1.24
  $ ws compile --profile gitlab                 # also enforce GitLab Workspaces' rules
  $ ws compile --agent-source local --tag shell # ws on the runner's PATH
  $ ws compile --format json | jq .plan`,
		Args:    cobra.MaximumNArgs(1),
		GroupID: "devfile",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Devfile = args[0]
			}
			if err := cmdutil.CheckFormat("compile", "format", opts.Format); err != nil {
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
	fl.StringVarP(&opts.Output, "output", "o", "", "write the YAML to `FILE` instead of standard output")
	fl.StringVar(&opts.Name, "name", "", "workspace `NAME` (default: metadata.name)")
	fl.StringArrayVar(&opts.Tags, "tag", nil, "runner `TAG` for the jobs (repeatable; default: attribute ws/tags)")
	fl.StringVar(&opts.Timeout, "timeout", "", "job timeout, the workspace's hard cap, e.g. 4h (default 2h)")
	fl.StringVar(&opts.IdleTimeout, "idle-timeout", "", "stop after this long without activity, 0 disables (default 30m)")
	fl.StringArrayVar(&opts.Vars, "var", nil, "set devfile variable `KEY=VALUE` (repeatable)")
	fl.StringVar(&opts.Profile, "profile", string(compiler.ProfileDefault), "rules to enforce: default or gitlab (GitLab Workspaces' devfile rules)")
	fl.StringVar(&opts.Format, "format", cmdutil.OutputText, "output format: text or json")
	fl.StringVar(&opts.Gateway, "gateway", "", "gateway base `URL` compiled into the agent's plan")
	fl.StringVar(&opts.AgentSource, "agent-source", "", "how the agent reaches the job: artifact, service or local (default artifact)")
	fl.StringVar(&opts.AgentImage, "agent-image", "", "ws `IMAGE` that delivers the agent (default: ws/agent-image, else "+compiler.AgentImageRepo+":<this ws version>)")
	fl.StringVar(&opts.BuilderImage, "builder-image", "", "`IMAGE` that builds devfile image components (default "+compiler.DefaultBuilderImage+")")
	fl.BoolVar(&opts.AllowNetwork, "allow-network", false, "fetch parents and plugins given by URL or registry id")
	fl.DurationVar(&opts.HTTPTimeout, "http-timeout", 30*time.Second, "timeout of each fetch with --allow-network")
	return cmd
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
		Vars: vars, Profile: compiler.Profile(opts.Profile), Gateway: opts.Gateway,
		AgentSource: opts.AgentSource, AgentImage: opts.AgentImage, BuilderImage: opts.BuilderImage,
	}
	var po []pipeline.Option
	if opts.AllowNetwork {
		po = append(po, pipeline.WithNetwork(opts.HTTPTimeout))
	}
	res, err := pipeline.CompileFile(dir, opts.Devfile, copts, po...)
	if err != nil {
		return &cmdutil.HintError{Err: err, Hint: "pass the devfile's path: ws compile path/to/devfile.yaml"}
	}
	if opts.Format == cmdutil.OutputJSON {
		out := Result{Devfile: res.Devfile, Plan: res.Plan, Diagnostics: res.Diags}
		if out.Diagnostics == nil {
			out.Diagnostics = diag.List{}
		}
		if res.YAML != nil {
			s := string(res.YAML)
			out.YAML = &s
		}
		if err := cmdutil.WriteJSON(opts.IO.Out, out); err != nil {
			return err
		}
	} else if err := res.Diags.WriteText(opts.IO.ErrOut); err != nil {
		return err
	}
	if res.Diags.HasErrors() {
		return cmdutil.ErrDevfileInvalid
	}
	if opts.Format == cmdutil.OutputJSON && opts.Output == "" {
		return nil
	}
	if opts.Output != "" {
		target := opts.Output
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		return WriteFileAtomic(target, res.YAML)
	}
	_, err = opts.IO.Out.Write(res.YAML)
	return err
}

// WriteFileAtomic writes data to a temporary file beside name and renames
// it into place, so readers never see a partial file.
func WriteFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
