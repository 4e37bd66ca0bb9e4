package compiler

import (
	"fmt"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/schema"
)

const gitlabHint = "GitLab Workspaces does not accept this; drop --profile gitlab to compile anyway"

// gitlabRules enforces GitLab Workspaces' devfile restrictions (see
// ../shared/docs/gitlab-reference.md §3.1), so that a devfile accepted with
// --profile gitlab is also accepted by GitLab Workspaces.
func (c *compiler) gitlabRules() {
	ix := c.df.Index
	g := func(path, format string, args ...any) {
		c.errorf(path, "gitlab-profile", gitlabHint, format, args...)
	}
	if c.df.SchemaVersion != "2.2.0" {
		g("schemaVersion", "GitLab Workspaces requires schemaVersion 2.2.0, not %q", c.df.SchemaVersion)
	}
	if c.df.Parent != nil || ix.Has("parent") {
		g("parent", "parent devfiles are not supported by GitLab Workspaces")
	}
	if ix.Has("projects") {
		g("projects", "projects are not supported by GitLab Workspaces")
	}
	if ix.Has("starterProjects") {
		g("starterProjects", "starterProjects are not supported by GitLab Workspaces")
	}
	if c.df.Spec.Attributes.Exists("pod-overrides") {
		g(schema.Key("attributes", "pod-overrides"), "pod-overrides is not supported by GitLab Workspaces")
	}
	for k := range c.df.Spec.Variables {
		if l := strings.ToLower(k); strings.HasPrefix(l, "gl-") || strings.HasPrefix(l, "gl_") {
			g(schema.Key("variables", k), "variable %q uses the reserved prefix gl- or gl_", k)
		}
	}
	if len(c.df.Spec.Components) == 0 {
		g("components", "GitLab Workspaces needs at least one component")
	}
	marked := 0
	for _, comp := range c.df.Spec.Components {
		p := c.compPath(comp.Name)
		if strings.HasPrefix(comp.Name, "gl-") {
			g(p+".name", "component name %q uses the reserved prefix gl-", comp.Name)
		}
		if comp.Attributes.Exists("pod-overrides") {
			g(schema.Key(p+".attributes", "pod-overrides"), "pod-overrides is not supported by GitLab Workspaces")
		}
		if comp.Attributes.Exists("container-overrides") {
			g(schema.Key(p+".attributes", "container-overrides"), "container-overrides is not supported by GitLab Workspaces")
		}
		main, _ := boolAttr(comp.Attributes, AttrInjectEditor)
		if main {
			marked++
		}
		switch {
		case comp.Kubernetes != nil, comp.Openshift != nil, comp.Image != nil, comp.Custom != nil, comp.Plugin != nil:
			g(p, "component %q: GitLab Workspaces supports only container and volume components", comp.Name)
		case comp.Volume != nil:
			if len(comp.Name) >= 28 {
				g(p+".name", "volume name %q must be shorter than 28 characters", comp.Name)
			}
		case comp.Container != nil:
			ct := comp.Container
			for _, f := range []string{"dedicatedPod", "sourceMapping", "mountSources"} {
				if ix.Has(p + ".container." + f) {
					g(p+".container."+f, "%s is not supported by GitLab Workspaces", f)
				}
			}
			override := main
			if comp.Attributes.Exists("overrideCommand") {
				v, ok := boolAttr(comp.Attributes, "overrideCommand")
				if !ok || ix.Node("") == nil && false {
					g(schema.Key(p+".attributes", "overrideCommand"), "overrideCommand must be a boolean")
				}
				override = v
			}
			if override && (len(ct.Command) > 0 || len(ct.Args) > 0) {
				g(p+".container", "component %q sets command/args, which GitLab Workspaces allows only with attribute overrideCommand: false", comp.Name)
			}
			for _, e := range ct.Endpoints {
				if strings.HasPrefix(e.Name, "gl-") {
					g(p+".container.endpoints", "endpoint name %q uses the reserved prefix gl-", e.Name)
				}
			}
		}
	}
	if len(c.df.Spec.Components) > 0 && marked != 1 {
		g("components", "GitLab Workspaces needs exactly one component with attribute gl/inject-editor: true (found %d)", marked)
	}
	for _, cmd := range c.df.Spec.Commands {
		p := c.cmdPath(cmd.Id)
		if strings.HasPrefix(cmd.Id, "gl-") {
			g(p+".id", "command id %q uses the reserved prefix gl-", cmd.Id)
		}
		switch {
		case cmd.Exec != nil:
			ex := cmd.Exec
			if strings.HasPrefix(ex.Component, "gl-") {
				g(p+".exec.component", "component %q uses the reserved prefix gl-", ex.Component)
			}
			if strings.HasPrefix(ex.Label, "gl-") {
				g(p+".exec.label", "label %q uses the reserved prefix gl-", ex.Label)
			}
			if len(ex.Env) > 0 {
				g(p+".exec.env", "exec env is not supported by GitLab Workspaces")
			}
			if ex.Group != nil {
				g(p+".exec.group", "exec group is not supported by GitLab Workspaces")
			}
			if ex.HotReloadCapable != nil && *ex.HotReloadCapable {
				g(p+".exec.hotReloadCapable", "hotReloadCapable must be false in GitLab Workspaces")
			}
		case cmd.Apply != nil:
			if strings.HasPrefix(cmd.Apply.Component, "gl-") {
				g(p+".apply.component", "component %q uses the reserved prefix gl-", cmd.Apply.Component)
			}
			if strings.HasPrefix(cmd.Apply.Label, "gl-") {
				g(p+".apply.label", "label %q uses the reserved prefix gl-", cmd.Apply.Label)
			}
		default:
			g(p, "command %q: GitLab Workspaces supports only exec and apply commands", cmd.Id)
		}
	}
	if ev := c.df.Spec.Events; ev != nil {
		if len(ev.PreStop) > 0 {
			g("events.preStop", "preStop events are not supported by GitLab Workspaces")
		}
		if len(ev.PostStop) > 0 {
			g("events.postStop", "postStop events are not supported by GitLab Workspaces")
		}
		for name, list := range map[string][]string{"preStart": ev.PreStart, "postStart": ev.PostStart} {
			for i, id := range list {
				at := fmt.Sprintf("events.%s[%d]", name, i)
				if strings.HasPrefix(id, "gl-") {
					g(at, "event entry %q uses the reserved prefix gl-", id)
				}
				if name == "postStart" {
					if cmd := c.cmds[id]; cmd == nil || cmd.Exec == nil {
						g(at, "postStart entry %q must name an exec command in GitLab Workspaces", id)
					}
				}
			}
		}
	}
	// The size rule is enforced for every profile by schema.MaxSize.
	_ = yaml.Node{}
	_ = v1.Component{}
}
