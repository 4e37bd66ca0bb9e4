package compiler

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/internal/names"
	"github.com/ws-dev/ws/plan"
)

func bp(b bool) *bool { return &b }

// keepAliveRE matches a shell script that does nothing but keep its
// container running: sleep forever, tail /dev/null, or a loop of sleeps
// (with an echo to show life).
var keepAliveRE = regexp.MustCompile(`^(exec )?(sleep (infinity|inf|[0-9]{6,})|tail -f /dev/null|while (true|:|\[ 1 \]); do (echo [^;&|$` + "`" + `]*; )?sleep [0-9]+ ?; done)$`)

// keepAlive reports whether a container's command and args do nothing but
// keep it running, which the agent does anyway; only then may they be
// dropped. A command that also does work ("echo ran; sleep infinity") is
// not a keep-alive: it runs.
func keepAlive(args []string) bool {
	script := strings.Join(args, " ")
	if len(args) == 3 && isShell(args[0]) && strings.HasPrefix(args[1], "-") && strings.HasSuffix(args[1], "c") {
		script = args[2]
	}
	script = strings.Join(strings.Fields(script), " ")
	script = strings.TrimSuffix(strings.TrimSpace(script), ";")
	return keepAliveRE.MatchString(script)
}

func isShell(arg0 string) bool {
	switch path.Base(arg0) {
	case "sh", "bash", "ash", "dash", "zsh":
		return true
	}
	return false
}

// workspaceJob builds the job that runs the workspace; it fills p.
func (c *compiler) workspaceJob(p *plan.Plan) ci.Job {
	main := c.main
	mp := c.compPath(main.Name)
	ct := main.Container

	c.buildImages() // fills c.images before images are chosen
	job := ci.Job{
		Name:          JobWorkspace,
		Stage:         StageWorkspace,
		Image:         &ci.Image{Name: c.imageRef(ct.Image), Entrypoint: []string{""}},
		Tags:          c.set.tags,
		Timeout:       gitlabDuration(c.set.timeoutMin),
		Interruptible: bp(false),
		ResourceGroup: names.Branch(c.set.name),
		Environment: &ci.Environment{
			Name:       "workspaces/" + c.set.name,
			Action:     "start",
			OnStop:     JobStop,
			AutoStopIn: gitlabDuration(c.set.timeoutMin),
		},
	}
	if c.set.gateway != "" {
		// GitLab's "Open" button on the environment leads to the workspace's
		// web terminal on the gateway (webui.TerminalPath with the project id).
		job.Environment.URL = c.set.gateway + "/terminal/$CI_PROJECT_ID/-/" + c.set.name
	}

	// Our own variables first, then resources, then the devfile's env.
	c.agentVars(&job)
	job.Variables.Set(ci.Variable{Name: "PROJECT_SOURCE", Value: "$CI_PROJECT_DIR"})
	job.Variables.Set(ci.Variable{Name: "PROJECTS_ROOT", Value: "$CI_BUILDS_DIR"})
	if st := scriptTimeout(c.set.timeoutMin); st != "0" {
		job.Variables.Set(ci.Variable{Name: "RUNNER_SCRIPT_TIMEOUT", Value: st})
		stopPlan(p, c.set.timeoutMin)
	}
	resources(&job.Variables, "KUBERNETES_", ct.Container)
	job.Variables.Merge(envVariables(containerEnv(ct)))

	// The main container's own command becomes the first start-up step.
	command, args := containerCommand(ct)
	if cmdline := append(command, args...); len(cmdline) > 0 && !keepAlive(cmdline) {
		p.PostStart = append(p.PostStart, plan.Step{Commands: []plan.Command{{
			ID: main.Name, CommandLine: shellJoin(cmdline), Background: true,
		}}})
		c.warn(mp+".container.command", "main-command", "",
			"the main container's command runs in the background, started by the agent; the job's script keeps the container alive")
	}

	// Other containers are services, except those only applied by
	// commands (init-like containers), which run in jobs or steps.
	for i := range c.df.Spec.Components {
		comp := &c.df.Spec.Components[i]
		if comp.Container == nil || comp == main || c.applied[comp.Name] {
			continue
		}
		job.Services = append(job.Services, c.service(comp))
	}
	c.warnEnvReachesServices(mp, ct, job.Services)

	c.endpoints(p)
	c.volumes(p, &job)
	c.events(p)
	c.injectAgent(&job)

	var needs []ci.Need
	for _, j := range c.prepJobs {
		needs = append(needs, ci.Need{Job: j.Name, Artifacts: j.Artifacts != nil})
	}
	if len(needs) > 0 {
		job.Needs = &needs
	}
	return job
}

