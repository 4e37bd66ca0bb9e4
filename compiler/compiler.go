package compiler

import (
	"fmt"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/internal/names"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/schema"
)

// Job and stage names of the generated file.
const (
	StagePrepare   = "prepare"
	StageWorkspace = "workspace"
	JobWorkspace   = names.WorkspaceJob
	JobStop        = "ws-stop"
	JobAgent       = "ws-agent"
	// AgentDir is where the artifact mode puts ws, relative to the project.
	AgentDir = ".ws/bin"
	// VolumesDir holds persisted volumes, relative to the project; it is the
	// cache path.
	VolumesDir = ".ws/volumes"
)

// reservedVars are job variables ws sets itself; the devfile may not.
var reservedVars = []string{plan.EnvVar, "WS_BIN", "RUNNER_SCRIPT_TIMEOUT", "RUNNER_AFTER_SCRIPT_TIMEOUT", "CI_JOB_TOKEN"}

type compiler struct {
	df    *schema.Devfile
	opts  Options
	diags diag.List
	comps map[string]*v1.Component
	cmds  map[string]*v1.Command
	set   settings
	main  *v1.Component
	// images maps an image component's imageName to the registry reference
	// its build job pushes.
	images map[string]string
	// prepJobs are the jobs of the prepare stage, in order.
	prepJobs []ci.Job
	// preScript are lines the workspace job runs before the agent.
	preScript []string
	// applied holds the containers that apply commands name (init
	// containers): they are not services.
	applied map[string]bool
	// builtBy maps an image reference built in this pipeline to its job.
	builtBy map[string]string
	// lastInit is the previous preStart job; the next one needs it.
	lastInit string
}

// Compile turns a loaded devfile into the CI pipeline and the agent's plan.
// With error diagnostics the pipeline and plan are nil.
func Compile(df *schema.Devfile, opts Options) (*ci.Pipeline, *plan.Plan, diag.List) {
	c := &compiler{df: df, opts: opts, comps: map[string]*v1.Component{}, cmds: map[string]*v1.Command{}, images: map[string]string{}, builtBy: map[string]string{}}
	for i := range df.Spec.Components {
		comp := &df.Spec.Components[i]
		c.comps[comp.Name] = comp
	}
	for i := range df.Spec.Commands {
		cmd := &df.Spec.Commands[i]
		c.cmds[cmd.Id] = cmd
	}
	c.set = c.settings()
	if opts.Profile == ProfileGitLab {
		c.gitlabRules()
	} else if opts.Profile != "" && opts.Profile != ProfileDefault {
		c.errorf("", "invalid-profile", "use default or gitlab", "unknown profile %q", opts.Profile)
	}
	c.checkComponents()
	c.checkEnvNames()
	c.applied = c.appliedContainers()
	c.main = c.selectMain()
	p := &plan.Plan{Version: plan.Version, Workspace: c.set.name, Gateway: c.set.gateway, IdleTimeout: goDuration(c.set.idleMin)}
	if c.set.dotfiles != "" {
		p.Dotfiles = &plan.Dotfiles{Repository: c.set.dotfiles}
	}
	var job ci.Job
	if c.main != nil {
		job = c.workspaceJob(p)
	}
	if c.diags.HasErrors() {
		return nil, nil, c.diags.Sorted()
	}
	job.Variables = append(ci.Variables{{Name: plan.EnvVar, Value: p.JSON(), Literal: true}}, job.Variables...)

	pl := &ci.Pipeline{
		Source: df.File,
		Stages: []string{StagePrepare, StageWorkspace},
		Workflow: &ci.Workflow{Rules: []ci.Rule{
			{If: `$CI_PIPELINE_SOURCE == "api"`},
			{If: `$CI_PIPELINE_SOURCE == "web"`},
			// The CI template (templates/workspace.yml) starts the compiled
			// job as a dynamic child pipeline.
			{If: `$CI_PIPELINE_SOURCE == "parent_pipeline"`},
		}},
	}
	if len(c.prepJobs) == 0 {
		pl.Stages = []string{StageWorkspace}
	}
	pl.Jobs = append(pl.Jobs, c.prepJobs...)
	pl.Jobs = append(pl.Jobs, job, c.stopJob())
	return pl, p, c.diags.Sorted()
}

func (c *compiler) add(sev diag.Severity, path, code, hint, format string, args ...any) {
	c.diags = append(c.diags, diag.Diagnostic{Severity: sev, Pos: c.df.Index.Pos(path), Path: path,
		Summary: fmt.Sprintf(format, args...), Hint: hint, Code: code})
}

func (c *compiler) errorf(path, code, hint, format string, args ...any) {
	c.add(diag.Error, path, code, hint, format, args...)
}

