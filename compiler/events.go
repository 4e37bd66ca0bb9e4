package compiler

import (
	"fmt"
	"path"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/plan"
)

// events maps devfile events: preStart to earlier jobs or lines before the
// agent, postStart/preStop/postStop to plan steps the agent runs.
func (c *compiler) events(p *plan.Plan) {
	ev := c.df.Spec.Events
	if ev == nil {
		return
	}
	c.preStart(ev.PreStart)
	p.PostStart = append(p.PostStart, c.steps("events.postStart", ev.PostStart, false)...)
	p.PreStop = c.steps("events.preStop", ev.PreStop, true)
	p.PostStop = c.steps("events.postStop", ev.PostStop, true)
}

// steps turns event command ids into agent steps: an exec is one step, a
// sequential composite its children's steps in order, a parallel composite
// one step holding all its commands.
//
// Stop events may use apply commands (the devfile's rule for postStop): an
// applied container's command runs in the main container.
func (c *compiler) steps(evPath string, ids []string, stop bool) []plan.Step {
	var out []plan.Step
	for i, id := range ids {
		out = append(out, c.stepsOf(fmt.Sprintf("%s[%d]", evPath, i), id, 0, stop)...)
	}
	return out
}

func (c *compiler) stepsOf(at, id string, depth int, stop bool) []plan.Step {
	cmd := c.cmds[id]
	if cmd == nil || depth > 20 {
		return nil // the library reports unknown ids and cycles
	}
	cp := c.cmdPath(id)
	switch {
	case cmd.Exec != nil:
		pc, ok := c.execCommand(cmd)
		if !ok {
			return nil
		}
		return []plan.Step{{Commands: []plan.Command{pc}}}
	case cmd.Composite != nil:
		if cmd.Composite.Parallel != nil && *cmd.Composite.Parallel {
			var step plan.Step
			for _, sub := range cmd.Composite.Commands {
				for _, s := range c.stepsOf(at, sub, depth+1, stop) {
					step.Commands = append(step.Commands, s.Commands...)
				}
			}
			if len(step.Commands) == 0 {
				return nil
			}
			return []plan.Step{step}
		}
		var out []plan.Step
		for _, sub := range cmd.Composite.Commands {
			out = append(out, c.stepsOf(at, sub, depth+1, stop)...)
		}
		return out
	case cmd.Apply != nil && stop:
		comp := c.comps[cmd.Apply.Component]
		if comp == nil || comp.Container == nil {
			c.warn(cp+".apply", "apply-on-stop", "apply a container component that has a command",
				"command %q applies %q, which ws cannot run when the workspace stops; it is skipped", id, cmd.Apply.Component)
			return nil
		}
		command, args := containerCommand(comp.Container)
		line := shellJoin(append(command, args...))
		if line == "" {
			c.warn(cp+".apply", "apply-container", "give the container a command",
				"applying container %q is skipped: it has no command, and a CI job cannot run an image's own entrypoint", comp.Name)
			return nil
		}
		if comp != c.main {
			c.warn(cp+".apply", "apply-in-main", "", "container %q's command runs in the main container when the workspace stops", comp.Name)
		}
		return []plan.Step{{Commands: []plan.Command{{ID: id, CommandLine: line}}}}
	case cmd.Apply != nil:
		c.errorf(cp+".apply", "apply-after-start", "apply commands can only run in preStart (as an earlier job)",
			"command %q applies component %q after the workspace started, which ws cannot do", id, cmd.Apply.Component)
	default:
		c.errorf(cp, "custom-command", "use an exec command", "command %q has a type ws cannot run", id)
	}
	return nil
}

// execCommand returns an exec command as a plan command. The agent runs
// commands in the main container only: a command of another container with
// the main container's image runs there instead; any other is skipped. Both
// with a warning.
func (c *compiler) execCommand(cmd *v1.Command) (plan.Command, bool) {
	ex := cmd.Exec
	if ex.Component != c.main.Name {
		at := c.cmdPath(cmd.Id) + ".exec.component"
		hint := fmt.Sprintf("run it in the main container %q, or make %q the main container with %s: true", c.main.Name, ex.Component, AttrMain)
		if comp := c.comps[ex.Component]; comp != nil && comp.Container != nil && c.imageRef(comp.Container.Image) == c.imageRef(c.main.Container.Image) {
			c.warn(at, "exec-not-main", hint, "command %q of container %q runs in the main container %q, which has the same image", cmd.Id, ex.Component, c.main.Name)
		} else {
			c.warn(at, "exec-not-main", hint, "command %q is skipped: it runs in %q, and the agent can only run commands in the main container %q", cmd.Id, ex.Component, c.main.Name)
			return plan.Command{}, false
		}
	}
	pc := plan.Command{ID: cmd.Id, CommandLine: ex.CommandLine, WorkingDir: ex.WorkingDir}
	for _, e := range ex.Env {
		pc.Env = append(pc.Env, plan.Env{Name: e.Name, Value: e.Value})
	}
	if bg, ok := boolAttr(cmd.Attributes, AttrBackground); ok {
		pc.Background = bg
	}
	return pc, true
}

