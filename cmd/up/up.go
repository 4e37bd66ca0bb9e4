// Package up implements 'ws up': compile the devfile, commit the job to
// ws/<name>, create a pipeline and wait until the workspace runs. 'ws
// restart' is the same flow with Recreate set.
package up

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/config"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/plan"
)

// UpOptions are the inputs of 'ws up' (and 'ws restart').
type UpOptions struct {
	IO          *cmdutil.IOStreams
	Factory     *cmdutil.Factory
	Command     string // "up" or "restart", for messages and usage errors
	Devfile     string
	Name        string
	Ref         string
	NoWait      bool
	Recreate    bool
	WaitTimeout time.Duration
	Tags        []string
	Timeout     string
	IdleTimeout string
	Vars        []string
	AgentSource string
	AgentImage  string
	Profile     string
	Dotfiles    string
	Quiet       bool
	Local       bool // run on this machine (cmd/up/local.go)
	cmdutil.GitLabFlags
}

// NewCmdUp returns 'ws up'.
func NewCmdUp(f *cmdutil.Factory, runF func(*UpOptions) error) *cobra.Command {
	opts := &UpOptions{IO: f.IO, Factory: f, Command: "up"}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "up [DEVFILE] [--name NAME] [--ref BRANCH]",
		Short:   "Launch the workspace on your GitLab project's runners",
		Long: `Compile the devfile, commit the generated job to branch ws/<name> (created from
--ref, with [skip ci]; no commit when nothing changed), create a pipeline on
that branch and wait until the workspace runs.

Pressing it twice is safe: when the workspace already runs from the same
config, ws says so and creates nothing. --recreate replaces a running
workspace (the same as 'ws restart').

On a terminal the progress is one live line with the time spent in each
phase; otherwise each step is printed once. --quiet prints only warnings and
the result. With --output json the result is one object (docs/json.md).`,
		Example: `  $ ws up
  $ ws up --ref main --name demo
  $ ws up devfile.yaml --tag saas-linux-medium-amd64 --no-wait --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Devfile = args[0]
			}
			if err := opts.Validate(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(c.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Recreate, "recreate", false, "cancel the running workspace and launch it again")
	cmd.Flags().BoolVar(&opts.Local, "local", false, "run the workspace on this machine (container engine or host shell), no GitLab needed")
	AddLaunchFlags(cmd, opts)
	return cmd
}

// AddLaunchFlags adds the flags 'ws up' and 'ws restart' share.
func AddLaunchFlags(cmd *cobra.Command, opts *UpOptions) {
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", "", "workspace name; the branch is ws/<name> (default: ws/name, metadata.name, else the devfile's directory)")
	fl.StringVar(&opts.Ref, "ref", "", "branch to start ws/<name> from (default: the current branch)")
	fl.BoolVar(&opts.NoWait, "no-wait", false, "return once the pipeline is created")
	fl.DurationVar(&opts.WaitTimeout, "wait-timeout", 15*time.Minute, "stop waiting for the workspace after this long")
	fl.StringArrayVar(&opts.Tags, "tag", nil, "runner tag for the job (repeatable)")
	fl.StringVar(&opts.Timeout, "timeout", "", `job timeout, e.g. "4h" (the hard cap of one run)`)
	fl.StringVar(&opts.IdleTimeout, "idle-timeout", "", `stop after no activity for this long; "0" disables`)
	fl.StringArrayVar(&opts.Vars, "var", nil, "devfile variable KEY=VALUE (repeatable)")
	fl.StringVar(&opts.AgentSource, "agent-source", "", "how the agent reaches the job: artifact, service or local (default: ws/agent-source, else artifact)")
	fl.StringVar(&opts.AgentImage, "agent-image", "", "ws `IMAGE` that delivers the agent (default: ws/agent-image, else the release image)")
	fl.StringVar(&opts.Profile, "profile", "", "devfile rules to enforce: default or gitlab (GitLab Workspaces' rules)")
	fl.StringVar(&opts.Dotfiles, "dotfiles", "", "dotfiles `REPO` (git URL) the agent clones and installs at start (default: ws/dotfiles, else 'dotfiles' in your ws config)")
	fl.BoolVar(&opts.Quiet, "quiet", false, "print no progress, only warnings and the result")
	fl.StringVar(&opts.Factory.ConfigFlags.Gateway, "gateway", "", "ws gateway `URL` compiled into the job (default: $WS_GATEWAY_URL, else ws/gateway)")
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	_ = cmd.RegisterFlagCompletionFunc("profile", cmdutil.FixedCompletion(string(compiler.ProfileDefault), string(compiler.ProfileGitLab)))
	_ = cmd.RegisterFlagCompletionFunc("agent-source", cmdutil.FixedCompletion(compiler.AgentArtifact, compiler.AgentService, compiler.AgentLocal))
	cmd.ValidArgsFunction = cmdutil.DevfileCompletion
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the parsed options of 'ws up' and 'ws restart'; its errors are
// usage errors.
func (o *UpOptions) Validate(c *cobra.Command) error {
	if err := o.OutputFlags.Check(c); err != nil {
		return err
	}
	if o.Name != "" && !nameRE.MatchString(o.Name) {
		return cmdutil.FlagErrorf(o.Command, "invalid workspace name %q: use lowercase letters, digits and '-' (at most 63)", o.Name)
	}
	for _, v := range o.Vars {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return cmdutil.FlagErrorf(o.Command, "invalid --var %q: want KEY=VALUE", v)
		}
	}
	if o.WaitTimeout <= 0 {
		return cmdutil.FlagErrorf(o.Command, "invalid --wait-timeout %s: must be positive", o.WaitTimeout)
	}
	return nil
}

// Result is the JSON shape of 'ws up' and 'ws restart' (docs/launching.md).
type Result struct {
	Name      string           `json:"name"`
	Project   string           `json:"project"`
	Branch    string           `json:"branch"`
	Ref       string           `json:"ref"`
	Action    string           `json:"action"`
	Committed bool             `json:"committed"`
	Commit    string           `json:"commit"`
	Canceled  []int64          `json:"canceledPipelines"`
	Pipeline  *gitlab.Pipeline `json:"pipeline"`
	Job       *gitlab.Job      `json:"job"`
	State     string           `json:"state"`
	// Agent is "connected", "waiting", or "unknown" (no gateway configured
	// or the gateway cannot tell).
	Agent    string         `json:"agent"`
	Attach   cmdutil.Attach `json:"attach"`
	Warnings []string       `json:"warnings"`
}

// Run is 'ws up' after flags were parsed; 'ws restart' calls it too.
func Run(ctx context.Context, opts *UpOptions) error {
	f := opts.Factory
	dir, err := f.WorkDir()
	if err != nil {
		return err
	}
	settings, err := f.Config()
	if err != nil {
		return err
	}
	res, err := compile(opts, dir, settings)
	if err != nil {
		return err
	}
	name := opts.Name
	if name == "" && res.Plan != nil {
		name = res.Plan.Workspace
	}
	if name == "" {
		return cmdutil.FlagErrorf(opts.Command, "no workspace name: pass --name (the devfile has no metadata.name)")
	}

	// 'ws up --local' runs the same job on this machine instead.
	if opts.Local {
		return upLocal(ctx, opts, dir, res, name)
	}

	project, err := cmdutil.ResolveProject(opts.Project, settings)
	if err != nil {
		return err
	}
	ref := opts.Ref
	if ref == "" {
		ref = cmdutil.CurrentBranch(settings)
	}
	if ref == "" {
		return cmdutil.FlagErrorf(opts.Command, "no --ref: the current directory is not on a branch; pass --ref BRANCH")
	}
	client, err := f.GitLab(opts.Debug)
	if err != nil {
		return err
	}
	p := newProgress(opts.IO, opts.JSON() || opts.Quiet, f.Now)
	out := &Result{Name: name, Project: project, Branch: gitlab.Branch(name), Ref: ref, Agent: "unknown",
		Canceled: []int64{}, Warnings: []string{}}
	lr, err := client.Launch(ctx, gitlab.LaunchRequest{
		Project: project, Name: name, Ref: ref, Config: res.YAML, Recreate: opts.Recreate,
		PollInterval: f.PollInterval,
		OnEvent:      func(e gitlab.Event) { p.line(e.Message) },
	})
	if err != nil {
		var re *gitlab.RunningError
		if errors.As(err, &re) {
			return &cmdutil.HintError{Err: err, Hint: fmt.Sprintf("run 'ws restart %s' (or 'ws up --recreate') to replace it with the new config", name)}
		}
		return cmdutil.GitLabError(err)
	}
	out.Action, out.Committed, out.Commit, out.Pipeline = lr.Action, lr.Committed, lr.Commit, lr.Pipeline
	out.Canceled = append(out.Canceled, lr.Canceled...)
	out.Warnings = append(out.Warnings, lr.Warnings...)
	switch lr.Action {
	case gitlab.ActionAlreadyRunning:
		p.line(fmt.Sprintf("%s: already running from the same config (pipeline %d, %s); nothing created", name, lr.Pipeline.ID, p.cs.State(lr.Pipeline.Status)))
	default:
		p.line(fmt.Sprintf("%s: pipeline %d created on %s", name, lr.Pipeline.ID, out.Branch))
	}
	p.line("  " + lr.Pipeline.WebURL)
	out.State = "starting"
	out.Attach = cmdutil.NewAttach(name, endpoints(res.Plan), lr.Pipeline, nil)

	if !opts.NoWait {
		w := &waiter{opts: opts, client: client, project: project, name: name, settings: settings, p: p, out: out}
		if err := w.wait(ctx); err != nil {
			_ = writeResult(opts, out) // the wait's error is the one to report
			return err
		}
	}
	out.Attach = cmdutil.NewAttach(name, endpoints(res.Plan), out.Pipeline, out.Job)
	return writeResult(opts, out)
}

func writeResult(opts *UpOptions, out *Result) error {
	if opts.JSON() {
		return opts.Write(opts.IO.Out, out)
	}
	if out.State != "running" {
		fmt.Fprintf(opts.IO.Out, "%s: %s; follow it with 'ws status %s'\n", out.Name, out.State, out.Name)
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "%s is running. Attach with:\n  %s\n", out.Name, out.Attach.Shell)
	for _, o := range out.Attach.Open {
		fmt.Fprintf(opts.IO.Out, "  %s\n", o)
	}
	for _, u := range out.Attach.URLs {
		fmt.Fprintf(opts.IO.Out, "  %s\n", u)
	}
	return nil
}

// endpoints names the plan's endpoints that 'ws open' can reach.
func endpoints(pl *plan.Plan) []string {
	var names []string
	if pl != nil {
		for _, e := range pl.Endpoints {
			if e.Exposure != "none" {
				names = append(names, e.Name)
			}
		}
	}
	return names
}

func compile(opts *UpOptions, dir string, s config.Settings) (*pipeline.Result, error) {
	vars := map[string]string{}
	for _, v := range opts.Vars {
		k, val, _ := strings.Cut(v, "=")
		vars[k] = val
	}
	copts := compiler.Options{Name: opts.Name, Tags: opts.Tags, Timeout: opts.Timeout, IdleTimeout: opts.IdleTimeout,
		Vars: vars, Gateway: s.Gateway.Value, AgentSource: opts.AgentSource, AgentImage: opts.AgentImage,
		Profile: compiler.Profile(opts.Profile), Dotfiles: opts.Dotfiles}
	if copts.Dotfiles == "" {
		// The user's default applies only where the devfile names none
		// (the compiler prefers ws/dotfiles to an empty flag).
		copts.DefaultDotfiles = s.Dotfiles.Value
	}
	if opts.Devfile != "" {
		copts.SourceFile = filepath.ToSlash(opts.Devfile)
	}
	res, err := pipeline.CompileFile(dir, opts.Devfile, copts)
	if err != nil {
		return nil, &cmdutil.HintError{Err: fmt.Errorf("compile: %w", err), Hint: cmdutil.NoDevfileHint(err, opts.Command)}
	}
	if res.Diags.HasErrors() {
		_ = res.Diags.WriteText(opts.IO.ErrOut)
		return nil, cmdutil.ErrDevfileInvalid
	}
	warnings := res.Diags
	if opts.Local {
		// Runner tags pick a GitLab runner; they mean nothing on this machine.
		warnings = slices.DeleteFunc(slices.Clone(warnings), func(d diag.Diagnostic) bool { return d.Code == "no-tags" })
	}
	_ = warnings.WriteText(opts.IO.ErrOut)
	return res, nil
}
