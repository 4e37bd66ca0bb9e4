package local

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/plan"
)

// ContainerPlan is what container mode runs, as data: every engine command
// line in order and what goes to the containers' standard input. It follows
// GitLab Runner's Docker executor (docs/local.md has the comparison): a
// network per job with the services on it under their aliases, a builds
// volume they share, the job's image with its entrypoint overridden and a
// shell as its command, the script and then after_script written to that
// shell's standard input by starting the same container twice.
type ContainerPlan struct {
	// Network is the job's network; the embedded gateway listens on its
	// gateway address, which the job reaches it by.
	Network string `json:"network"`
	// Prepare creates the network and the builds volume.
	Prepare [][]string `json:"prepare"`
	// Images are the images the containers run, in order of first use.
	Images []string `json:"images"`
	// Needs run the jobs whose artifacts the workspace job downloads (the
	// ws-agent job), each in its own container, before the job starts.
	Needs []StageRun `json:"needs,omitempty"`
	// Services start the services, in order (they may start together).
	Services []ServiceRun `json:"services,omitempty"`
	// Create creates the job container; Start runs it once with Script on
	// its standard input, and again with AfterScript.
	Create      []string `json:"create"`
	Start       []string `json:"start"`
	Script      string   `json:"script"`
	AfterScript string   `json:"afterScript,omitempty"`
	// Stop sends SIGTERM to every process of the job container but its
	// shell (PID 1): the agent runs preStop and exits, and the script ends.
	Stop []string `json:"stop"`
	// Published are the endpoints published on 127.0.0.1.
	Published []Published `json:"published,omitempty"`
	// Label marks every container, network and volume of the job: cleanup
	// kills the running containers, then removes the containers with their
	// anonymous volumes, the network and the volumes carrying it (found by
	// label, never by name: 'podman rm --force' given a name that does not
	// exist removes nothing).
	Label string `json:"label"`
	// EnvFiles are the --env-file files to write (mode 0600) first: values
	// never appear on a command line, so 'ps' shows no secret.
	EnvFiles map[string][]Variable `json:"-"`
	// Dirs are host directories to create first (persistent volumes).
	Dirs []string `json:"dirs,omitempty"`
}

// StageRun is one earlier job run in its own container: Run with Input on
// the container's stdin (it runs once, so create and start are one step).
// Its builds dir is BuildsDir on the host, so its artifacts are moved from
// there into the project, as a runner downloads them into the next job's.
type StageRun struct {
	Name      string     `json:"name"`
	BuildsDir string     `json:"buildsDir"`
	Dirs      []string   `json:"dirs"` // to create first, as the user
	Run       []string   `json:"run"`
	Input     string     `json:"input"`
	Artifacts []Artifact `json:"artifacts"`
	Remove    []string   `json:"remove"`
}

// Artifact is one artifacts:paths entry of a needed job, on the host.
type Artifact struct {
	From string `json:"from"` // in the job's builds dir
	To   string `json:"to"`   // in the project
}

// ServiceRun is one service container.
type ServiceRun struct {
	Name  string   `json:"name"`
	Alias string   `json:"alias"`
	Run   []string `json:"run"`
	// Ports are the ports its endpoints declare: the job starts once they
	// accept connections (or after a timeout), as a runner waits for a
	// service's exposed ports.
	Ports []int `json:"ports,omitempty"`
}

// Published is an endpoint published on 127.0.0.1 at a port the engine
// picks ('ENGINE port' tells which).
type Published struct {
	Endpoint   string `json:"endpoint"`
	Container  string `json:"container"`
	TargetPort int    `json:"targetPort"`
	Proto      string `json:"proto"`
}

// ContainerOptions says where things are on the host.
type ContainerOptions struct {
	Engine     string // docker or podman
	Workspace  string
	Marker     string
	StateDir   string // env files go here
	ProjectDir string // bind-mounted at /builds/<base name>
	// AgentBinary is the agent binary the local stand-in for the agent
	// image has on PATH as ws: the one binary container mode delivers.
	AgentBinary string
	Gateway     string // WS_AGENT_GATEWAY as the containers see it
	AgentToken  string
}