// preStart runs the preStart commands, in order, before the workspace:
// exec commands of the main container as script lines before the agent;
// init containers (applied containers) with the main container's image
// there too, others as earlier jobs (see initJob). Jobs run before the
// workspace job, so an init container that comes before one running as a
// job runs as a job too, whatever its image: the order stays the devfile's.
func (c *compiler) preStart(ids []string) {
	type step struct {
		cmd  *v1.Command
		comp *v1.Component
		line string
		env  []v1.EnvVar
		job  bool
	}
	var steps []step
	lastJob := -1
	for _, id := range ids {
		for _, cmd := range c.leafCommands(id, 0) {
			cp := c.cmdPath(cmd.Id)
			var st step
			switch {
			case cmd.Exec != nil && cmd.Exec.Component == c.main.Name:
				st = step{cmd: cmd, line: execLine(cmd.Exec)}
			case cmd.Exec != nil:
				comp := c.comps[cmd.Exec.Component]
				if comp == nil || comp.Container == nil {
					c.errorf(cp+".exec.component", "exec-not-container", "point the command at a container component", "command %q does not run in a container", cmd.Id)
					continue
				}
				st = step{cmd: cmd, comp: comp, line: execLine(cmd.Exec), job: true}
			case cmd.Apply != nil:
				comp := c.comps[cmd.Apply.Component]
				if comp == nil || comp.Container == nil {
					continue // an image is built by buildImages; kubernetes and custom are reported by checkComponents
				}
				command, args := containerCommand(comp.Container)
				line := shellJoin(append(command, args...))
				if line == "" {
					c.warn(cp+".apply", "apply-container", "give the container a command, or use an exec command",
						"applying container %q is skipped: it has no command, and a CI job cannot run an image's own entrypoint", comp.Name)
					continue
				}
				inline := c.imageRef(comp.Container.Image) == c.imageRef(c.main.Container.Image) && comp.Container.GetMountSources()
				st = step{cmd: cmd, comp: comp, line: line, env: containerEnv(comp.Container), job: !inline}
			default:
				continue
			}
			if st.job {
				lastJob = len(steps)
			}
			steps = append(steps, st)
		}
	}
	for i, st := range steps {
		switch {
		case st.comp != nil && (st.job || i < lastJob):
			c.initJob(st.cmd.Id, c.cmdPath(st.cmd.Id), st.comp, st.line, st.env)
		case len(st.env) > 0:
			var b strings.Builder
			b.WriteString("(")
			for _, e := range st.env {
				fmt.Fprintf(&b, "export %s=%s; ", e.Name, shellQuote(e.Value))
			}
			b.WriteString(st.line + ")")
			c.preScript = append(c.preScript, b.String())
		default:
			c.preScript = append(c.preScript, st.line)
		}
	}
}

// initJob adds the job ws-prestart-<id> that runs line in comp's image
// before the workspace. preStart jobs run one after the other (each needs
// the one before), like init containers; when comp mounts sources, the
// files git does not track (new and ignored ones) are passed on as
// artifacts, to the next preStart job and to the workspace.
func (c *compiler) initJob(id, cp string, comp *v1.Component, line string, env []v1.EnvVar) {
	ct := comp.Container
	image := c.imageRef(ct.Image)
	j := ci.Job{Name: "ws-prestart-" + id, Stage: StagePrepare,
		Image: &ci.Image{Name: image, Entrypoint: []string{""}}, Tags: c.set.tags, Script: []string{line}}
	j.Variables.Merge(envVariables(env))
	var needs []ci.Need
	if b, ok := c.builtBy[image]; ok {
		needs = append(needs, ci.Need{Job: b})
	}
	if c.lastInit != "" {
		needs = append(needs, ci.Need{Job: c.lastInit, Artifacts: true})
	}
	if len(needs) > 0 {
		j.Needs = &needs
	}
	if ct.GetMountSources() {
		j.Artifacts = &ci.Artifacts{Untracked: true, ExpireIn: "1 day"}
		c.warn(cp, "prestart-job", "to change files that git tracks, do it in an exec command of the main container",
			"preStart command %q runs in its own job before the workspace: new and git-ignored files it writes in the project reach the workspace, changes to tracked files do not", id)
	} else {
		j.Variables.Set(ci.Variable{Name: "GIT_STRATEGY", Value: "none"})
		c.warn(cp, "prestart-job", "", "preStart command %q runs in its own job before the workspace", id)
	}
	for i, vm := range ct.VolumeMounts {
		c.warn(fmt.Sprintf("%s.container.volumeMounts[%d]", c.compPath(comp.Name), i), "service-volume",
			"share files through the project directory instead", "volume %q is not shared with init container %q", vm.Name, comp.Name)
	}
	c.lastInit = j.Name
	c.prepJobs = append(c.prepJobs, j)
}

