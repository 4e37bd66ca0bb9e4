package compiler

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"

	"github.com/ws-dev/ws/schema"
)

const gitlabHint = "GitLab Workspaces does not accept this; drop --profile gitlab to compile anyway"

// gitlabRules enforces GitLab Workspaces' devfile restrictions (see
// ../shared/docs/gitlab-reference.md §3.1), so that a devfile accepted with
// --profile gitlab is also accepted by GitLab Workspaces. One rule function
// per devfile section; the size rule is enforced for every profile by
// schema.MaxSize.
func (c *compiler) gitlabRules() {
	c.gitlabTopLevel()
	c.gitlabComponents()
	c.gitlabCommands()
	c.gitlabEvents()
}

// gitlabError reports one GitLab Workspaces violation.
func (c *compiler) gitlabError(path, format string, args ...any) {
	c.errorf(path, "gitlab-profile", gitlabHint, format, args...)
}

// gitlabTopLevel: schemaVersion, parent, projects, attributes, variables.
func (c *compiler) gitlabTopLevel() {
	ix := c.df.Index
	if c.df.SchemaVersion != "2.2.0" {
		c.gitlabError("schemaVersion", "GitLab Workspaces requires schemaVersion 2.2.0, not %q", c.df.SchemaVersion)
	}
	if c.df.Parent != nil || ix.Has("parent") {
		c.gitlabError("parent", "parent devfiles are not supported by GitLab Workspaces")
	}
	for _, key := range []string{"projects", "starterProjects"} {
		if ix.Has(key) {
			c.gitlabError(key, "%s are not supported by GitLab Workspaces", key)
		}
	}
	if c.df.Spec.Attributes.Exists("pod-overrides") {
		c.gitlabError(schema.Key("attributes", "pod-overrides"), "pod-overrides is not supported by GitLab Workspaces")
	}
	for _, k := range slices.Sorted(maps.Keys(c.df.Spec.Variables)) {
		if l := strings.ToLower(k); strings.HasPrefix(l, "gl-") || strings.HasPrefix(l, "gl_") {
			c.gitlabError(schema.Key("variables", k), "variable %q uses the reserved prefix gl- or gl_", k)
		}
	}
}

// gitlabComponents: component kinds, names, overrides and the one
// gl/inject-editor container.
func (c *compiler) gitlabComponents() {
	comps := c.df.Spec.Components
	if len(comps) == 0 {
		c.gitlabError("components", "GitLab Workspaces needs at least one component")
		return
	}
	marked := 0
	for i := range comps {
		comp := &comps[i]
		p := c.compPath(comp.Name)
		if strings.HasPrefix(comp.Name, "gl-") {
			c.gitlabError(p+".name", "component name %q uses the reserved prefix gl-", comp.Name)
		}
		for _, a := range []string{"pod-overrides", "container-overrides"} {
			if comp.Attributes.Exists(a) {
				c.gitlabError(schema.Key(p+".attributes", a), "%s is not supported by GitLab Workspaces", a)
			}
		}
		main, _ := boolAttr(comp.Attributes, AttrInjectEditor)
		if main {
			marked++
		}
		switch {
		case comp.Kubernetes != nil, comp.Openshift != nil, comp.Image != nil, comp.Custom != nil, comp.Plugin != nil:
			c.gitlabError(p, "component %q: GitLab Workspaces supports only container and volume components", comp.Name)
		case comp.Volume != nil:
			if len(comp.Name) >= 28 {
				c.gitlabError(p+".name", "volume name %q must be shorter than 28 characters", comp.Name)
			}
		case comp.Container != nil:
			c.gitlabContainer(comp, p, main)
		}
	}
	if marked != 1 {
		c.gitlabError("components", "GitLab Workspaces needs exactly one component with attribute gl/inject-editor: true (found %d)", marked)
	}
}

