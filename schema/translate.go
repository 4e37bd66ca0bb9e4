package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/devfile/api/v2/pkg/validation"
	"github.com/devfile/api/v2/pkg/validation/variables"

	"github.com/ws-dev/ws/diag"
)

// flatten returns the leaf errors of (nested) multierrors.
func flatten(err error) []error {
	type wrapped interface{ WrappedErrors() []error }
	type joined interface{ Unwrap() []error }
	var w wrapped
	if errors.As(err, &w) {
		var out []error
		for _, e := range w.WrappedErrors() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if j, ok := err.(joined); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

var (
	nonCompliantPrefix = regexp.MustCompile(`^error parsing devfile because of non-compliant data( due to)?\s*`)
	schemaLineRE       = regexp.MustCompile(`^- (\S+?): (.*)$`)
	additionalPropRE   = regexp.MustCompile(`^Additional property (\S+) is not allowed$`)
	requiredRE         = regexp.MustCompile(`^(\S+) is required$`)
	componentRE        = regexp.MustCompile(`(?:the component|component|in component|components?:?) "?([a-z0-9][a-z0-9-]*)"?`)
	commandRE          = regexp.MustCompile(`(?:the command|command:?|commands?) "?([A-Za-z0-9][A-Za-z0-9._-]*)"?`)
	volumeRE           = regexp.MustCompile(`the volume "([^"]+)"`)
	eventRE            = regexp.MustCompile(`^(preStart|postStart|preStop|postStop) type events are invalid`)
	volumeMountRE      = regexp.MustCompile(`volume mount (\S+) belonging to the container component (\S+)`)
	dupEndpointNameRE  = regexp.MustCompile(`^devfile contains multiple endpoint entries with same name: (\S+)$`)
	dupTargetPortRE    = regexp.MustCompile(`^devfile contains multiple containers with same endpoint targetPort: (\d+)$`)
	checkoutRemoteRE   = regexp.MustCompile(`^unable to find the checkout remote (\S+) in the remotes for (project|starterProject) (\S+)$`)
	dupKeyRE           = regexp.MustCompile(`^duplicate key: (\S+)$`)
	entryKeyPath       = regexp.MustCompile(`^(components\[\d+\]\.name|commands\[\d+\]\.id|projects\[\d+\]\.name|starterProjects\[\d+\]\.name)$`)
	groupKindPath      = regexp.MustCompile(`^commands\[\d+\]\.\w+\.group\.kind$`)
	endpointNamePath   = regexp.MustCompile(`^components\[\d+\]\.\w+\.endpoints\[\d+\]\.name$`)
	endpointPortPath   = regexp.MustCompile(`^components\[\d+\]\.\w+\.endpoints\[\d+\]\.targetPort$`)
)

// translate turns an error of the devfile library into positioned
// diagnostics. The library converts YAML to JSON before parsing, so its
// errors name fields and components but carry no line numbers; the index
// finds them.
func translate(ix *Index, err error, code string) diag.List {
	var out diag.List
	for _, e := range flatten(err) {
		var noDefault *validation.MissingDefaultCmdWarning
		if errors.As(e, &noDefault) {
			out = append(out, missingDefault(ix, e.Error()))
			continue
		}
		msg := cleanMessage(e.Error())
		if strings.HasPrefix(msg, "invalid devfile schema. errors :") {
			for _, line := range strings.Split(msg, "\n")[1:] {
				if m := schemaLineRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
					out = append(out, schemaDiag(ix, m[1], m[2]))
				}
			}
			continue
		}
		msg = strings.Join(strings.Fields(msg), " ")
		if mounts := volumeMountRE.FindAllStringSubmatch(msg, -1); len(mounts) > 0 {
			// One message lists every missing mount, in map order; give
			// each its own diagnostic at its volumeMounts entry.
			for _, m := range mounts {
				path, _ := ix.Find("components", "name", m[2])
				if path != "" {
					if ps := ix.FindValues(regexp.MustCompile(`^`+regexp.QuoteMeta(path)+`\.container\.volumeMounts\[\d+\]\.name$`), m[1]); len(ps) > 0 {
						path = Parent(ps[0])
					}
				}
				out = append(out, diag.Diagnostic{Severity: diag.Error, Pos: ix.Pos(path), Path: path, Code: code,
					Summary: fmt.Sprintf("volume mount %s of container %s names no volume component", m[1], m[2]),
					Hint:    fmt.Sprintf("add a volume component named %s, or remove the mount", m[1])})
			}
			continue
		}
		path := locate(ix, msg)
		d := diag.Diagnostic{Severity: diag.Error, Pos: ix.Pos(path), Path: path, Summary: msg, Code: code}
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil && strings.Contains(msg, "yaml") {
			line, _ := strconv.Atoi(m[1])
			d.Pos = diag.Pos{File: ix.File, Line: line, Col: 1}
			d.Path = ""
			d.Code = "not-yaml"
			d.Hint = "fix the YAML syntax"
		}
		out = append(out, d)
	}
	return out
}

var groupKindRE = regexp.MustCompile(`^command group (\w+) warning`)

// missingDefault turns the devfile API's MissingDefaultCmdWarning (a group
// with several commands and no isDefault) into a warning, as odo and Che
// treat it: the devfile stays usable, ws runs no command by group. It is
// placed at the group of the first command of that kind.
func missingDefault(ix *Index, msg string) diag.Diagnostic {
	kind := ""
	if m := groupKindRE.FindStringSubmatch(msg); m != nil {
		kind = m[1]
	}
	path := ""
	if ps := ix.FindValues(groupKindPath, kind); len(ps) > 0 {
		path = Parent(ps[0])
	}
	return diag.Diagnostic{Severity: diag.Warning, Pos: ix.Pos(path), Path: path, Code: "missing-default-command",
		Summary: fmt.Sprintf("no %s command is marked isDefault: true among several", kind),
		Hint:    "mark one command of the group with isDefault: true (tools that run a group's default command need it)"}
}

// cleanMessage strips the library's wrapping ("failed to ...", "error
// parsing devfile because of ...") and keeps the cause.
func cleanMessage(msg string) string {
	msg = nonCompliantPrefix.ReplaceAllString(msg, "")
	for _, p := range []string{"failed to decode devfile content: ", "failed to validate devfile schema: ", "error converting YAML to JSON: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return "the devfile library rejected the devfile"
	}
	return msg
}

func schemaDiag(ix *Index, field, desc string) diag.Diagnostic {
	path := schemaPath(field)
	if m := additionalPropRE.FindStringSubmatch(desc); m != nil {
		path = Key(path, m[1])
		desc = fmt.Sprintf("unknown field %q", m[1])
	} else if m := requiredRE.FindStringSubmatch(desc); m != nil {
		desc = m[1] + " is required"
	}
	return diag.Diagnostic{Severity: diag.Error, Pos: ix.Pos(path), Path: path, Summary: lowerFirst(desc),
		Hint: "see the devfile schema for this field", Code: "schema"}
}

// schemaPath turns a gojsonschema field (components.0.container) into a
// data path (components[0].container).
func schemaPath(field string) string {
	if field == "(root)" || field == "" {
		return ""
	}
	var b strings.Builder
	for i, part := range strings.Split(field, ".") {
		if _, err := strconv.Atoi(part); err == nil && i > 0 {
			b.WriteString("[" + part + "]")
			continue
		}
		if i > 0 {
			b.WriteString(".")
		}
		b.WriteString(part)
	}
	return b.String()
}

// locate finds the data path a library message is about, from the
// component, command, volume or event it names.
func locate(ix *Index, msg string) string {
	if m := dupEndpointNameRE.FindStringSubmatch(msg); m != nil {
		if ps := ix.FindValues(endpointNamePath, m[1]); len(ps) > 1 {
			return Parent(ps[1]) // the first duplicate
		}
	}
	if m := dupKeyRE.FindStringSubmatch(msg); m != nil {
		if ps := ix.FindValues(entryKeyPath, m[1]); len(ps) > 1 {
			return Parent(ps[1])
		}
	}
	if m := dupTargetPortRE.FindStringSubmatch(msg); m != nil {
		if ps := ix.FindValues(endpointPortPath, m[1]); len(ps) > 1 {
			return ps[1]
		}
	}
	if m := checkoutRemoteRE.FindStringSubmatch(msg); m != nil {
		list := "projects"
		if m[2] == "starterProject" {
			list = "starterProjects"
		}
		if p, ok := ix.Find(list, "name", m[3]); ok {
			if ix.Has(p + ".git.checkoutFrom.remote") {
				return p + ".git.checkoutFrom.remote"
			}
			return p
		}
	}
	if m := eventRE.FindStringSubmatch(msg); m != nil {
		if n := ix.Node("events"); n != nil {
			return "events." + m[1]
		}
	}
	if m := volumeRE.FindStringSubmatch(msg); m != nil {
		if p, ok := ix.Find("components", "name", m[1]); ok {
			return p
		}
	}
	// The library lists several entities in map order: take the one that
	// comes first in the file, so the position does not change between runs.
	best, bestPos := "", diag.Pos{}
	consider := func(p string) {
		pos := ix.Pos(p)
		if best == "" || pos.Line < bestPos.Line || (pos.Line == bestPos.Line && pos.Col < bestPos.Col) {
			best, bestPos = p, pos
		}
	}
	for _, m := range commandRE.FindAllStringSubmatch(msg, -1) {
		if p, ok := ix.Find("commands", "id", m[1]); ok {
			consider(p)
		}
	}
	if best != "" {
		return best
	}
	for _, m := range componentRE.FindAllStringSubmatch(msg, -1) {
		if p, ok := ix.Find("components", "name", m[1]); ok {
			consider(p)
		}
	}
	return best
}

func variableWarnings(ix *Index, w variables.VariableWarning) diag.List {
	var out diag.List
	add := func(list, field string, m map[string][]string) {
		for _, name := range sortedKeysSlice(m) {
			path, _ := ix.Find(list, field, name)
			for _, v := range m[name] {
				out = append(out, diag.Diagnostic{Severity: diag.Warning, Pos: ix.Pos(path), Path: path,
					Summary: fmt.Sprintf("variable {{%s}} is not defined and is left as is", v),
					Hint:    fmt.Sprintf("define %s under variables, or pass --var %s=VALUE", v, v), Code: "undefined-variable"})
			}
		}
	}
	add("commands", "id", w.Commands)
	add("components", "name", w.Components)
	add("projects", "name", w.Projects)
	add("starterProjects", "name", w.StarterProjects)
	add("dependentProjects", "name", w.DependentProjects)
	return out
}

func sortedKeysSlice(m map[string][]string) []string {
	s := make(map[string]string, len(m))
	for k := range m {
		s[k] = ""
	}
	return sortedKeys(s)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