// secretNameRE matches env names that look like credentials.
var secretNameRE = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_?KEY|API_?KEY)`)

// warnEnvReachesServices warns about credential-like env of the main
// container when there are services: GitLab Runner gives every service
// all of the job's variables, then the service's own
// (gitlab-runner executors/docker/docker.go getServiceVariables), so the
// main container's env is visible to every service image.
func (c *compiler) warnEnvReachesServices(mp string, ct *v1.ContainerComponent, services []ci.Service) {
	if len(services) == 0 {
		return
	}
	aliases := make([]string, len(services))
	for i, s := range services {
		aliases[i] = s.Alias
	}
	for i, e := range ct.Env {
		if secretNameRE.MatchString(e.Name) {
			c.warn(fmt.Sprintf("%s.container.env[%d].name", mp, i), "env-reaches-services",
				"keep credentials out of the devfile: use a masked CI/CD variable, and only in the containers that need it",
				"%s is a job variable, and the runner passes every job variable to every service too (%s)", e.Name, strings.Join(aliases, ", "))
		}
	}
}

// envVariables turns a container's (expanded) env into literal variables.
func envVariables(env []v1.EnvVar) ci.Variables {
	out := make(ci.Variables, len(env))
	for i, e := range env {
		out[i] = ci.Variable{Name: e.Name, Value: e.Value, Literal: true}
	}
	return out
}

// resources maps devfile limits and requests to Kubernetes-executor overwrite variables.
func resources(vars *ci.Variables, prefix string, ct v1.Container) {
	for _, r := range []struct{ name, val string }{
		{"CPU_REQUEST", ct.CpuRequest}, {"CPU_LIMIT", ct.CpuLimit},
		{"MEMORY_REQUEST", ct.MemoryRequest}, {"MEMORY_LIMIT", ct.MemoryLimit},
	} {
		if r.val != "" {
			vars.Set(ci.Variable{Name: prefix + r.name, Value: r.val})
		}
	}
}

// imageRef returns the image a container runs: the registry reference of a
// devfile image component built earlier when its imageName matches.
func (c *compiler) imageRef(image string) string {
	if ref, ok := c.images[image]; ok {
		return ref
	}
	return image
}

func (c *compiler) service(comp *v1.Component) ci.Service {
	ct := comp.Container
	command, args := containerCommand(ct)
	s := ci.Service{Name: c.imageRef(ct.Image), Alias: comp.Name, Entrypoint: command, Command: args}
	resources(&s.Variables, "KUBERNETES_SERVICE_", ct.Container)
	s.Variables.Merge(envVariables(containerEnv(ct)))
	p := c.compPath(comp.Name)
	for i, vm := range ct.VolumeMounts {
		c.warn(fmt.Sprintf("%s.container.volumeMounts[%d]", p, i), "service-volume",
			"mount the volume in the main container only, or share files through $CI_PROJECT_DIR",
			"volume %q is not shared with service %q; the service gets an empty directory", vm.Name, comp.Name)
	}
	return s
}

func (c *compiler) endpoints(p *plan.Plan) {
	add := func(comp *v1.Component, eps []v1.Endpoint) {
		for _, e := range eps {
			ep := plan.Endpoint{Name: e.Name, Component: comp.Name, TargetPort: e.TargetPort,
				Exposure: string(e.Exposure), Protocol: string(e.Protocol), Path: e.Path}
			if ep.Exposure == "" {
				ep.Exposure = string(v1.PublicEndpointExposure)
			}
			if ep.Protocol == "" {
				ep.Protocol = string(v1.HTTPEndpointProtocol)
			}
			if e.Secure != nil {
				ep.Secure = *e.Secure
			}
			p.Endpoints = append(p.Endpoints, ep)
		}
	}
	// The main container first; then the services, in devfile order.
	add(c.main, c.main.Container.Endpoints)
	for i := range c.df.Spec.Components {
		comp := &c.df.Spec.Components[i]
		if comp.Container != nil && comp != c.main {
			add(comp, comp.Container.Endpoints)
		}
	}
}

// volumes: ephemeral by default; a volume with an explicit ephemeral: false
// is kept under .ws/volumes/<name> and saved in the per-workspace cache.
func (c *compiler) volumes(p *plan.Plan, job *ci.Job) {
	persisted := false
	for i, vm := range c.main.Container.VolumeMounts {
		vol := c.comps[vm.Name]
		if vol == nil || vol.Volume == nil {
			continue // the library reports dangling volume mounts
		}
		mountPath := vm.Path
		if mountPath == "" {
			mountPath = "/" + vm.Name
		}
		v := plan.Volume{Name: vm.Name, Path: mountPath}
		if vol.Volume.Ephemeral != nil && !*vol.Volume.Ephemeral {
			v.Persistent = true
			v.Dir = path.Join(VolumesDir, vm.Name)
			persisted = true
		}
		if vol.Volume.Size != "" {
			c.warn(fmt.Sprintf("%s.volume.size", c.compPath(vol.Name)), "volume-size", "", "volume size is ignored (volumes live in the job's filesystem)")
		}
		_ = i
		p.Volumes = append(p.Volumes, v)
	}
	if persisted {
		job.Cache = []ci.Cache{{Key: "ws-" + c.set.name, Paths: []string{VolumesDir + "/"}, When: "always"}}
	}
}

// stopJob is the environment's on_stop job, runnable while the workspace runs.
func (c *compiler) stopJob() ci.Job {
	none := []ci.Need{}
	return ci.Job{
		Name:         JobStop,
		Stage:        StageWorkspace,
		Image:        &ci.Image{Name: c.set.agentImage, Entrypoint: []string{""}},
		Tags:         c.set.tags,
		Environment:  &ci.Environment{Name: "workspaces/" + c.set.name, Action: "stop"},
		Needs:        &none,
		When:         "manual",
		AllowFailure: bp(true),
		Variables:    ci.Variables{{Name: "GIT_STRATEGY", Value: "none"}},
		Script:       []string{fmt.Sprintf("echo %s", shellQuote(fmt.Sprintf("environment workspaces/%s stopped; ws stop %s cancels a running workspace job", c.set.name, c.set.name)))},
	}
}