func (c *compiler) warn(path, code, hint, format string, args ...any) {
	c.add(diag.Warning, path, code, hint, format, args...)
}

// compPath is the data path of a component in the main file, or "parent"
// when it was inherited.
func (c *compiler) compPath(name string) string {
	if p, ok := c.df.Index.Find("components", "name", name); ok {
		return p
	}
	if c.df.Index.Has("parent") {
		return "parent"
	}
	return "components"
}

func (c *compiler) cmdPath(id string) string {
	if p, ok := c.df.Index.Find("commands", "id", id); ok {
		return p
	}
	if c.df.Index.Has("parent") {
		return "parent"
	}
	return "commands"
}

// checkComponents reports component types and fields a CI job cannot honour.
func (c *compiler) checkComponents() {
	used := c.usedByEvents()
	for _, comp := range c.df.Spec.Components {
		p := c.compPath(comp.Name)
		switch {
		case comp.Kubernetes != nil || comp.Openshift != nil:
			kind := "kubernetes"
			if comp.Openshift != nil {
				kind = "openshift"
			}
			if used[comp.Name] {
				c.warn(p+"."+kind, kind+"-component", "ws runs on CI runners without cluster access; use a container component to run something at that event",
					"%s component %q is applied by an event, which a CI job cannot do; the step is skipped", kind, comp.Name)
			} else {
				c.warn(p+"."+kind, kind+"-component", "remove it or ignore this warning; deploy commands are not run by ws",
					"%s component %q is ignored", kind, comp.Name)
			}
		case comp.Custom != nil:
			if used[comp.Name] {
				c.warn(p+".custom", "custom-component", "replace it with a container component", "custom component %q is used by an event but ws cannot run it; the step is skipped", comp.Name)
			} else {
				c.warn(p+".custom", "custom-component", "", "custom component %q is ignored", comp.Name)
			}
		case comp.Plugin != nil:
			c.errorf(p+".plugin", "plugin-component", "reference the plugin by a local path", "plugin %q was not resolved", comp.Name)
		case comp.Container != nil:
			ct := comp.Container
			if ct.DedicatedPod != nil && *ct.DedicatedPod {
				c.warn(p+".container.dedicatedPod", "dedicated-pod", "remove dedicatedPod; all containers of a CI job share one pod or network",
					"dedicatedPod is ignored: the container runs beside the others")
			}
			if ct.SourceMapping != "" && c.opts.Profile != ProfileGitLab {
				c.warn(p+".container.sourceMapping", "source-mapping", "use $CI_PROJECT_DIR (also exported as PROJECT_SOURCE)",
					"sourceMapping is ignored: sources are checked out at $CI_PROJECT_DIR")
			}
			for i, env := range ct.Env {
				for _, r := range reservedVars {
					if env.Name == r {
						c.errorf(fmt.Sprintf("%s.container.env[%d].name", p, i), "reserved-env", "rename the variable", "%s is set by ws and cannot be overridden", env.Name)
					}
				}
			}
		}
	}
	if len(c.df.Spec.Projects) > 0 && c.opts.Profile != ProfileGitLab {
		c.warn("projects", "projects-ignored", "the job checks out the repository that holds the generated file; clone others in a postStart command",
			"projects are not cloned by ws")
	}
	if len(c.df.Spec.StarterProjects) > 0 && c.opts.Profile != ProfileGitLab {
		c.warn("starterProjects", "starter-projects-ignored", "", "starterProjects are ignored")
	}
}

// usedByEvents returns the names of components that event commands apply or run in.
func (c *compiler) usedByEvents() map[string]bool {
	used := map[string]bool{}
	if c.df.Spec.Events == nil {
		return used
	}
	ev := c.df.Spec.Events
	for _, list := range [][]string{ev.PreStart, ev.PostStart, ev.PreStop, ev.PostStop} {
		for _, id := range list {
			for _, cmd := range c.leafCommands(id, 0) {
				switch {
				case cmd.Apply != nil:
					used[cmd.Apply.Component] = true
				case cmd.Exec != nil:
					used[cmd.Exec.Component] = true
				}
			}
		}
	}
	return used
}

// leafCommands expands composites into exec/apply commands, in order.
func (c *compiler) leafCommands(id string, depth int) []*v1.Command {
	cmd := c.cmds[id]
	if cmd == nil || depth > 20 {
		return nil
	}
	if cmd.Composite != nil {
		var out []*v1.Command
		for _, sub := range cmd.Composite.Commands {
			out = append(out, c.leafCommands(sub, depth+1)...)
		}
		return out
	}
	return []*v1.Command{cmd}
}

// shellQuote quotes s for POSIX sh.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