// execLine is a script line that runs an exec command in a subshell.
func execLine(ex *v1.ExecCommand) string {
	var b strings.Builder
	b.WriteString("(")
	for _, e := range ex.Env {
		fmt.Fprintf(&b, "export %s=%s; ", e.Name, shellQuote(e.Value))
	}
	if ex.WorkingDir != "" {
		// workingDir may use $PROJECT_SOURCE and friends: keep it expandable.
		fmt.Fprintf(&b, "cd \"%s\" && ", strings.ReplaceAll(ex.WorkingDir, `"`, `\"`))
	}
	b.WriteString(ex.CommandLine)
	b.WriteString(")")
	return b.String()
}

// buildImages adds a build job for each image component that is used: by a
// container's image, applied in preStart, or marked autoBuild.
func (c *compiler) buildImages() {
	applied := map[string]bool{}
	if ev := c.df.Spec.Events; ev != nil {
		for _, id := range ev.PreStart {
			for _, cmd := range c.leafCommands(id, 0) {
				if cmd.Apply != nil {
					applied[cmd.Apply.Component] = true
				}
			}
		}
	}
	usedImages := map[string]bool{}
	for _, comp := range c.df.Spec.Components {
		if comp.Container != nil {
			usedImages[comp.Container.Image] = true
		}
	}
	for _, comp := range c.df.Spec.Components {
		if comp.Image == nil {
			continue
		}
		img := comp.Image
		p := c.compPath(comp.Name)
		auto := img.AutoBuild != nil && *img.AutoBuild
		if !applied[comp.Name] && !usedImages[img.ImageName] && !auto {
			c.warn(p+".image", "image-unused", "reference it from a container's image or apply it in preStart",
				"image component %q is not built: nothing uses it", comp.Name)
			continue
		}
		df := img.Dockerfile
		if df == nil {
			c.errorf(p+".image", "image-build", "describe the build with image.dockerfile", "image component %q has no dockerfile build", comp.Name)
			continue
		}
		if df.Git != nil || df.DevfileRegistry != nil || strings.Contains(df.Uri, "://") {
			c.errorf(p+".image.dockerfile", "dockerfile-remote", "commit the Dockerfile to the repository and set uri to its path",
				"image component %q: only a Dockerfile in the repository can be built", comp.Name)
			continue
		}
		if df.RootRequired != nil && *df.RootRequired {
			c.warn(p+".image.dockerfile.rootRequired", "root-required", "", "rootRequired is ignored: ws builds with rootless BuildKit")
		}
		uri := cleanRel(df.Uri)
		if uri == "." {
			uri = "Dockerfile"
		}
		buildCtx := cleanRel(df.BuildContext)
		ref := fmt.Sprintf("$CI_REGISTRY_IMAGE/ws-%s/%s:$CI_PIPELINE_ID", c.set.name, comp.Name)
		args := []string{"buildctl-daemonless.sh", "build", "--frontend", "dockerfile.v0",
			"--local", "context=" + buildCtx, "--local", "dockerfile=" + path.Dir(uri),
			"--opt", "filename=" + path.Base(uri)}
		for _, a := range df.Args {
			if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--build-arg="), "="); ok && !strings.HasPrefix(k, "-") {
				args = append(args, "--opt", "build-arg:"+k+"="+v)
			} else {
				c.warn(p+".image.dockerfile.args", "build-arg", "write build arguments as KEY=VALUE", "build argument %q is ignored", a)
			}
		}
		line := shellJoin(args) + ` --output "type=image,name=` + ref + `,push=true"`
		c.prepJobs = append(c.prepJobs, ci.Job{
			Name:  "ws-build-" + comp.Name,
			Stage: StagePrepare,
			Image: &ci.Image{Name: c.set.builderImage, Entrypoint: []string{""}},
			Tags:  c.set.tags,
			Variables: ci.Variables{
				{Name: "BUILDKITD_FLAGS", Value: "--oci-worker-no-process-sandbox"},
			},
			Script: []string{
				"mkdir -p ~/.docker",
				`printf '{"auths":{"%s":{"auth":"%s"}}}' "$CI_REGISTRY" "$(printf '%s:%s' "$CI_REGISTRY_USER" "$CI_REGISTRY_PASSWORD" | base64 | tr -d '\n')" > ~/.docker/config.json`,
				line,
			},
		})
		if img.ImageName != "" {
			c.images[img.ImageName] = ref
		}
		c.builtBy[ref] = "ws-build-" + comp.Name
	}
}

// cleanRel makes a devfile path relative to the project directory.
func cleanRel(p string) string {
	for _, pre := range []string{"${PROJECT_SOURCE}", "$PROJECT_SOURCE", "${PROJECTS_ROOT}", "/projects"} {
		p = strings.TrimPrefix(p, pre)
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}
