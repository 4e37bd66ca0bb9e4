// Package plan is the contract between the compiler and the in-job agent:
// what the agent runs at start and stop, and which endpoints the tunnel
// exposes. The compiler writes it into the job (variable WS_PLAN) as JSON;
// the agent reads it back. Field order is fixed, so the JSON is deterministic.
package plan

import (
	"encoding/json"
	"fmt"
)

// Version is the plan format version; the agent refuses newer plans.
const Version = 1

// EnvVar is the name of the job variable that carries the encoded plan.
const EnvVar = "WS_PLAN"

// Plan is everything the agent needs to know about its workspace.
type Plan struct {
	Version int `json:"version"`
	// Workspace is the workspace name (branch ws/<name>).
	Workspace string `json:"workspace"`
	// Gateway is the gateway's base URL (https://...); empty means the
	// agent runs without a tunnel (start-up commands and keep-alive only).
	Gateway string `json:"gateway,omitempty"`
	// IdleTimeout is a Go duration string ("30m"); "0" or empty disables it.
	IdleTimeout string `json:"idleTimeout,omitempty"`
	// WorkingDir is where shells start; empty means the job's project dir.
	WorkingDir string `json:"workingDir,omitempty"`
	// PostStart steps run in order when the agent starts.
	PostStart []Step `json:"postStart,omitempty"`
	// PreStop steps run in order when the agent is asked to stop (SIGTERM).
	PreStop []Step `json:"preStop,omitempty"`
	// PostStop steps run after the workspace stopped, from the job's
	// after_script ('ws agent --hook stop').
	PostStop []Step `json:"postStop,omitempty"`
	// StopMargin is a Go duration: the agent stops itself this long before
	// the job's timeout (counted from the job's start), so preStop,
	// after_script and the uploads run before GitLab's hard cap. Empty: the
	// agent has no deadline of its own.
	StopMargin string `json:"stopMargin,omitempty"`
	// Endpoints the tunnel may expose, in devfile order.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Volumes the agent prepares before the postStart steps, in devfile order.
	Volumes []Volume `json:"volumes,omitempty"`
	// Dotfiles is the user's dotfiles repository, cloned and installed by
	// the agent before the postStart steps (docs/dotfiles.md); nil for none.
	Dotfiles *Dotfiles `json:"dotfiles,omitempty"`
}

// Dotfiles names a dotfiles repository, as the devcontainer CLI's
// --dotfiles-repository does.
type Dotfiles struct {
	// Repository is a git URL (https, ssh, scp-like or file); it never
	// holds a password: plans are written into the job's YAML.
	Repository string `json:"repository"`
}

// Volume is one devfile volume mounted in the main container.
type Volume struct {
	Name string `json:"name"`
	// Path is the absolute mount path; the agent creates it (mkdir -p).
	Path string `json:"path"`
	// Persistent volumes survive restarts through the job cache: the agent
	// creates Dir (relative to $CI_PROJECT_DIR), moves any existing content
	// of Path into it when Dir is empty, and makes Path a symlink to it.
	Persistent bool   `json:"persistent,omitempty"`
	Dir        string `json:"dir,omitempty"`
}

// Step is one unit of sequential work: its commands run at the same time
// (a parallel composite) and the step ends when all have finished.
type Step struct {
	Commands []Command `json:"commands"`
}

// Command is one devfile exec command, flattened.
type Command struct {
	// ID is the devfile command id.
	ID          string `json:"id"`
	CommandLine string `json:"commandLine"`
	WorkingDir  string `json:"workingDir,omitempty"`
	Env         []Env  `json:"env,omitempty"`
	// Background marks a command the agent starts and does not wait for
	// (for example a server started by postStart).
	Background bool `json:"background,omitempty"`
}

// Env is one environment variable; a list keeps devfile order.
type Env struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Endpoint is one devfile endpoint.
type Endpoint struct {
	Name       string `json:"name"`
	Component  string `json:"component"`
	TargetPort int    `json:"targetPort"`
	// Exposure is public, internal or none (devfile semantics).
	Exposure string `json:"exposure,omitempty"`
	// Protocol is http, https, ws, wss, tcp or udp.
	Protocol string `json:"protocol,omitempty"`
	Path     string `json:"path,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
}

// Encode returns the plan as compact JSON.
func (p *Plan) Encode() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// JSON is [Plan.Encode] for callers that build the plan themselves: every
// field is a string, a number, a bool or a list of such structs, which
// encoding/json always encodes, so there is no error to handle.
func (p *Plan) JSON() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic("plan: " + err.Error()) // unreachable: see above
	}
	return string(b)
}

// Decode parses a plan produced by Encode and checks its version.
func Decode(s string) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("decode workspace plan: %w", err)
	}
	if p.Version < 1 || p.Version > Version {
		return nil, fmt.Errorf("workspace plan version %d is not supported by this ws (supports %d); use the ws release that compiled the job", p.Version, Version)
	}
	return &p, nil
}

// EndpointByPort returns the endpoint with the given target port.
func (p *Plan) EndpointByPort(port int) (Endpoint, bool) {
	for _, e := range p.Endpoints {
		if e.TargetPort == port {
			return e, true
		}
	}
	return Endpoint{}, false
}
