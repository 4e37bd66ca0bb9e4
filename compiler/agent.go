package compiler

import (
	"github.com/ws-dev/ws/ci"
)

// The script contract of the workspace job (docs/agent-injection.md):
// WS_BIN names the ws binary; the script's last line runs the agent in the
// foreground, and after_script runs its postStop hook.
const (
	agentLine    = `"$WS_BIN" agent`
	postStopLine = `"$WS_BIN" agent --hook postStop`
	serviceAlias = "ws-agent-injector"
	serviceDir   = "$CI_BUILDS_DIR/.ws-agent/$CI_JOB_ID"
)

// agentVars sets WS_BIN for the agent source.
func (c *compiler) agentVars(job *ci.Job) {
	switch c.set.agentSource {
	case AgentLocal:
		job.Variables.Set(ci.Variable{Name: "WS_BIN", Value: "ws"})
	case AgentService:
		job.Variables.Set(ci.Variable{Name: "WS_BIN", Value: serviceDir + "/ws"})
	default:
		job.Variables.Set(ci.Variable{Name: "WS_BIN", Value: "$CI_PROJECT_DIR/" + AgentDir + "/ws"})
	}
}

// injectAgent delivers the agent binary and writes the job's scripts.
func (c *compiler) injectAgent(job *ci.Job) {
	var script []string
	switch c.set.agentSource {
	case AgentLocal:
		if len(job.Services) > 0 {
			c.warn("components", "local-agent-services", "use --agent-source artifact on a Docker or Kubernetes runner",
				"with --agent-source local (shell executors) the image and the services are ignored by the runner")
		}
		script = append(script, `command -v "$WS_BIN" >/dev/null || { echo "ws: ws is not on the runner's PATH (--agent-source local)" >&2; exit 1; }`)
	case AgentService:
		job.Services = append(job.Services, ci.Service{
			Name:       c.set.agentImage,
			Alias:      serviceAlias,
			Entrypoint: []string{"sh", "-c"},
			Command:    []string{`mkdir -p "` + serviceDir + `" && cp "$(command -v ws)" "` + serviceDir + `/ws.tmp" && chmod 755 "` + serviceDir + `/ws.tmp" && mv "` + serviceDir + `/ws.tmp" "` + serviceDir + `/ws" && exec sleep 2147483647`},
		})
		script = append(script,
			`i=0; while [ ! -x "$WS_BIN" ] && [ "$i" -lt 120 ]; do sleep 1; i=$((i+1)); done`,
			`[ -x "$WS_BIN" ] || { echo "ws: the agent service did not provide $WS_BIN" >&2; exit 1; }`)
	default:
		c.prepJobs = append([]ci.Job{{
			Name:      JobAgent,
			Stage:     StagePrepare,
			Image:     &ci.Image{Name: c.set.agentImage, Entrypoint: []string{""}},
			Tags:      c.set.tags,
			Variables: ci.Variables{{Name: "GIT_STRATEGY", Value: "none"}},
			Script: []string{
				"mkdir -p " + AgentDir,
				`cp "$(command -v ws)" ` + AgentDir + "/ws",
				"chmod 755 " + AgentDir + "/ws",
			},
			Artifacts: &ci.Artifacts{Paths: []string{AgentDir + "/ws"}, ExpireIn: "1 week"},
		}}, c.prepJobs...)
		script = append(script,
			`[ -x "$WS_BIN" ] || chmod 755 "$WS_BIN"`,
			`if [ -d .git/info ]; then grep -qx '/.ws/' .git/info/exclude 2>/dev/null || echo '/.ws/' >> .git/info/exclude; fi`)
	}
	script = append(script, c.preScript...)
	script = append(script, agentLine)
	job.Script = script
	job.AfterScript = []string{postStopLine}
}
