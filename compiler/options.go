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

// Agent sources: how the agent binary reaches the workspace job.
const (
	// AgentArtifact copies ws from the ws image into artifacts in an earlier job.
	AgentArtifact = "artifact"
	// AgentService runs the ws image as a service that copies ws into the
	// shared builds volume.
	AgentService = "service"
	// AgentLocal uses the ws found on the runner's PATH (shell executors).
	AgentLocal = "local"
)

// Defaults for settings neither a flag nor a devfile attribute gave.
const (
	// AgentImageRepo is the ws image; AgentImageFor picks its tag.
	AgentImageRepo = "registry.gitlab.com/ws-dev/ws"
	// DefaultAgentImage is the image of a development build of ws (one
	// with no release version): the newest release.
	DefaultAgentImage   = AgentImageRepo + ":latest"
	DefaultBuilderImage = "moby/buildkit:rootless"
	// DefaultDevImage is the workspace's image when the devfile has no
	// container: the Universal Developer Image, which Eclipse Che adds to
	// such devfiles too.
	DefaultDevImage    = "quay.io/devfile/universal-developer-image:ubi9-latest"
	DefaultTimeout     = "2h"
	DefaultIdleTimeout = "30m"
)

// Options are the settings of one compilation. Empty fields fall back to the
// devfile's ws/* attributes, then to documented defaults. Flags win over
// attributes because the command fills Options from flags.
type Options struct {
	// Name is the workspace name (branch ws/<name>); default: the ws/name
	// attribute, then metadata.name, then DefaultName.
	Name string
	// DefaultName is the name used when neither Name, ws/name nor
	// metadata.name gives one; pipeline.CompileFile sets it from the name
	// of the directory holding the devfile (usually the repository).
	DefaultName string
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
	// AgentImage is the ws image used to deliver the agent; it must contain
	// sh and a static ws-agent on PATH. Default: AgentImageFor(Version).
	AgentImage string
	// Version is the version of ws that compiles (internal/build.Version);
	// the default agent image is pinned to it (AgentImageFor).
	Version string
	// BuilderImage builds devfile image components without a Docker daemon
	// (rootless BuildKit). Default: DefaultBuilderImage.
	BuilderImage string
	// Dotfiles is the dotfiles repository the agent installs at start
	// (--dotfiles); default: the ws/dotfiles attribute, then none.
	Dotfiles string
	// DefaultDotfiles is used when neither Dotfiles nor ws/dotfiles names a
	// repository: the user's own default ('ws up' reads it from ws's config).
	DefaultDotfiles string
	// DefaultImage is the workspace's image when the devfile has no
	// container component. Default: the ws/default-image attribute, then
	// DefaultDevImage.
	DefaultImage string
	// SourceFile is the devfile path shown in the generated header (slash form, relative).
	SourceFile string
}
