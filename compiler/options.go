// Package compiler turns a parsed devfile into a GitLab CI workspace job and
// the agent's plan. It is pure: no file, network, environment or clock access;
// every input arrives as an argument.
package compiler

// Profile selects which devfile rules are enforced.
type Profile string

const (
	// ProfileDefault accepts everything a CI runner can run.
	ProfileDefault Profile = "default"
	// ProfileGitLab additionally enforces GitLab Workspaces' devfile rules.
	ProfileGitLab Profile = "gitlab"
)

// Options are the settings of one compilation. Empty fields fall back to the
// devfile's ws/* attributes, then to documented defaults. Flags win over
// attributes because the command fills Options from flags.
type Options struct {
	// Name is the workspace name (branch ws/<name>); default: metadata.name.
	Name string
	// Tags select the runner (job tags).
	Tags []string
	// Timeout is the job's hard cap, e.g. "4h" or "90m".
	Timeout string
	// IdleTimeout ends the agent after no activity, e.g. "30m"; "0" disables.
	IdleTimeout string
	// Vars override devfile variables ({{KEY}}), from --var KEY=VALUE.
	Vars map[string]string
	// Profile is default or gitlab.
	Profile Profile
	// Gateway is the gateway base URL compiled into the job; may be empty.
	Gateway string
	// AgentSource says how the agent binary reaches the job (see docs/agent-injection.md).
	AgentSource string
	// AgentImage is the ws image used to deliver the agent.
	AgentImage string
	// SourceFile is the devfile path shown in the generated header (slash form, relative).
	SourceFile string
}
