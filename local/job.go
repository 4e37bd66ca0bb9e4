package local

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/names"
	"github.com/ws-dev/ws/plan"
)

// Job is the workspace job of a compiled pipeline, in the form the local
// runners need: what GitLab would run, with the variables still unexpanded.
type Job struct {
	Name        string     `json:"name"`
	Image       string     `json:"image,omitempty"`
	Entrypoint  []string   `json:"entrypoint,omitempty"`
	Services    []Service  `json:"services,omitempty"`
	Variables   []Variable `json:"variables"`
	Script      []string   `json:"script"`
	AfterScript []string   `json:"afterScript,omitempty"`
	// Needs are the earlier jobs whose artifacts the job downloads, in
	// order: the ws-agent job of the artifact delivery mode.
	Needs []NeededJob `json:"needs,omitempty"`
	// AgentImage is the image that delivers the agent (the ws-agent job's,
	// the injector service's); locally the job's image with the local agent
	// binary on PATH stands in for it (see [ContainerOptions.AgentBinary]).
	AgentImage string `json:"agentImage,omitempty"`
	// Endpoints and Volumes come from the plan (WS_PLAN).
	Endpoints []plan.Endpoint `json:"endpoints,omitempty"`
	Volumes   []plan.Volume   `json:"volumes,omitempty"`
	// Skipped names the other jobs of the pipeline, which do not run locally.
	Skipped []string `json:"skipped,omitempty"`
}

// NeededJob is an earlier job the workspace job needs the artifacts of.
type NeededJob struct {
	Name       string     `json:"name"`
	Image      string     `json:"image"`
	Entrypoint []string   `json:"entrypoint,omitempty"`
	Variables  []Variable `json:"variables,omitempty"`
	Script     []string   `json:"script"`
	// Artifacts are the artifacts:paths, relative to the project dir.
	Artifacts []string `json:"artifacts"`
}

// Service is a service container of the job.
type Service struct {
	Image      string     `json:"image"`
	Alias      string     `json:"alias,omitempty"`
	Entrypoint []string   `json:"entrypoint,omitempty"`
	Command    []string   `json:"command,omitempty"`
	Variables  []Variable `json:"variables,omitempty"`
}

// Name is the host name the job reaches the service by: its alias, else
// GitLab's default (the image name without tag, / and : replaced by -).
func (s Service) Name() string {
	if s.Alias != "" {
		return s.Alias
	}
	return strings.NewReplacer("/", "-", ":", "-").Replace(imageWithoutTag(s.Image))
}

// imageWithoutTag is image without its :tag or @digest.
func imageWithoutTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// WorkspaceJob is the name of the job ws compile generates for the workspace.
const WorkspaceJob = names.WorkspaceJob

// JobFrom picks the workspace job of p, with the jobs whose artifacts it
// needs; every other job is listed in Skipped (the stop job, which only
// marks the GitLab environment stopped, is not).
func JobFrom(p *ci.Pipeline, pl *plan.Plan) (*Job, error) {
	if p == nil {
		return nil, errors.New("no compiled pipeline")
	}
	jobs := map[string]*ci.Job{}
	for i := range p.Jobs {
		jobs[p.Jobs[i].Name] = &p.Jobs[i]
	}
	cj := jobs[WorkspaceJob]
	if cj == nil {
		return nil, fmt.Errorf("the compiled pipeline has no %q job", WorkspaceJob)
	}
	j := &Job{Name: cj.Name, Script: append(append([]string{}, cj.BeforeScript...), cj.Script...), AfterScript: cj.AfterScript,
		Variables: vars(cj.Variables)}
	if cj.Image != nil {
		j.Image, j.Entrypoint = cj.Image.Name, cj.Image.Entrypoint
	}
	for _, s := range cj.Services {
		j.Services = append(j.Services, Service{Image: s.Name, Alias: s.Alias, Entrypoint: s.Entrypoint, Command: s.Command, Variables: vars(s.Variables)})
	}
	needed := map[string]bool{}
	if cj.Needs != nil {
		for _, n := range *cj.Needs {
			nj := jobs[n.Job]
			if !n.Artifacts || nj == nil || nj.Artifacts == nil || nj.Image == nil {
				continue
			}
			needed[n.Job] = true
			j.Needs = append(j.Needs, NeededJob{Name: nj.Name, Image: nj.Image.Name, Entrypoint: nj.Image.Entrypoint,
				Variables: vars(nj.Variables), Script: append(append([]string{}, nj.BeforeScript...), nj.Script...),
				Artifacts: nj.Artifacts.Paths})
		}
	}
	for _, name := range []string{compiler.JobAgent, compiler.JobStop} {
		if aj := jobs[name]; aj != nil && aj.Image != nil && j.AgentImage == "" {
			j.AgentImage = aj.Image.Name
		}
	}
	for _, o := range p.Jobs {
		if o.Name != WorkspaceJob && !needed[o.Name] && o.Name != compiler.JobStop {
			j.Skipped = append(j.Skipped, o.Name)
		}
	}
	if pl != nil {
		j.Endpoints, j.Volumes = pl.Endpoints, pl.Volumes
	}
	return j, nil
}

