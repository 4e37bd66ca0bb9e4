// Package doctor implements 'ws doctor': it checks, one by one, what a
// workspace needs from GitLab, the runners and the gateway, and says for
// each failure what to do about it.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/config"
	"github.com/ws-dev/ws/internal/pipeline"
)

// DoctorOptions are the inputs of 'ws doctor'.
type DoctorOptions struct {
	IO          *cmdutil.IOStreams
	Factory     *cmdutil.Factory
	Tags        []string
	Gateway     string
	AgentSource string
	cmdutil.GitLabFlags
	// HTTPClient asks the gateway for /healthz; nil means a client with a
	// 10 s timeout.
	HTTPClient *http.Client
}

// Statuses of a check.
const (
	StatusPass = "pass"
	StatusWarn = "warn"
	StatusFail = "fail"
	// StatusSkip: not run because a check it depends on failed.
	StatusSkip = "skip"
)

// Names of the checks, in the order they run; stable for --output json.
const (
	CheckGitLab    = "gitlab"
	CheckToken     = "token"
	CheckProject   = "project"
	CheckVariables = "pipeline-variables"
	CheckRunners   = "runners"
	CheckGateway   = "gateway"
	CheckAgent     = "agent"
	CheckFlags     = "runner-flags"
)

// Check is one line of the report.
type Check struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix"` // "" when there is nothing to do
}

// Report is the JSON shape of 'ws doctor' (docs/doctor.md).
type Report struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"` // no check failed; warnings allowed
}

