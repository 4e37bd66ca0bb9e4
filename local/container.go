package local

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ContainerPlan is what container mode runs, as data: golden-tested
// everywhere, executed only where an engine answers 'docker info'.
type ContainerPlan struct {
	// Setup creates the network and starts the services, in order.
	Setup [][]string `json:"setup"`
	// Holder starts the job container, which only waits (PID 1 traps
	// TERM), so that script and after_script can be exec'd into it the way
	// GitLab's Docker executor runs them in one container.
	Holder []string `json:"holder"`
	// Script runs the job script in the job container (foreground: the
	// supervisor's child; its output is the job log).
	Script []string `json:"script"`
	// Stop sends SIGTERM to every process in the job container but PID 1:
	// the agent runs preStop and exits, and the script ends.
	Stop []string `json:"stop"`
	// AfterScript runs after_script (postStop) in the job container.
	AfterScript []string `json:"afterScript,omitempty"`
	// Cleanup removes every container and the network; it is safe to run
	// twice and after a crash (it selects by label).
	Cleanup [][]string `json:"cleanup"`
	// EnvFiles are the --env-file files to write (mode 0600) before Setup:
	// values never appear on a command line, so 'ps' shows no secret.
	EnvFiles map[string][]Variable `json:"-"`
}

// ContainerOptions says where things are on the host.
type ContainerOptions struct {
	Engine     string // docker or podman
	Workspace  string
	Marker     string
	StateDir   string // env files go here
	ProjectDir string // bind-mounted at BuildsDir/<project>
	WSBin      string // the host's ws binary, bind-mounted read-only
	Gateway    string // the embedded gateway as a container sees it
	AgentToken string
}

// In-container paths.
const (
	containerBuilds = "/builds"
	containerWSBin  = "/usr/local/bin/ws-local"
	labelKey        = "dev.ws.local"
)

// PlanContainers returns the commands container mode runs for j.
func PlanContainers(j *Job, o ContainerOptions) (*ContainerPlan, error) {
	if j.Image == "" {
		return nil, errors.New("the workspace job has no image; container mode needs one")
	}
	prefix := "ws-local-" + o.Workspace
	network := prefix
	label := labelKey + "=" + o.Marker
	projectIn := containerBuilds + "/" + filepath.Base(o.ProjectDir)
	p := &ContainerPlan{EnvFiles: map[string][]Variable{}}
	p.Setup = append(p.Setup, []string{o.Engine, "network", "create", "--label", label, network})
	for i, s := range j.Services {
		alias := s.Alias
		if alias == "" {
			alias = serviceAlias(s.Image)
		}
		name := fmt.Sprintf("%s-svc%d-%s", prefix, i, alias)
		envFile := filepath.Join(o.StateDir, fmt.Sprintf("svc%d.env", i))
		p.EnvFiles[envFile] = s.Environment()
		args := []string{o.Engine, "run", "--detach", "--name", name, "--label", label,
			"--network", network, "--network-alias", alias, "--env-file", envFile}
		if len(s.Entrypoint) > 0 {
			args = append(args, "--entrypoint", s.Entrypoint[0])
		}
		args = append(args, s.Image)
		if len(s.Entrypoint) > 1 {
			args = append(args, s.Entrypoint[1:]...)
		}
		args = append(args, s.Command...)
		p.Setup = append(p.Setup, args)
	}
	job := prefix + "-job"
	jobEnv := filepath.Join(o.StateDir, "job.env")
	p.EnvFiles[jobEnv] = j.Environment(Env{Workspace: o.Workspace, ProjectDir: projectIn, BuildsDir: containerBuilds,
		WSBin: containerWSBin, Gateway: o.Gateway, AgentToken: o.AgentToken, Marker: o.Marker})
	p.Holder = []string{o.Engine, "run", "--detach", "--name", job, "--label", label, "--network", network,
		"--add-host", "host.docker.internal:host-gateway",
		"--volume", o.ProjectDir + ":" + projectIn, "--volume", o.WSBin + ":" + containerWSBin + ":ro",
		"--workdir", projectIn, "--env-file", jobEnv,
		"--entrypoint", "/bin/sh", j.Image, "-c", `trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done`}
	p.Script = []string{o.Engine, "exec", job, "/bin/sh", "-c", ShellScript(j.Script)}
	p.Stop = []string{o.Engine, "exec", job, "/bin/sh", "-c", "kill -TERM -1 2>/dev/null; exit 0"}
	if len(j.AfterScript) > 0 {
		p.AfterScript = []string{o.Engine, "exec", job, "/bin/sh", "-c", ShellScript(j.AfterScript)}
	}
	p.Cleanup = [][]string{
		{o.Engine, "rm", "--force", "--volumes", job},
	}
	for i, s := range j.Services {
		alias := s.Alias
		if alias == "" {
			alias = serviceAlias(s.Image)
		}
		p.Cleanup = append(p.Cleanup, []string{o.Engine, "rm", "--force", "--volumes", fmt.Sprintf("%s-svc%d-%s", prefix, i, alias)})
	}
	p.Cleanup = append(p.Cleanup, []string{o.Engine, "network", "rm", network})
	return p, nil
}

// serviceAlias is GitLab's default alias: the image name without tag,
// with / and : replaced by -.
func serviceAlias(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return strings.NewReplacer("/", "-", ":", "-").Replace(image)
}

// envFileText renders vars for --env-file; values must be one line.
func envFileText(vars []Variable) (string, error) {
	var b strings.Builder
	for _, v := range vars {
		if strings.ContainsAny(v.Value, "\n\r") {
			return "", fmt.Errorf("variable %s has a multi-line value, which %s cannot pass to a container", v.Name, "--env-file")
		}
		b.WriteString(v.Name + "=" + v.Value + "\n")
	}
	return b.String(), nil
}