func vars(vs ci.Variables) []Variable {
	var out []Variable
	for _, v := range vs {
		out = append(out, Variable{Name: v.Name, Value: v.Value, Literal: v.Literal})
	}
	return out
}

// Env describes where the job runs; predefined CI variables come from it.
type Env struct {
	Workspace  string
	ProjectDir string // CI_PROJECT_DIR
	BuildsDir  string // CI_BUILDS_DIR
	Image      string // CI_JOB_IMAGE
	Gateway    string // WS_AGENT_GATEWAY: the embedded gateway as the job sees it
	AgentToken string // CI_JOB_TOKEN
	Marker     string // WS_LOCAL_ID
	// WSBin, when set, replaces the job's WS_BIN (shell mode: the binary is
	// here, no delivery runs); container mode leaves the job's own.
	WSBin    string
	AgentLog string // WS_AGENT_LOG; empty: the agent's default
}

// JobID is CI_JOB_ID of every local job (and the job id the embedded
// gateway reports): one workspace, one job.
const JobID = "1"

// predefined returns the predefined variables a runner gives every job of
// the pipeline, before the job's own.
func (e Env) predefined(jobName string) []Variable {
	vs := []Variable{
		{Name: "CI", Value: "true"},
		{Name: "GITLAB_CI", Value: "true"},
		{Name: "CI_SERVER", Value: "yes"},
		{Name: "CI_JOB_ID", Value: JobID},
		{Name: "CI_JOB_NAME", Value: jobName},
		{Name: "CI_PIPELINE_SOURCE", Value: "api"},
		{Name: "CI_PROJECT_DIR", Value: e.ProjectDir},
		{Name: "CI_BUILDS_DIR", Value: e.BuildsDir},
		{Name: "CI_PROJECT_NAME", Value: path.Base(e.ProjectDir)},
		{Name: "CI_COMMIT_REF_NAME", Value: names.Branch(e.Workspace)},
		// Not public: a runner keeps it from the services.
		{Name: "CI_JOB_TOKEN", Value: e.AgentToken, Literal: true, Secret: true},
		{Name: MarkerEnv, Value: e.Marker, Literal: true},
	}
	if e.Image != "" {
		vs = append([]Variable{{Name: "CI_JOB_IMAGE", Value: e.Image, Literal: true}}, vs...)
	}
	return vs
}

// Environment returns the job's variables as the job's shell sees them:
// the predefined ones, the job's in order and the local overrides
// (WS_AGENT_GATEWAY; WS_BIN and WS_AGENT_LOG when set), expanded the way
// GitLab Runner expands them (see [Expand]).
func (j *Job) Environment(e Env) []Variable {
	return jobEnvironment(e.predefined(j.Name), j.Variables, e)
}

func jobEnvironment(pre, own []Variable, e Env) []Variable {
	vs := append(append([]Variable{}, pre...), own...)
	if e.Gateway != "" {
		vs = append(vs, Variable{Name: "WS_AGENT_GATEWAY", Value: e.Gateway, Literal: true})
	}
	if e.WSBin != "" {
		vs = append(vs, Variable{Name: "WS_BIN", Value: e.WSBin, Literal: true})
	}
	if e.AgentLog != "" {
		vs = append(vs, Variable{Name: "WS_AGENT_LOG", Value: e.AgentLog, Literal: true})
	}
	return Expand(vs)
}

// NeededEnvironment returns the variables of an earlier job n.
func (n NeededJob) Environment(e Env) []Variable {
	e.Gateway, e.WSBin, e.AgentLog = "", "", ""
	return jobEnvironment(e.predefined(n.Name), n.Variables, e)
}

// ServiceEnvironment returns service s's variables: the job's public ones
// (already expanded once) followed by the service's, expanded again, as
// GitLab Runner's Docker executor does (getServiceVariables in
// executors/docker/docker.go: PublicOrInternal + service variables, then
// Expand). A $$ in a service variable is a literal $.
func (j *Job) ServiceEnvironment(s Service, e Env) []Variable {
	var vs []Variable
	for _, v := range j.Environment(e) {
		if !v.Secret {
			vs = append(vs, v)
		}
	}
	return Expand(append(vs, s.Variables...))
}

// ShellScript is the script the local runners give to a shell: like a
// runner it echoes each line as "$ line" and stops at the first failure.
func ShellScript(lines []string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "printf '%%s\\n' %s\n%s\n", shellQuote("$ "+l), l)
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