// NewCmdDoctor returns 'ws doctor'.
func NewCmdDoctor(f *cmdutil.Factory, runF func(*DoctorOptions) error) *cobra.Command {
	opts := &DoctorOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "admin",
		Use:     "doctor [-R PROJECT] [--tag T]... [--gateway URL]",
		Short:   "Check that GitLab, the token, the project, runners and gateway are ready for workspaces",
		Long: `Check, one by one, what a workspace needs: GitLab reachable and its version;
the token valid with the api scope; the project found and ws/* branches
pushable by you; the pipeline variables setting (informational); an online
runner with the workspace's tags; the gateway healthy; the agent delivery
mode suited to the runners; and no runner feature flag set as a project CI/CD
variable that breaks workspaces (read by Maintainers only). Each check passes,
warns or fails, with a fix.

The workspace's tags and agent delivery mode come from --tag and
--agent-source, else from the devfile in the current directory, else from the
compiler's defaults. The token is never printed.

Exit status: 0 when no check failed (warnings allowed), 4 when the token check
failed, 1 when another check failed.`,
		Example: `  $ ws doctor
  $ ws doctor -R group/project --tag ws --gateway https://ws.example.com
  $ ws doctor --output json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := cmdutil.CheckFormat("doctor", "output", opts.Output); err != nil {
				return err
			}
			switch opts.AgentSource {
			case "", compiler.AgentArtifact, compiler.AgentService, compiler.AgentLocal:
			default:
				return cmdutil.FlagErrorf("doctor", "invalid --agent-source %q: want artifact, service or local", opts.AgentSource)
			}
			if opts.Gateway != "" {
				if u, err := url.Parse(opts.Gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return cmdutil.FlagErrorf("doctor", "invalid --gateway %q: want a URL like https://ws.example.com", opts.Gateway)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return doctorRun(c.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Tags, "tag", nil, "runner tag of the workspace job (repeatable; default: the devfile's ws/tags)")
	fl.StringVar(&opts.Gateway, "gateway", "", "gateway base URL (default: WS_GATEWAY_URL)")
	fl.StringVar(&opts.AgentSource, "agent-source", "", "agent delivery mode to check: artifact, service or local (default: the devfile's, else artifact)")
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	return cmd
}

// workspace is what doctor knows of the workspace it checks for.
type workspace struct {
	name        string // "" when no devfile gave one
	tags        []string
	tagsFrom    string // "--tag", "devfile .devfile.yaml", "default"
	agentSource string
	agentFrom   string
	// serviceCommands counts the devfile's service containers that set a
	// command or args (FF_KUBERNETES_HONOR_ENTRYPOINT drops them).
	serviceCommands int
	note            string // why the devfile could not be used, if it could not
}

type doctor struct {
	opts     *DoctorOptions
	ctx      context.Context
	settings config.Settings
	ws       workspace
	client   *gitlab.Client
	auth     *gitlab.AuthInfo
	project  string
	access   *gitlab.ProjectAccess
	runners  *gitlab.RunnerCheck
	report   Report
	authFail bool
}

func doctorRun(ctx context.Context, opts *DoctorOptions) error {
	f := opts.Factory
	s, err := f.Config()
	if err != nil {
		return err
	}
	if opts.Gateway != "" {
		s.Gateway = config.Value{Value: strings.TrimRight(opts.Gateway, "/"), Source: "--gateway flag"}
	}
	dir, err := f.WorkDir()
	if err != nil {
		return err
	}
	d := &doctor{opts: opts, ctx: ctx, settings: s, ws: readWorkspace(dir, opts, s)}
	d.checkGitLab()
	d.checkToken()
	d.checkProject(dir)
	d.checkVariables()
	d.checkRunners()
	d.checkGateway()
	d.checkAgent()
	d.checkFeatureFlags()

	d.report.OK = true
	for _, c := range d.report.Checks {
		if c.Status == StatusFail {
			d.report.OK = false
		}
	}
	if opts.Output == cmdutil.OutputJSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, d.report); err != nil {
			return err
		}
	} else {
		writeText(opts.IO, d.report)
	}
	switch {
	case d.authFail:
		return &cmdutil.ExitError{Code: cmdutil.ExitAuth}
	case !d.report.OK:
		return cmdutil.ErrSilent
	}
	return nil
}

func (d *doctor) add(name, status, msg, fix string) {
	d.report.Checks = append(d.report.Checks, Check{Name: name, Status: status, Message: msg, Fix: fix})
}

func (d *doctor) status(name string) string {
	for _, c := range d.report.Checks {
		if c.Name == name {
			return c.Status
		}
	}
	return ""
}

func (d *doctor) skip(name, because string) {
	d.add(name, StatusSkip, "not checked: "+because, "")
}

// readWorkspace compiles the devfile of dir, if there is one, for the
// workspace's name, tags and agent delivery mode; flags win.
func readWorkspace(dir string, opts *DoctorOptions, s config.Settings) workspace {
	w := workspace{tags: opts.Tags, tagsFrom: "--tag", agentSource: opts.AgentSource, agentFrom: "--agent-source"}
	if len(w.tags) == 0 {
		w.tagsFrom = "default"
	}
	if w.agentSource == "" {
		w.agentSource, w.agentFrom = compiler.AgentArtifact, "default"
	}
	path, err := pipeline.Find(dir, "")
	if err != nil {
		w.note = "no devfile in the current directory"
		return w
	}
	rel := filepath.ToSlash(filepath.Base(path))
	res, err := pipeline.CompileFile(dir, "", compiler.Options{Tags: opts.Tags, AgentSource: opts.AgentSource, Gateway: s.Gateway.Value})
	if err != nil || res.Diags.HasErrors() {
		w.note = rel + " is invalid (run 'ws validate')"
		return w
	}
	if res.Plan != nil {
		w.name = res.Plan.Workspace
	}
	job, err := workspaceJob(res.YAML)
	if err != nil {
		w.note = rel + ": " + err.Error()
		return w
	}
	if len(opts.Tags) == 0 {
		w.tags, w.tagsFrom = job.Tags, "devfile "+rel
		if len(w.tags) == 0 {
			w.tagsFrom = "devfile " + rel + ", which sets none"
		}
	}
	if opts.AgentSource == "" {
		w.agentSource, w.agentFrom = job.agentSource(), "devfile "+rel
	}
	for _, sv := range job.Services {
		if sv.Alias != "ws-agent-injector" && (len(sv.Entrypoint) > 0 || len(sv.Command) > 0) {
			w.serviceCommands++
		}
	}
	return w
}

// ciJob is the part of the compiled workspace job doctor reads.
type ciJob struct {
	Tags      []string  `yaml:"tags"`
	Variables yaml.Node `yaml:"variables"`
	Services  []struct {
		Alias      string   `yaml:"alias"`
		Entrypoint []string `yaml:"entrypoint"`
		Command    []string `yaml:"command"`
	} `yaml:"services"`
}

func workspaceJob(y []byte) (*ciJob, error) {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(y, &top); err != nil {
		return nil, fmt.Errorf("read compiled job: %w", err)
	}
	n, ok := top[gitlab.WorkspaceJobName]
	if !ok {
		return nil, errors.New("the compiled pipeline has no workspace job")
	}
	var j ciJob
	if err := n.Decode(&j); err != nil {
		return nil, fmt.Errorf("read compiled job: %w", err)
	}
	return &j, nil
}

// agentSource tells the delivery mode from WS_BIN (docs/agent-injection.md).
func (j *ciJob) agentSource() string {
	var vars map[string]yaml.Node
	_ = j.Variables.Decode(&vars)
	v := vars["WS_BIN"]
	bin := v.Value
	if v.Kind == yaml.MappingNode {
		var long struct{ Value string }
		_ = v.Decode(&long)
		bin = long.Value
	}
	switch {
	case bin == compiler.AgentBinary || bin == "ws":
		return compiler.AgentLocal
	case strings.Contains(bin, ".ws-agent/"):
		return compiler.AgentService
	default:
		return compiler.AgentArtifact
	}
}

// 1. GitLab reachable, and its version.
func (d *doctor) checkGitLab() {
	f := d.opts.Factory
	host := d.settings.Host
	c, err := f.GitLab(d.opts.Debug)
	if err != nil {
		var ae *cmdutil.AuthError
		if !errors.As(err, &ae) {
			d.add(CheckGitLab, StatusFail, err.Error(), "check GITLAB_HOST")
			return
		}
		// No token: ask anyway; an answer (401) shows GitLab is there.
		gopts := gitlab.Options{Host: host.Value, Now: f.Now, Sleep: f.Sleep}
		if d.opts.Debug {
			gopts.Debug = d.opts.IO.ErrOut
		}
		if c, err = gitlab.New(gopts); err != nil {
			d.add(CheckGitLab, StatusFail, err.Error(), "check GITLAB_HOST")
			return
		}
	} else {
		d.client = c
	}
	where := fmt.Sprintf("%s (from %s)", host.Value, host.Source)
	v, err := c.Version(d.ctx)
	var ge *gitlab.Error
	switch {
	case err == nil:
		d.add(CheckGitLab, StatusPass, fmt.Sprintf("GitLab %s at %s", v, where), "")
		return
	case errors.As(err, &ge) && (ge.Status == http.StatusUnauthorized || ge.Status == http.StatusForbidden):
		d.add(CheckGitLab, StatusPass, fmt.Sprintf("GitLab answers at %s (it shows its version only to a valid token)", where), "")
		return
	case errors.As(err, &ge) && ge.Status == http.StatusNotFound:
		d.add(CheckGitLab, StatusFail, fmt.Sprintf("%s does not look like GitLab: GET /api/v4/version answered 404", where),
			"set GITLAB_HOST to the instance's base URL, e.g. https://gitlab.example.com")
	case errors.As(err, &ge) && ge.Hint != "":
		d.add(CheckGitLab, StatusFail, err.Error(), ge.Hint)
	default:
		d.add(CheckGitLab, StatusFail, err.Error(), "check your network and GITLAB_HOST")
	}
	d.client = nil // nothing else can work
}

// 2. Token valid, with the api scope.
func (d *doctor) checkToken() {
	tok := d.settings.Token
	if d.status(CheckGitLab) == StatusFail {
		d.skip(CheckToken, "GitLab is not reachable")
		return
	}
	if !tok.Set() {
		d.authFail = true
		d.add(CheckToken, StatusFail, "no GitLab token for "+d.settings.Host.Value,
			"create a personal access token with the api scope at "+d.settings.Host.Value+"/-/user_settings/personal_access_tokens and export GITLAB_TOKEN=<token>")
		return
	}
	info, err := d.client.Auth(d.ctx)
	if err != nil {
		var ge *gitlab.Error
		if errors.As(err, &ge) && ge.Kind == gitlab.KindAuth {
			d.authFail = true
			d.add(CheckToken, StatusFail, fmt.Sprintf("GitLab rejected the token from %s: %d %s", tok.Source, ge.Status, http.StatusText(ge.Status)), ge.Hint)
		} else {
			fix := "try again"
			if errors.As(err, &ge) && ge.Hint != "" {
				fix = ge.Hint
			}
			d.add(CheckToken, StatusFail, err.Error(), fix)
		}
		return
	}
	d.auth = info
	who := "as " + info.Username
	if info.IsAdmin {
		who += " (administrator)"
	}
	name := "token"
	if info.TokenName != "" {
		name = fmt.Sprintf("token %q", info.TokenName)
	}
	msg := fmt.Sprintf("logged in %s; %s from %s", who, name, tok.Source)
	if info.Scopes == nil {
		d.add(CheckToken, StatusPass, msg+"; scopes unknown (not a personal access token)", "")
		return
	}
	scopes := strings.Join(info.Scopes, ", ")
	if scopes == "" {
		scopes = "none"
	}
	if !info.HasScope("api") {
		d.authFail = true
		d.add(CheckToken, StatusFail, fmt.Sprintf("%s lacks the api scope (has %s)", msg, scopes),
			"create a personal access token with the api scope at "+d.settings.Host.Value+"/-/user_settings/personal_access_tokens and export GITLAB_TOKEN=<token>; ws commits, creates and cancels pipelines, which read_api and write_repository do not allow")
		return
	}
	msg += "; scopes " + scopes
	if info.ExpiresAt != "" {
		msg += "; expires " + info.ExpiresAt
		if exp, err := time.Parse(time.DateOnly, info.ExpiresAt); err == nil && exp.Sub(d.opts.Factory.Now()) < 7*24*time.Hour {
			d.add(CheckToken, StatusWarn, msg, "the token expires within a week: rotate it at "+d.settings.Host.Value+"/-/user_settings/personal_access_tokens")
			return
		}
	}
	d.add(CheckToken, StatusPass, msg, "")
}

// 3. Project found, and the user may push ws/* branches.
func (d *doctor) checkProject(dir string) {
	if d.auth == nil {
		d.skip(CheckProject, "no valid token")
		return
	}
	project, err := cmdutil.ResolveProject(d.opts.Project, d.settings)
	if err != nil {
		var he *cmdutil.HintError
		fix := "pass -R group/name"
		if errors.As(err, &he) {
			fix = he.Hint
		}
		d.add(CheckProject, StatusFail, err.Error(), fix)
		return
	}
	d.project = project
	pa, err := d.client.ProjectAccess(d.ctx, project, d.auth.ID)
	if err != nil {
		if gitlab.IsKind(err, gitlab.KindProjectNotFound) {
			d.add(CheckProject, StatusFail, fmt.Sprintf("project %s not found on %s", project, d.settings.Host.Value),
				"check -R (group/name or ID) and GITLAB_HOST; a private project looks missing to a token that cannot see it")
		} else {
			d.add(CheckProject, StatusFail, err.Error(), hintOf(err, "try again"))
		}
		return
	}
	d.access = pa
	level := pa.Level
	if d.auth.IsAdmin {
		level = gitlab.AccessAdmin
	}
	role := "you are " + gitlab.RoleName(level)
	if level < gitlab.AccessDeveloper {
		d.add(CheckProject, StatusFail, fmt.Sprintf("%s: %s; pushing ws/* branches needs Developer", pa.Path, role),
			fmt.Sprintf("ask a Maintainer of %s for the Developer role (Manage > Members)", pa.Path))
		return
	}
	branch := "ws/*"
	if d.ws.name != "" {
		branch = gitlab.Branch(d.ws.name)
	}
	rules, err := d.client.ProtectedBranches(d.ctx, project)
	var ge *gitlab.Error
	if errors.As(err, &ge) && (ge.Status == http.StatusForbidden || ge.Status == http.StatusUnauthorized) {
		d.add(CheckProject, StatusWarn, fmt.Sprintf("%s: %s; cannot check whether %s is protected (listing protected branches needs Maintainer)", pa.Path, role, branch),
			"ask a Maintainer to check Settings > Repository > Protected branches for rules matching ws/* or *")
		return
	}
	if err != nil {
		d.add(CheckProject, StatusFail, err.Error(), hintOf(err, "try again"))
		return
	}
	var matching []gitlab.BranchRule
	for _, r := range rules {
		if (d.ws.name != "" && r.Matches(branch)) || (d.ws.name == "" && r.MayMatchWorkspaces()) {
			matching = append(matching, r)
		}
	}
	if len(matching) == 0 {
		d.add(CheckProject, StatusPass, fmt.Sprintf("%s: %s; %s is not protected", pa.Path, role, branch), "")
		return
	}
	// GitLab applies the most permissive matching rule to pushes.
	var (
		allowed  *gitlab.BranchRule
		unknown  bool
		patterns []string
		noForce  []string
	)
	for i, r := range matching {
		patterns = append(patterns, fmt.Sprintf("%q (push: %s)", r.Pattern, r.PushRoles()))
		ok, unk := r.AllowsPush(level, d.auth.ID)
		if ok && allowed == nil {
			allowed = &matching[i]
		}
		unknown = unknown || unk
		if !r.AllowForcePush {
			noForce = append(noForce, fmt.Sprintf("%q", r.Pattern))
		}
	}
	fixRule := fmt.Sprintf("in %s's Settings > Repository > Protected branches, remove the rule for %s or let Developers push and force push", pa.Path, strings.Join(rulePatterns(matching), ", "))
	switch {
	case allowed == nil && unknown:
		d.add(CheckProject, StatusWarn, fmt.Sprintf("%s: %s; %s is protected by %s, which allows groups ws cannot resolve", pa.Path, role, branch, strings.Join(patterns, ", ")),
			"make sure you belong to one of the allowed groups; otherwise "+fixRule)
	case allowed == nil:
		d.add(CheckProject, StatusFail, fmt.Sprintf("%s: %s; %s is protected by %s, which does not let you push", pa.Path, role, branch, strings.Join(patterns, ", ")), fixRule)
	case len(noForce) > 0:
		d.add(CheckProject, StatusWarn, fmt.Sprintf("%s: %s; %s is protected and you may push, but %s forbids force push, which 'ws up' uses to rewrite the branch", pa.Path, role, branch, strings.Join(noForce, ", ")),
			fmt.Sprintf("turn on \"Allowed to force push\" for %s in %s's protected branch settings, or remove the rule", strings.Join(noForce, ", "), pa.Path))
	default:
		d.add(CheckProject, StatusPass, fmt.Sprintf("%s: %s; %s is protected by %s, which lets you push and force push", pa.Path, role, branch, strings.Join(patterns, ", ")), "")
	}
}

func rulePatterns(rs []gitlab.BranchRule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%q", r.Pattern)
	}
	return out
}

// 4. Pipeline variables: informational, ws does not need them.
func (d *doctor) checkVariables() {
	if d.access == nil {
		d.skip(CheckVariables, "the project check did not pass")
		return
	}
	const why = "ws does not need them: it writes every value into the committed job"
	var msg string
	switch role := d.access.VariablesMinimumRole; {
	case role == "no_one_allowed":
		msg = "pipeline variables are disabled (no_one_allowed); " + why
	case role != "":
		msg = fmt.Sprintf("pipeline variables need at least %s (%s); %s", role, "ci_pipeline_variables_minimum_override_role", why)
	case d.access.RestrictVariables:
		msg = "pipeline variables are restricted (restrict_user_defined_variables); " + why
	default:
		msg = "the pipeline variables setting is shown to Maintainers only; " + why
	}
	d.add(CheckVariables, StatusPass, msg, "")
}

// 5. An online runner with the workspace's tags.
func (d *doctor) checkRunners() {
	if d.project == "" || d.access == nil {
		d.skip(CheckRunners, "the project check did not pass")
		return
	}
	from := d.ws.tagsFrom
	if d.ws.note != "" && d.ws.tagsFrom == "default" {
		from += "; " + d.ws.note
	}
	if len(d.ws.tags) == 0 {
		d.add(CheckRunners, StatusWarn, fmt.Sprintf("the workspace job has no runner tags (%s): only a runner that picks untagged jobs takes it", from),
			"set ws/tags in the devfile's attributes or pass --tag, naming a runner set up with 'ws runner config' (docs/runners.md)")
		return
	}
	tags := strings.Join(d.ws.tags, ", ")
	rc, err := d.client.CheckRunners(d.ctx, d.project, d.ws.tags)
	if err != nil {
		d.add(CheckRunners, StatusFail, err.Error(), hintOf(err, "try again"))
		return
	}
	d.runners = &rc
	switch {
	case !rc.Checked:
		d.add(CheckRunners, StatusWarn, fmt.Sprintf("cannot check for runners with tags %s (%s): listing a project's runners needs Maintainer", tags, from),
			fmt.Sprintf("ask a Maintainer to run 'ws doctor -R %s', or look under Settings > CI/CD > Runners for an online runner with tags %s", d.project, tags))
	case rc.Online == 0:
		d.add(CheckRunners, StatusFail, fmt.Sprintf("no online runner of %s has the tags %s (%s); the workspace job would stay pending", d.project, tags, from),
			fmt.Sprintf("register one: 'ws runner config --tag %s' prints its settings (docs/runners.md); or use the tags of an existing runner with --tag or ws/tags", strings.Join(d.ws.tags, " --tag ")))
	default:
		d.add(CheckRunners, StatusPass, fmt.Sprintf("%d online runner(s) with tags %s (%s): %s", rc.Online, tags, from, runnerNames(rc.Runners)), "")
	}
}

func runnerNames(rs []gitlab.RunnerInfo) string {
	var out []string
	for i, r := range rs {
		if i == 5 {
			out = append(out, fmt.Sprintf("and %d more", len(rs)-5))
			break
		}
		n := r.Description
		if n == "" {
			n = fmt.Sprintf("#%d", r.ID)
		}
		out = append(out, n)
	}
	return strings.Join(out, ", ")
}

// 6. The gateway reachable and healthy.
func (d *doctor) checkGateway() {
	g := d.settings.Gateway
	if !g.Set() {
		d.add(CheckGateway, StatusWarn, "no gateway configured: 'ws shell', 'ws open' and port forwarding need one",
			"deploy one (docs/deploy.md) and export WS_GATEWAY_URL=https://ws.example.com, or pass --gateway (docs/gateway.md)")
		return
	}
	hc := d.opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	u := g.Value + "/healthz"
	fix := fmt.Sprintf("check the URL (from %s) and that 'ws gateway serve' runs there (docs/deploy.md)", g.Source)
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, u, nil)
	if err != nil {
		d.add(CheckGateway, StatusFail, err.Error(), fix)
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		d.add(CheckGateway, StatusFail, fmt.Sprintf("cannot reach the gateway at %s: %v", u, err), fix)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.add(CheckGateway, StatusFail, fmt.Sprintf("the gateway at %s answered %s", u, resp.Status), fix)
		return
	}
	d.add(CheckGateway, StatusPass, fmt.Sprintf("gateway %s is healthy (from %s)", g.Value, g.Source), "")
}

// 7. The agent delivery mode suits the runner's executor. GitLab shows a
// runner's executor to administrators only (and not in REST at all), so
// doctor reads what hints it has: the tags and the runners' descriptions.
func (d *doctor) checkAgent() {
	src := d.ws.agentSource
	mode := fmt.Sprintf("--agent-source %s (%s)", src, d.ws.agentFrom)
	var hints []string
	hints = append(hints, d.ws.tags...)
	if d.runners != nil {
		for _, r := range d.runners.Runners {
			hints = append(hints, r.Description)
		}
	}
	shell, images := executorHints(hints)
	const unknown = "GitLab does not show a runner's executor through its API, so ws cannot verify it"
	switch src {
	case compiler.AgentLocal:
		if images && !shell {
			d.add(CheckAgent, StatusWarn, mode+" needs a shell executor with ws on its PATH, but the runner's tags or description name docker or kubernetes",
				"use --agent-source artifact (the default) on Docker and Kubernetes runners, or tags that select a shell runner (docs/agent-injection.md)")
			return
		}
		d.add(CheckAgent, StatusPass, mode+" needs a shell executor with ws on its PATH; "+unknown+" (the job stops early with a clear message when ws is missing)", "")
	default:
		if shell && !images {
			d.add(CheckAgent, StatusWarn, mode+" needs a runner that runs images (docker or kubernetes executor), but the runner's tags or description name a shell executor",
				"use --agent-source local with ws installed on the shell runner's PATH, or tags that select a Docker or Kubernetes runner (docs/agent-injection.md)")
			return
		}
		d.add(CheckAgent, StatusPass, mode+" needs a runner that runs images (docker or kubernetes executor); "+unknown, "")
	}
}

// runnerFlag is a runner feature flag that breaks a workspace without an
// error of its own (docs/runners.md, "Feature flags").
type runnerFlag struct {
	name string
	// breaks says what goes wrong for workspace w; fail marks what stops
	// the workspace from starting at all.
	breaks func(w workspace) (what string, fail bool)
}

var runnerFlags = []runnerFlag{
	{"FF_KUBERNETES_HONOR_ENTRYPOINT", func(w workspace) (string, bool) {
		// gitlab-runner executors/kubernetes getCommandAndArgs: with the flag
		// the image's and services' entrypoint and command are dropped.
		if w.agentSource == compiler.AgentService {
			return "the agent service loses its command, so the job never gets the agent (use --agent-source artifact)", true
		}
		what := "the workspace image's own ENTRYPOINT runs again instead of the entrypoint [\"\"] ws sets"
		if w.serviceCommands > 0 {
			what += fmt.Sprintf(", and %d of the devfile's service containers lose their command", w.serviceCommands)
		}
		return what, false
	}},
	{"FF_SUSPENDABLE_ENVIRONMENTS", func(w workspace) (string, bool) {
		if w.agentSource == compiler.AgentService {
			return "services may not share the builds directory, where the agent service puts the agent (use --agent-source artifact)", true
		}
		return "services may not share the builds directory (the project)", false
	}},
	{"FF_USE_NATIVE_CONTAINER_STOP", func(workspace) (string, bool) {
		return "the Docker executor skips its SIGTERM to the job's processes, so preStop runs from after_script, after the workspace's processes have gone", false
	}},
}

// 8. Runner feature flags that break workspaces silently. Flags in a
// runner's config.toml are invisible through the API; flags set as the
// project's CI/CD variables (FF_...: "true") reach every job, so doctor
// reads those when the user may (Maintainer).
func (d *doctor) checkFeatureFlags() {
	const hidden = "flags in a runner's config.toml ([runners.feature_flags]) are not visible through GitLab's API: 'ws runner config' turns these off"
	var names []string
	for _, f := range runnerFlags {
		names = append(names, f.name)
	}
	if d.access == nil {
		d.skip(CheckFlags, "the project check did not pass")
		return
	}
	level := d.access.Level
	if d.auth != nil && d.auth.IsAdmin {
		level = gitlab.AccessAdmin
	}
	if level < gitlab.AccessMaintainer {
		d.add(CheckFlags, StatusPass, fmt.Sprintf("not checked whether %s is on: reading the project's CI/CD variables needs Maintainer; %s", strings.Join(names, ", "), hidden), "")
		return
	}
	flags, checked, err := d.client.FeatureFlagVariables(d.ctx, d.project)
	switch {
	case err != nil:
		d.add(CheckFlags, StatusWarn, err.Error(), hintOf(err, "try again"))
		return
	case !checked:
		d.add(CheckFlags, StatusPass, "GitLab did not show the project's CI/CD variables; "+hidden, "")
		return
	}
	var fails, warns []string
	for _, f := range runnerFlags {
		if on, _ := strconv.ParseBool(flags[f.name]); !on {
			continue
		}
		what, fail := f.breaks(d.ws)
		line := fmt.Sprintf("%s is on (a CI/CD variable of %s): %s", f.name, d.project, what)
		if fail {
			fails = append(fails, line)
		} else {
			warns = append(warns, line)
		}
	}
	fix := fmt.Sprintf("delete the variable (Settings > CI/CD > Variables of %s) or set it to false in the workspace job; see docs/runners.md", d.project)
	switch {
	case len(fails) > 0:
		d.add(CheckFlags, StatusFail, strings.Join(append(fails, warns...), "; "), fix)
	case len(warns) > 0:
		d.add(CheckFlags, StatusWarn, strings.Join(warns, "; "), fix)
	default:
		d.add(CheckFlags, StatusPass, fmt.Sprintf("no CI/CD variable of %s turns on %s; %s", d.project, strings.Join(names, ", "), hidden), "")
	}
}

// executorHints looks for executor names among tags and runner descriptions.
func executorHints(words []string) (shell, images bool) {
	for _, w := range words {
		for _, f := range strings.FieldsFunc(strings.ToLower(w), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		}) {
			switch f {
			case "shell":
				shell = true
			case "docker", "kubernetes", "k8s", "podman":
				images = true
			}
		}
	}
	return shell, images
}

func hintOf(err error, def string) string {
	var ge *gitlab.Error
	if errors.As(err, &ge) && ge.Hint != "" {
		return ge.Hint
	}
	return def
}

// writeText prints one line per check; the fix is indented below it.
func writeText(io *cmdutil.IOStreams, r Report) {
	tty := io.IsStdoutTTY()
	var fails, warns int
	for _, c := range r.Checks {
		mark, indent := c.Status, "     "
		switch c.Status {
		case StatusPass:
			mark = "ok  "
		case StatusWarn:
			warns++
		case StatusFail:
			fails++
		}
		if tty {
			mark, indent = map[string]string{StatusPass: "✓", StatusWarn: "!", StatusFail: "✗", StatusSkip: "-"}[c.Status], "  "
		}
		fmt.Fprintf(io.Out, "%s %s: %s\n", mark, c.Name, c.Message)
		if c.Fix != "" {
			fmt.Fprintf(io.Out, "%s%s\n", indent, c.Fix)
		}
	}
	switch {
	case fails > 0:
		fmt.Fprintf(io.Out, "%d failed, %d warning(s)\n", fails, warns)
	case warns > 0:
		fmt.Fprintf(io.Out, "no failures, %d warning(s)\n", warns)
	default:
		fmt.Fprintln(io.Out, "all checks passed")
	}
}