// gitlabContainer: fields GitLab Workspaces sets itself, command/args only
// with overrideCommand: false, endpoint names.
func (c *compiler) gitlabContainer(comp *v1.Component, p string, main bool) {
	ct := comp.Container
	for _, f := range []string{"dedicatedPod", "sourceMapping", "mountSources"} {
		if c.df.Index.Has(p + ".container." + f) {
			c.gitlabError(p+".container."+f, "%s is not supported by GitLab Workspaces", f)
		}
	}
	override := main
	if comp.Attributes.Exists("overrideCommand") {
		v, ok := boolAttr(comp.Attributes, "overrideCommand")
		if !ok {
			c.gitlabError(schema.Key(p+".attributes", "overrideCommand"), "overrideCommand must be a boolean")
		}
		override = v
	}
	if override && (len(ct.Command) > 0 || len(ct.Args) > 0) {
		c.gitlabError(p+".container", "component %q sets command/args, which GitLab Workspaces allows only with attribute overrideCommand: false", comp.Name)
	}
	for _, e := range ct.Endpoints {
		if strings.HasPrefix(e.Name, "gl-") {
			c.gitlabError(p+".container.endpoints", "endpoint name %q uses the reserved prefix gl-", e.Name)
		}
	}
}

// gitlabCommands: only exec and apply, no exec env, group or hot reload,
// no gl- prefixes.
func (c *compiler) gitlabCommands() {
	for _, cmd := range c.df.Spec.Commands {
		p := c.cmdPath(cmd.Id)
		if strings.HasPrefix(cmd.Id, "gl-") {
			c.gitlabError(p+".id", "command id %q uses the reserved prefix gl-", cmd.Id)
		}
		var component, label, kind string
		switch {
		case cmd.Exec != nil:
			ex := cmd.Exec
			component, label, kind = ex.Component, ex.Label, "exec"
			if len(ex.Env) > 0 {
				c.gitlabError(p+".exec.env", "exec env is not supported by GitLab Workspaces")
			}
			if ex.Group != nil {
				c.gitlabError(p+".exec.group", "exec group is not supported by GitLab Workspaces")
			}
			if ex.HotReloadCapable != nil && *ex.HotReloadCapable {
				c.gitlabError(p+".exec.hotReloadCapable", "hotReloadCapable must be false in GitLab Workspaces")
			}
		case cmd.Apply != nil:
			component, label, kind = cmd.Apply.Component, cmd.Apply.Label, "apply"
		default:
			c.gitlabError(p, "command %q: GitLab Workspaces supports only exec and apply commands", cmd.Id)
			continue
		}
		if strings.HasPrefix(component, "gl-") {
			c.gitlabError(p+"."+kind+".component", "component %q uses the reserved prefix gl-", component)
		}
		if strings.HasPrefix(label, "gl-") {
			c.gitlabError(p+"."+kind+".label", "label %q uses the reserved prefix gl-", label)
		}
	}
}

// gitlabEvents: no stop events; postStart names exec commands.
func (c *compiler) gitlabEvents() {
	ev := c.df.Spec.Events
	if ev == nil {
		return
	}
	if len(ev.PreStop) > 0 {
		c.gitlabError("events.preStop", "preStop events are not supported by GitLab Workspaces")
	}
	if len(ev.PostStop) > 0 {
		c.gitlabError("events.postStop", "postStop events are not supported by GitLab Workspaces")
	}
	for _, e := range []struct {
		name string
		ids  []string
	}{{"preStart", ev.PreStart}, {"postStart", ev.PostStart}} {
		for i, id := range e.ids {
			at := fmt.Sprintf("events.%s[%d]", e.name, i)
			if strings.HasPrefix(id, "gl-") {
				c.gitlabError(at, "event entry %q uses the reserved prefix gl-", id)
			}
			if e.name == "postStart" {
				if cmd := c.cmds[id]; cmd == nil || cmd.Exec == nil {
					c.gitlabError(at, "postStart entry %q must name an exec command in GitLab Workspaces", id)
				}
			}
		}
	}
}