// In-container paths and labels.
const (
	containerBuilds = "/builds"
	// agentOnPath is where the stand-in agent image has ws.
	agentOnPath = "/usr/local/bin/" + compiler.AgentBinary
	labelKey    = "dev.ws.local"
	labelName   = "dev.ws.workspace"
)

// detectShell is the job container's command: like a runner's, it runs the
// first shell the image has and that shell reads the script from stdin.
const detectShell = `for s in /usr/local/bin/bash /usr/bin/bash /bin/bash /usr/local/bin/sh /usr/bin/sh /bin/sh /busybox/sh; do ` +
	`if [ -x "$s" ]; then exec "$s"; fi; done; echo "ws: the image has no shell" >&2; exit 1`

// stopScript asks every process of the container but PID 1 (the job's
// shell) and itself to end.
const stopScript = `kill -TERM -1 2>/dev/null; exit 0`

// containerPrefix names everything container mode creates for workspace.
func containerPrefix(workspace string) string { return "ws-local-" + workspace }

// PlanContainers returns the commands container mode runs for j.
func PlanContainers(j *Job, o ContainerOptions) (*ContainerPlan, error) {
	if j.Image == "" {
		return nil, errors.New("the workspace job has no image; container mode needs one (set WS_LOCAL_ENGINE=shell to run it on the host)")
	}
	pl := newPlanner(j, o)
	if err := pl.needs(); err != nil {
		return nil, err
	}
	pl.services()
	pl.jobContainer()
	return pl.p, nil
}

// planner builds a ContainerPlan: what every container of the job shares,
// then the needed jobs, the services and the job container.
type planner struct {
	j          *Job
	o          ContainerOptions
	p          *ContainerPlan
	env        Env
	labels     []string
	shared     []string // the builds volume and the project, in every container of the job
	agentMount []string // the agent binary on PATH
	projectIn  string   // CI_PROJECT_DIR
	prefix     string
	jobImage   string
}

func newPlanner(j *Job, o ContainerOptions) *planner {
	prefix := containerPrefix(o.Workspace)
	pl := &planner{j: j, o: o, prefix: prefix,
		labels:     []string{"--label", labelKey + "=" + o.Marker, "--label", labelName + "=" + o.Workspace},
		projectIn:  containerBuilds + "/" + filepath.Base(o.ProjectDir),
		agentMount: []string{"--volume", o.AgentBinary + ":" + agentOnPath + ":ro"},
		jobImage:   qualify(j.Image),
		p:          &ContainerPlan{Network: prefix, EnvFiles: map[string][]Variable{}, Label: labelKey + "=" + o.Marker},
	}
	pl.env = Env{Workspace: o.Workspace, ProjectDir: pl.projectIn, BuildsDir: containerBuilds, Image: j.Image,
		Gateway: o.Gateway, AgentToken: o.AgentToken, Marker: o.Marker}
	buildsVol := prefix + "-builds"
	e := o.Engine
	pl.p.Prepare = [][]string{
		append(append([]string{e, "network", "create"}, pl.labels...), pl.p.Network),
		append(append([]string{e, "volume", "create"}, pl.labels...), buildsVol),
	}
	// A runner gives services the job's binds.
	pl.shared = []string{"--volume", buildsVol + ":" + containerBuilds, "--volume", o.ProjectDir + ":" + pl.projectIn}
	pl.p.Images = []string{pl.jobImage}
	return pl
}

// image returns the image to run and extra arguments: the agent image is
// stood in for by the job's image with the agent binary on PATH.
func (pl *planner) image(img string) (string, []string) {
	if img == pl.j.AgentImage {
		return pl.jobImage, pl.agentMount
	}
	img = qualify(img)
	if !slices.Contains(pl.p.Images, img) {
		pl.p.Images = append(pl.p.Images, img)
	}
	return img, nil
}

