package compiler

import (
	"fmt"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"

	"github.com/ws-dev/ws/schema"
)

// DefaultMainName names the container ws adds when a devfile has none.
const DefaultMainName = "ws-default"

// appliedContainers returns the containers that apply commands name: init
// containers, run before the workspace, never services.
func (c *compiler) appliedContainers() map[string]bool {
	applied := map[string]bool{}
	for _, cmd := range c.df.Spec.Commands {
		if cmd.Apply != nil {
			if comp := c.comps[cmd.Apply.Component]; comp != nil && comp.Container != nil {
				applied[comp.Name] = true
			}
		}
	}
	return applied
}

// selectMain picks the container the workspace job runs in
// (docs/devfile-support.md, "The main container"):
//
//  1. the one marked gl/inject-editor: true or ws/main: true;
//  2. else, among the containers that are not init containers (named by
//     an apply command), those with an explicit mountSources: true, else
//     those whose mountSources is not false, else all;
//  3. among several, the one the default run command runs in;
//  4. else the one most exec commands run in;
//  5. else the first of them in devfile order.
//
// A main-container warning names the rule when the choice is not the first
// candidate, or when two containers tie in step 4. A devfile without a
// container gets the default image (a no-container warning says so).
func (c *compiler) selectMain() *v1.Component {
	var marked, containers []*v1.Component
	for i := range c.df.Spec.Components {
		comp := &c.df.Spec.Components[i]
		if comp.Container == nil {
			continue
		}
		containers = append(containers, comp)
		v1ok, _ := boolAttr(comp.Attributes, AttrInjectEditor)
		v2ok, _ := boolAttr(comp.Attributes, AttrMain)
		if v1ok || v2ok {
			marked = append(marked, comp)
		}
	}
	switch {
	case len(marked) > 1:
		for _, m := range marked[1:] {
			c.errorf(schema.Key(c.compPath(m.Name)+".attributes", AttrInjectEditor), "multiple-main", "mark exactly one container with gl/inject-editor: true",
				"more than one main container (%q and %q)", marked[0].Name, m.Name)
		}
		return nil
	case len(marked) == 1:
		return marked[0]
	case len(containers) == 0:
		c.warn("components", "no-container", "add a container component with the image to work in, or set "+AttrDefaultImage,
			"the devfile has no container component; the workspace runs in %s", c.set.defaultImage)
		return &v1.Component{Name: DefaultMainName, ComponentUnion: v1.ComponentUnion{Container: &v1.ContainerComponent{
			Container: v1.Container{Image: c.set.defaultImage}}}}
	}

	cands := filterComps(containers, func(comp *v1.Component) bool { return !c.applied[comp.Name] })
	if len(cands) == 0 {
		cands = containers
	}
	if explicit := filterComps(cands, func(comp *v1.Component) bool {
		ms := comp.Container.MountSources
		return ms != nil && *ms
	}); len(explicit) > 0 {
		cands = explicit
	} else if mounting := filterComps(cands, func(comp *v1.Component) bool { return comp.Container.GetMountSources() }); len(mounting) > 0 {
		cands = mounting
	}
	if len(cands) == 1 {
		return cands[0]
	}

	names := make([]string, len(cands))
	for i, comp := range cands {
		names[i] = fmt.Sprintf("%q", comp.Name)
	}
	// A choice other than the first candidate, or a tie between
	// containers that commands run in, is worth a word; the first of
	// several containers that nothing tells apart is the convention.
	chose := func(comp *v1.Component, ambiguous bool, why string) *v1.Component {
		if ambiguous || comp != cands[0] {
			c.warn(c.compPath(comp.Name), "main-container", fmt.Sprintf("mark the container to work in with attributes: {%s: true}", AttrMain),
				"%s is the main container among %s: %s", comp.Name, strings.Join(names, ", "), why)
		}
		return comp
	}
	if target := c.defaultRunTarget(); target != "" {
		for _, comp := range cands {
			if comp.Name == target {
				return chose(comp, false, "the default run command runs in it")
			}
		}
	}
	counts := map[string]int{}
	for _, cmd := range c.df.Spec.Commands {
		if cmd.Exec != nil {
			counts[cmd.Exec.Component]++
		}
	}
	best, tie := cands[0], false
	for _, comp := range cands[1:] {
		switch n := counts[comp.Name]; {
		case n > counts[best.Name]:
			best, tie = comp, false
		case n == counts[best.Name]:
			tie = true
		}
	}
	switch {
	case counts[best.Name] == 0:
		return chose(best, false, "it comes first, and no command runs in any of them")
	case !tie:
		return chose(best, false, fmt.Sprintf("%d exec commands run in it, more than in any other", counts[best.Name]))
	}
	return chose(best, true, fmt.Sprintf("it comes first of those that %d exec commands each run in", counts[best.Name]))
}

// defaultRunTarget is the container the default run command runs in: the
// run group's command with isDefault: true, or its only command.
func (c *compiler) defaultRunTarget() string {
	var runs []*v1.Command
	for i := range c.df.Spec.Commands {
		cmd := &c.df.Spec.Commands[i]
		if g := commandGroup(cmd); g != nil && g.Kind == v1.RunCommandGroupKind {
			if g.IsDefault != nil && *g.IsDefault {
				runs = []*v1.Command{cmd}
				break
			}
			runs = append(runs, cmd)
		}
	}
	if len(runs) != 1 {
		return ""
	}
	for _, leaf := range c.leafCommands(runs[0].Id, 0) {
		if leaf.Exec != nil {
			return leaf.Exec.Component
		}
	}
	return ""
}

func commandGroup(cmd *v1.Command) *v1.CommandGroup {
	switch {
	case cmd.Exec != nil:
		return cmd.Exec.Group
	case cmd.Composite != nil:
		return cmd.Composite.Group
	case cmd.Apply != nil:
		return cmd.Apply.Group
	}
	return nil
}

func filterComps(in []*v1.Component, keep func(*v1.Component) bool) []*v1.Component {
	var out []*v1.Component
	for _, comp := range in {
		if keep(comp) {
			out = append(out, comp)
		}
	}
	return out
}
