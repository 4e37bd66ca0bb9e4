package compiler

import (
	"fmt"
	"regexp"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/plan"
)

// The script contract of the workspace job (docs/agent-injection.md):
// WS_BIN names the agent binary (the slim ws-agent; the full ws answers the
// same command line); the script's last line runs the agent in the
// foreground, and after_script runs its stop hook: preStop unless the
// agent already ran it, then postStop.
const (
	// AgentBinary is the slim agent's file name in the ws image
	// (/usr/local/bin/ws-agent), in releases, and where every delivery mode
	// puts it.
	AgentBinary  = "ws-agent"
	agentLine    = `"$WS_BIN" agent`
	stopHookLine = `"$WS_BIN" agent --hook stop`
	serviceAlias = "ws-agent-injector"
	// serviceDir must match agent/cli.InjectDir under $CI_BUILDS_DIR.
	serviceDir = "$CI_BUILDS_DIR/.ws-agent/$CI_JOB_ID"
	// serviceWait is how long the script waits for the agent service (s).
	serviceWait = 120
)

// agentVars sets WS_BIN for the agent source.
func (c *compiler) agentVars(job *ci.Job) {
	switch c.set.agentSource {
	case AgentLocal:
		job.Variables.Set(ci.Variable{Name: "WS_BIN", Value: AgentBinary})
	case AgentService:
		job.Variables.Set(ci.Variable{Name: "WS_BIN", Value: serviceDir + "/" + AgentBinary})
	default:
		job.Variables.Set(ci.Variable{Name: "WS_BIN", Value: "$CI_PROJECT_DIR/" + AgentDir + "/" + AgentBinary})
	}
}

// injectAgent delivers the agent binary and writes the job's scripts.
func (c *compiler) injectAgent(job *ci.Job) {
	var script []string
	after := []string{stopHookLine}
	switch c.set.agentSource {
	case AgentLocal:
		if len(job.Services) > 0 {
			c.warn("components", "local-agent-services", "use --agent-source artifact on a Docker or Kubernetes runner",
				"with --agent-source local (shell executors) the image and the services are ignored by the runner")
		}
		script = append(script, `command -v "$WS_BIN" >/dev/null || { echo "ws: `+AgentBinary+` is not on the runner's PATH (--agent-source local): install it from the ws release next to ws" >&2; exit 1; }`)
	case AgentService:
		// The service runs 'ws-agent inject' (agent/cli.Inject): it copies
		// itself into the shared builds volume, and removes what earlier
		// jobs left on a reused volume. The entrypoint is emptied so an
		// agent image of the user's own (--agent-image) with an ENTRYPOINT
		// still runs the command (ws's image has none).
		job.Services = append(job.Services, ci.Service{
			Name:       c.set.agentImage,
			Alias:      serviceAlias,
			Entrypoint: []string{""},
			Command:    []string{AgentBinary, "inject"},
		})
		script = append(script,
			fmt.Sprintf(`i=0; while [ ! -x "$WS_BIN" ] && [ "$i" -lt %d ]; do sleep 1; i=$((i+1)); done`, serviceWait),
			`[ -x "$WS_BIN" ] || { echo "ws: the agent service did not provide $WS_BIN within `+fmt.Sprint(serviceWait)+` s: the runner must give services the builds volume and their command (FF_SUSPENDABLE_ENVIRONMENTS and FF_KUBERNETES_HONOR_ENTRYPOINT break this; see docs/runners.md), or use --agent-source artifact" >&2; exit 1; }`)
		// The builds volume outlives the job on Docker: take the delivery away.
		after = append(after, `rm -rf "`+serviceDir+`"`)
	default:
		c.prepJobs = append([]ci.Job{{
			Name:      JobAgent,
			Stage:     StagePrepare,
			Image:     &ci.Image{Name: c.set.agentImage, Entrypoint: []string{""}},
			Tags:      c.set.tags,
			Variables: ci.Variables{{Name: "GIT_STRATEGY", Value: "none"}},
			Script: []string{
				"mkdir -p " + AgentDir,
				`cp "$(command -v ` + AgentBinary + `)" ` + AgentDir + "/" + AgentBinary,
				"chmod 755 " + AgentDir + "/" + AgentBinary,
			},
			Artifacts: &ci.Artifacts{Paths: []string{AgentDir + "/" + AgentBinary}, ExpireIn: "1 week"},
		}}, c.prepJobs...)
		script = append(script, `[ -x "$WS_BIN" ] || chmod 755 "$WS_BIN"`)
	}
	// .ws/ holds the agent (artifact mode) and its stop record: never in git status.
	script = append(script, `if [ -d .git/info ]; then grep -qx '/.ws/' .git/info/exclude 2>/dev/null || echo '/.ws/' >> .git/info/exclude; fi`)
	script = append(script, c.preScript...)
	script = append(script, agentLine)
	job.Script = script
	job.AfterScript = after
}

// releaseVersion is a version goreleaser tags the image with: X.Y.Z or
// X.Y.Z-pre, with or without a leading v; not a development build
// (git describe's -N-gHASH, -dirty, a snapshot's -next, dev).
var releaseVersion = regexp.MustCompile(`^v?(\d+\.\d+\.\d+(?:-(?:alpha|beta|rc)[.0-9]*)?)$`)

// AgentImageFor is the ws image that delivers the agent for ws version v:
// the image of the same release, so a runner's if-not-present pull policy
// never keeps a stale agent after an upgrade (a tag is never reused);
// DefaultAgentImage (:latest) for development builds, which have no image.
func AgentImageFor(v string) string {
	if m := releaseVersion.FindStringSubmatch(v); m != nil {
		return AgentImageRepo + ":" + m[1]
	}
	return DefaultAgentImage
}

// stopMargins says, in seconds, how long before a job timeout of min
// minutes the agent stops itself (counted from the job's start:
// CI_JOB_STARTED_AT + CI_JOB_TIMEOUT, so image pulls and the clone do not
// eat it) and how long before it RUNNER_SCRIPT_TIMEOUT ends the script
// (counted from the script's start: the runner's stage clock, gitlab-runner
// common/build.go getStageTimeoutContexts). The agent's margin is a fifth
// of the timeout, at least 2 and at most 10 minutes and at most half of it;
// the script timeout is a backstop that fires at least a minute after the
// agent's own stop, for an agent that hangs.
func stopMargins(min int) (agent, script int) {
	t := min * 60
	agent = min2(max(t/5, 120), 600)
	agent = min2(agent, t/2)
	script = max(agent-60, agent/2)
	return agent, script
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// scriptTimeout is RUNNER_SCRIPT_TIMEOUT for a job timeout of min minutes.
func scriptTimeout(min int) string {
	_, script := stopMargins(min)
	return goSeconds(min*60 - script)
}

// stopPlan puts the agent's own stop margin into the plan.
func stopPlan(p *plan.Plan, min int) {
	agent, _ := stopMargins(min)
	if agent > 0 {
		p.StopMargin = goSeconds(agent)
	}
}

// goSeconds writes seconds as a Go duration string ("1h30m", "9m30s", "0").
func goSeconds(s int) string {
	if s <= 0 {
		return "0"
	}
	out := ""
	if h := s / 3600; h > 0 {
		out += fmt.Sprintf("%dh", h)
	}
	if m := s % 3600 / 60; m > 0 {
		out += fmt.Sprintf("%dm", m)
	}
	if sec := s % 60; sec > 0 {
		out += fmt.Sprintf("%ds", sec)
	}
	return out
}