// needs plans the jobs whose artifacts the workspace job downloads.
func (pl *planner) needs() error {
	e := pl.o.Engine
	for _, n := range pl.j.Needs {
		name := pl.prefix + "-" + n.Name
		envFile := filepath.Join(pl.o.StateDir, n.Name+".env")
		pl.p.EnvFiles[envFile] = n.Environment(pl.env)
		img, extra := pl.image(n.Image)
		builds := filepath.Join(pl.o.StateDir, n.Name+"-builds")
		project := filepath.Join(builds, filepath.Base(pl.o.ProjectDir))
		// It needs no network: its artifacts reach the project through
		// its builds dir on the host.
		run := append(append([]string{e, "run", "--interactive", "--name", name}, pl.labels...),
			"--network", "none", "--env-file", envFile, "--volume", builds+":"+containerBuilds, "--workdir", pl.projectIn)
		run = append(run, extra...)
		run = append(run, entrypoint(n.Entrypoint, img, []string{"sh", "-c", detectShell})...)
		st := StageRun{Name: n.Name, BuildsDir: builds, Dirs: []string{project}, Run: run, Input: stdinScript(n.Script),
			Remove: []string{e, "rm", "--force", "--volumes", name}}
		for _, a := range n.Artifacts {
			a = path.Clean(a)
			if path.IsAbs(a) || a == ".." || strings.HasPrefix(a, "../") || strings.ContainsAny(a, "*?[") {
				return fmt.Errorf("job %s: artifact path %q: only plain paths inside the project run locally", n.Name, a)
			}
			from := filepath.Join(project, filepath.FromSlash(a))
			// Created by the user, so the user can move what the job writes
			// there even when the engine runs it as root.
			if d := filepath.Dir(from); !slices.Contains(st.Dirs, d) {
				st.Dirs = append(st.Dirs, d)
			}
			st.Artifacts = append(st.Artifacts, Artifact{From: from, To: filepath.Join(pl.o.ProjectDir, filepath.FromSlash(a))})
		}
		pl.p.Needs = append(pl.p.Needs, st)
	}
	return nil
}

// endpoints returns component's endpoints that are exposed at all.
func (pl *planner) endpoints(component string) []plan.Endpoint {
	var out []plan.Endpoint
	for _, ep := range pl.j.Endpoints {
		if ep.Component == component && ep.Exposure != "none" {
			out = append(out, ep)
		}
	}
	return out
}

// publish returns the options publishing component's endpoints, run by
// container, on 127.0.0.1 at ports the engine picks.
func (pl *planner) publish(container, component string) []string {
	var args []string
	for _, ep := range pl.endpoints(component) {
		proto := "tcp"
		if ep.Protocol == "udp" {
			proto = "udp"
		}
		args = append(args, "--publish", fmt.Sprintf("127.0.0.1::%d/%s", ep.TargetPort, proto))
		pl.p.Published = append(pl.p.Published, Published{Endpoint: ep.Name, Container: container, TargetPort: ep.TargetPort, Proto: proto})
	}
	return args
}

func (pl *planner) services() {
	e := pl.o.Engine
	for i, s := range pl.j.Services {
		alias := s.Name()
		name := fmt.Sprintf("%s-svc%d-%s", pl.prefix, i, alias)
		envFile := filepath.Join(pl.o.StateDir, fmt.Sprintf("svc%d.env", i))
		pl.p.EnvFiles[envFile] = pl.j.ServiceEnvironment(s, pl.env)
		img, extra := pl.image(s.Image)
		run := append(append([]string{e, "run", "--detach", "--name", name}, pl.labels...), "--network", pl.p.Network)
		for _, a := range serviceAliases(s) {
			run = append(run, "--network-alias", a)
		}
		run = append(run, "--env-file", envFile)
		run = append(run, pl.shared...)
		run = append(run, extra...)
		run = append(run, pl.publish(name, alias)...)
		run = append(run, entrypoint(s.Entrypoint, img, s.Command)...)
		var ports []int
		for _, ep := range pl.endpoints(alias) {
			ports = append(ports, ep.TargetPort)
		}
		pl.p.Services = append(pl.p.Services, ServiceRun{Name: name, Alias: alias, Run: run, Ports: ports})
	}
}

