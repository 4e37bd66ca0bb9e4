package local

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/internal/names"
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
	// Skipped names the other jobs of the pipeline, which do not run locally.
	Skipped []string `json:"skipped,omitempty"`
}

// Service is a service container of the job.
type Service struct {
	Image      string     `json:"image"`
	Alias      string     `json:"alias,omitempty"`
	Entrypoint []string   `json:"entrypoint,omitempty"`
	Command    []string   `json:"command,omitempty"`
	Variables  []Variable `json:"variables,omitempty"`
}

// Variable is a job variable; Literal ones are not expanded (expand: false).
type Variable struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Literal bool   `json:"literal,omitempty"`
}

// WorkspaceJob is the name of the job ws compile generates for the workspace.
const WorkspaceJob = names.WorkspaceJob

// JobFrom picks the workspace job of p. The ws-agent job only delivers the
// ws binary, which is already here; every other job is listed in Skipped.
func JobFrom(p *ci.Pipeline) (*Job, error) {
	if p == nil {
		return nil, errors.New("no compiled pipeline")
	}
	var j *Job
	var skipped []string
	for _, cj := range p.Jobs {
		if cj.Name != WorkspaceJob {
			if cj.Name != "ws-agent" && cj.When != "manual" {
				skipped = append(skipped, cj.Name)
			}
			continue
		}
		j = &Job{Name: cj.Name, Script: append(append([]string{}, cj.BeforeScript...), cj.Script...), AfterScript: cj.AfterScript}
		if cj.Image != nil {
			j.Image, j.Entrypoint = cj.Image.Name, cj.Image.Entrypoint
		}
		j.Variables = vars(cj.Variables)
		for _, s := range cj.Services {
			j.Services = append(j.Services, Service{Image: s.Name, Alias: s.Alias, Entrypoint: s.Entrypoint, Command: s.Command, Variables: vars(s.Variables)})
		}
	}
	if j == nil {
		return nil, fmt.Errorf("the compiled pipeline has no %q job", WorkspaceJob)
	}
	j.Skipped = skipped
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
	WSBin      string // WS_BIN: the ws binary as the job sees it
	Gateway    string // WS_AGENT_GATEWAY: the embedded gateway as the job sees it
	AgentToken string // CI_JOB_TOKEN
	Marker     string // WS_LOCAL_ID
	AgentLog   string // WS_AGENT_LOG; empty: the agent's default
}

// Environment returns the job's variables after GitLab's rules: the
// predefined ones first, then the job's in order, each expanded against
// those before it unless literal; WS_BIN and the gateway are overridden so
// the agent is the local ws and dials the local gateway.
func (j *Job) Environment(e Env) []Variable {
	out := []Variable{
		{Name: "CI", Value: "true"},
		{Name: "CI_PROJECT_DIR", Value: e.ProjectDir},
		{Name: "CI_BUILDS_DIR", Value: e.BuildsDir},
		{Name: "CI_PROJECT_NAME", Value: path.Base(e.ProjectDir)},
		{Name: "CI_JOB_NAME", Value: j.Name},
		{Name: "CI_COMMIT_REF_NAME", Value: names.Branch(e.Workspace)},
		{Name: "CI_JOB_TOKEN", Value: e.AgentToken},
		{Name: MarkerEnv, Value: e.Marker},
	}
	return expandAll(out, j.Variables, e)
}

func expandAll(out, in []Variable, e Env) []Variable {
	get := func(name string) string {
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].Name == name {
				return out[i].Value
			}
		}
		return ""
	}
	set := func(v Variable) {
		for i := range out {
			if out[i].Name == v.Name {
				out[i] = v
				return
			}
		}
		out = append(out, v)
	}
	for _, v := range in {
		if !v.Literal {
			v.Value = os.Expand(v.Value, get)
		}
		v.Literal = false
		set(v)
	}
	set(Variable{Name: "WS_BIN", Value: e.WSBin})
	set(Variable{Name: "WS_AGENT_GATEWAY", Value: e.Gateway})
	if e.AgentLog != "" {
		set(Variable{Name: "WS_AGENT_LOG", Value: e.AgentLog})
	}
	return out
}

// ServiceEnvironment returns a service's variables, expanded like the job's.
func (s Service) Environment() []Variable {
	var out []Variable
	get := func(name string) string {
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].Name == name {
				return out[i].Value
			}
		}
		return ""
	}
	for _, v := range s.Variables {
		if !v.Literal {
			v.Value = os.Expand(v.Value, get)
		}
		v.Literal = false
		out = append(out, v)
	}
	return out
}

// ShellScript is the script the shell runner gives to /bin/sh -c: like a
// shell-executor runner it echoes each line and stops at the first failure.
func ShellScript(lines []string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "printf '%%s\\n' %s\n%s\n", shellQuote("$ "+l), l)
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