// mainComponent is the devfile component the job container runs: the one
// whose endpoints belong to no service.
func (pl *planner) mainComponent() string {
	services := map[string]bool{}
	for _, s := range pl.j.Services {
		services[s.Name()] = true
	}
	for _, ep := range pl.j.Endpoints {
		if !services[ep.Component] {
			return ep.Component
		}
	}
	return ""
}

func (pl *planner) jobContainer() {
	e, p := pl.o.Engine, pl.p
	job := pl.prefix + "-job"
	jobEnv := filepath.Join(pl.o.StateDir, "job.env")
	p.EnvFiles[jobEnv] = pl.j.Environment(pl.env)
	create := append(append([]string{e, "create", "--interactive", "--name", job}, pl.labels...),
		"--network", p.Network, "--network-alias", "build", "--env-file", jobEnv)
	create = append(create, pl.shared...)
	for _, v := range pl.j.Volumes {
		if v.Persistent {
			dir := filepath.Join(pl.o.ProjectDir, filepath.FromSlash(v.Dir))
			p.Dirs = append(p.Dirs, dir)
			create = append(create, "--volume", dir+":"+v.Path)
		} else {
			create = append(create, "--volume", v.Path) // anonymous: removed with the container
		}
	}
	if wsBin, _ := lookup(p.EnvFiles[jobEnv], "WS_BIN"); wsBin == "ws" {
		create = append(create, pl.agentMount...) // --agent-source local: ws on PATH
	}
	create = append(create, "--workdir", pl.projectIn)
	create = append(create, pl.publish(job, pl.mainComponent())...)
	p.Create = append(create, entrypoint(pl.j.Entrypoint, pl.jobImage, []string{"sh", "-c", detectShell})...)
	p.Start = []string{e, "start", "--attach", "--interactive", job}
	p.Script = stdinScript(pl.j.Script)
	if len(pl.j.AfterScript) > 0 {
		p.AfterScript = stdinScript(pl.j.AfterScript)
	}
	p.Stop = []string{e, "exec", job, "sh", "-c", stopScript}
}

// qualify returns the full reference Docker reads a short image name as
// (golang:1.26 is docker.io/library/golang:1.26), so Podman, which may
// refuse short names, pulls what a Docker executor would.
func qualify(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return ref.String()
}

// entrypoint returns the arguments after the options that run image: with
// an entrypoint override (the first element; the rest go before cmd, which
// is how the engine joins entrypoint and command) or the image's own.
func entrypoint(ep []string, image string, cmd []string) []string {
	if ep == nil {
		return append([]string{image}, cmd...)
	}
	first := ""
	if len(ep) > 0 {
		first = ep[0]
	}
	out := []string{"--entrypoint", first, image}
	if len(ep) > 1 {
		out = append(out, ep[1:]...)
	}
	return append(out, cmd...)
}

// serviceAliases are the host names a service answers to: its alias and the
// names derived from its image (/ replaced by __ and by -), as a runner
// registers them.
func serviceAliases(s Service) []string {
	out := []string{s.Name()}
	image := imageWithoutTag(s.Image)
	for _, d := range []string{strings.ReplaceAll(image, "/", "__"), strings.ReplaceAll(image, "/", "-")} {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// stdinScript is what a job's shell reads from its standard input: the
// lines run by eval with stdin from /dev/null, so no command can read the
// rest of the script (a runner pipes ':' into its eval for the same reason).
func stdinScript(lines []string) string {
	return "eval " + shellQuote(ShellScript(lines)) + " </dev/null\nexit\n"
}

func lookup(vs []Variable, name string) (string, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Name == name {
			return vs[i].Value, true
		}
	}
	return "", false
}
