package schema

import (
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
	devfilepkg "github.com/devfile/api/v2/pkg/devfile"
	apiOverride "github.com/devfile/api/v2/pkg/utils/overriding"
	"github.com/devfile/api/v2/pkg/validation/variables"
	"github.com/devfile/library/v2/pkg/devfile/parser/data"
	"github.com/devfile/library/v2/pkg/devfile/validate"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/diag"
)

// MaxSize is the largest devfile ws reads (GitLab Workspaces' limit).
const MaxSize = 3 << 20

// maxDepth bounds parent chains.
const maxDepth = 10

// Supported lists the devfile schema versions ws accepts.
var Supported = []string{"2.0.0", "2.1.0", "2.2.0", "2.2.1", "2.2.2", "2.3.0"}

// Devfile is a loaded, flattened devfile: parent and plugins merged,
// {{variables}} substituted, validated by the devfile library.
type Devfile struct {
	// File is the devfile path as shown in diagnostics.
	File string
	// SchemaVersion is the main file's schemaVersion, e.g. "2.2.0".
	SchemaVersion string
	Metadata      devfilepkg.DevfileMetadata
	// Spec is the flattened content.
	Spec v1.DevWorkspaceTemplateSpec
	// Index maps data paths of the main file to positions.
	Index *Index
	// Parent is the main file's parent reference, kept for rules that
	// forbid inheritance; nil when there is none.
	Parent *v1.Parent
}

// Options control loading.
type Options struct {
	// Vars override devfile variables ({{KEY}}), from --var.
	Vars map[string]string
	// ReadFile reads a local file (the devfile and local parents); required.
	ReadFile func(name string) ([]byte, error)
	// Fetch, when set, fetches parents and plugins given by URI or registry
	// id. It is nil unless the user passed --allow-network.
	Fetch func(url string) ([]byte, error)
	// DefaultRegistry is used for registry ids without registryUrl.
	DefaultRegistry string
}

// DefaultRegistry is the public devfile registry.
const DefaultRegistry = "https://registry.devfile.io"

// Load reads and loads the devfile at name; display is the name shown in
// diagnostics. It never panics; every problem is a diagnostic.
func Load(display, name string, opts Options) (*Devfile, diag.List) {
	data, err := opts.ReadFile(name)
	if err != nil {
		return nil, diag.List{{Severity: diag.Error, Pos: diag.Pos{File: display}, Summary: fmt.Sprintf("cannot read devfile: %v", err), Code: "read-error"}}
	}
	return LoadBytes(display, filepath.Dir(name), data, opts)
}

// LoadBytes loads devfile content; dir resolves relative parent paths.
func LoadBytes(display, dir string, data []byte, opts Options) (df *Devfile, diags diag.List) {
	defer func() {
		if r := recover(); r != nil {
			df = nil
			diags = append(diags, diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: display},
				Summary: fmt.Sprintf("the devfile library failed on this file (%v)", r),
				Hint:    "check the devfile against the schema; please report this as a ws bug", Code: "library-failure"})
		}
	}()
	l := &loader{opts: opts, visited: map[string]bool{}}
	obj, ix, ds := l.parse(display, dir, data, 0)
	diags = append(diags, ds...)
	if obj == nil || diags.HasErrors() {
		return nil, diags
	}
	df = &Devfile{File: display, Index: ix, SchemaVersion: obj.GetSchemaVersion(), Metadata: obj.GetMetadata()}
	spec := obj.GetDevfileWorkspaceSpec()
	if spec == nil {
		spec = &v1.DevWorkspaceTemplateSpec{}
	}
	df.Parent = l.mainParent

	if df.SchemaVersion != "2.0.0" {
		if spec.Variables == nil {
			spec.Variables = map[string]string{}
		}
		for _, k := range sortedKeys(opts.Vars) {
			spec.Variables[k] = opts.Vars[k]
		}
		w := variables.ValidateAndReplaceGlobalVariable(spec)
		diags = append(diags, variableWarnings(ix, w)...)
	}
	obj.SetDevfileWorkspaceSpec(*spec)
	if err := validate.ValidateDevfileData(obj); err != nil {
		diags = append(diags, translate(ix, err, "invalid-devfile")...)
	}
	df.Spec = *spec
	return df, diags
}

type loader struct {
	opts       Options
	visited    map[string]bool
	mainParent *v1.Parent
}

var versionRE = regexp.MustCompile(`^2\.\d+\.\d+(-.*)?$`)

// parse loads one file and flattens its parent and plugins.
func (l *loader) parse(display, dir string, src []byte, depth int) (data.DevfileData, *Index, diag.List) {
	file := diag.Pos{File: display}
	if len(src) > MaxSize {
		return nil, nil, diag.List{{Severity: diag.Error, Pos: file,
			Summary: fmt.Sprintf("devfile is %d bytes, over the %d-byte limit", len(src), MaxSize),
			Hint:    "split it with a parent devfile or remove inlined content", Code: "too-large"}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, nil, diag.List{{Severity: diag.Error, Pos: file, Summary: "devfile is empty",
				Hint: "start with schemaVersion: 2.2.0 and a container component", Code: "not-yaml"}}
		}
		return nil, nil, diag.List{yamlError(display, err)}
	}
	ix := NewIndex(display, &doc)
	if ix.root == nil || ix.root.Kind != yaml.MappingNode {
		return nil, ix, diag.List{{Severity: diag.Error, Pos: ix.Pos(""), Summary: "devfile is not a YAML mapping",
			Hint: "a devfile starts with schemaVersion: 2.2.0", Code: "not-yaml"}}
	}
	if d, ok := checkVersion(ix); !ok {
		return nil, ix, diag.List{d}
	}
	// The library's parser.ParseDevfile without flattening (ws resolves
	// parents itself, without side effects), Kubernetes URI inlining,
	// boolean defaults (the compiler uses the Get* accessors) or Git
	// downloads; see parseDevfile.
	obj, err := parseDevfile(src)
	if err != nil {
		return nil, ix, translate(ix, err, "invalid-devfile")
	}
	spec := obj.GetDevfileWorkspaceSpec()
	if spec == nil {
		return obj, ix, nil
	}
	var diags diag.List
	var parentFlat *v1.DevWorkspaceTemplateSpecContent
	if p := spec.Parent; p != nil && !isEmptyParent(p) {
		if depth == 0 {
			l.mainParent = p.DeepCopy()
		}
		pos := ix.Pos("parent")
		content, ds := l.importRef(display, dir, "parent", pos, p.ImportReference, depth)
		diags = append(diags, ds...)
		if content != nil {
			if !isEmptyOverrides(p.ParentOverrides) {
				out, err := apiOverride.OverrideDevWorkspaceTemplateSpec(content, p.ParentOverrides)
				if err != nil {
					diags = append(diags, translate(ix, err, "parent-override")...)
				} else {
					content = out
				}
			}
			parentFlat = content
		}
	}
	var plugins []*v1.DevWorkspaceTemplateSpecContent
	for i, c := range spec.Components {
		if c.Plugin == nil {
			continue
		}
		p := fmt.Sprintf("components[%d].plugin", i)
		if q, ok := ix.Find("components", "name", c.Name); ok {
			p = q + ".plugin"
		}
		content, ds := l.importRef(display, dir, p, ix.Pos(p), c.Plugin.ImportReference, depth)
		diags = append(diags, ds...)
		if content == nil {
			continue
		}
		if !isEmptyPluginOverrides(c.Plugin.PluginOverrides) {
			out, err := apiOverride.OverrideDevWorkspaceTemplateSpec(content, c.Plugin.PluginOverrides)
			if err != nil {
				diags = append(diags, translate(ix, err, "plugin-override")...)
				continue
			}
			content = out
		}
		plugins = append(plugins, content)
	}
	if diags.HasErrors() {
		return nil, ix, diags
	}
	if parentFlat != nil || len(plugins) > 0 {
		main := spec.DevWorkspaceTemplateSpecContent
		main.Components = slices.DeleteFunc(slices.Clone(main.Components), func(c v1.Component) bool { return c.Plugin != nil })
		merged, err := apiOverride.MergeDevWorkspaceTemplateSpec(&main, parentFlat, plugins...)
		if err != nil {
			return nil, ix, append(diags, translate(ix, err, "parent-merge")...)
		}
		spec.DevWorkspaceTemplateSpecContent = *merged
	}
	spec.Parent = nil
	obj.SetDevfileWorkspaceSpec(*spec)
	return obj, ix, diags
}

// importRef loads a parent or plugin and returns its flattened content.
func (l *loader) importRef(display, dir, what string, pos diag.Pos, ref v1.ImportReference, depth int) (*v1.DevWorkspaceTemplateSpecContent, diag.List) {
	fail := func(code, summary, hint string) (*v1.DevWorkspaceTemplateSpecContent, diag.List) {
		return nil, diag.List{{Severity: diag.Error, Pos: pos, Path: what, Summary: summary, Hint: hint, Code: code}}
	}
	if depth >= maxDepth {
		return fail("parent-depth", fmt.Sprintf("more than %d levels of parents", maxDepth), "flatten the chain of parents")
	}
	var (
		src         []byte
		err         error
		childDisp   string
		childDir    string
		isRemoteURI = strings.HasPrefix(ref.Uri, "http://") || strings.HasPrefix(ref.Uri, "https://")
	)
	switch {
	case ref.Kubernetes != nil:
		return fail("parent-kubernetes", "a parent or plugin from a Kubernetes DevWorkspaceTemplate cannot be resolved by ws",
			"copy the template's content into the devfile, or reference a devfile by path")
	case ref.Uri != "" && !isRemoteURI:
		if l.opts.Fetch != nil && strings.Contains(dir, "://") {
			u := strings.TrimSuffix(dir, "/") + "/" + ref.Uri
			return l.remote(display, u, what, pos, depth, fail)
		}
		p := ref.Uri
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, filepath.FromSlash(p))
		}
		key := filepath.Clean(p)
		if l.visited[key] {
			return fail("parent-cycle", fmt.Sprintf("%s %q is already being loaded (a cycle)", what, ref.Uri), "remove the cycle between the devfiles")
		}
		src, err = l.opts.ReadFile(p)
		if err != nil {
			return fail("parent-not-found", fmt.Sprintf("cannot read %s %q: %v", what, ref.Uri, unwrapPathError(err)), "check the path; it is relative to the devfile's directory")
		}
		l.visited[key] = true
		defer delete(l.visited, key)
		childDisp = path.Join(path.Dir(display), filepath.ToSlash(ref.Uri))
		if filepath.IsAbs(ref.Uri) {
			childDisp = filepath.ToSlash(ref.Uri)
		}
		childDir = filepath.Dir(p)
	case ref.Uri != "":
		return l.remote(display, ref.Uri, what, pos, depth, fail)
	case ref.Id != "":
		reg := ref.RegistryUrl
		if reg == "" {
			reg = l.opts.DefaultRegistry
		}
		if reg == "" {
			reg = DefaultRegistry
		}
		u := strings.TrimSuffix(reg, "/") + "/devfiles/" + ref.Id
		if ref.Version != "" {
			u += "/" + ref.Version
		}
		return l.remote(display, u, what, pos, depth, fail)
	default:
		return fail("parent-empty", what+" does not reference a devfile", "set uri (a path) or id")
	}
	obj, _, diags := l.parse(childDisp, childDir, src, depth+1)
	if obj == nil || diags.HasErrors() {
		return nil, diags
	}
	spec := obj.GetDevfileWorkspaceSpecContent()
	return spec, diags
}

func (l *loader) remote(display, url, what string, pos diag.Pos, depth int, fail func(code, summary, hint string) (*v1.DevWorkspaceTemplateSpecContent, diag.List)) (*v1.DevWorkspaceTemplateSpecContent, diag.List) {
	if l.opts.Fetch == nil {
		return fail("network-required", fmt.Sprintf("%s %s needs the network", what, url),
			"pass --allow-network to fetch it, or copy the devfile next to yours and reference it by path")
	}
	if l.visited[url] {
		return fail("parent-cycle", fmt.Sprintf("%s %q is already being loaded (a cycle)", what, url), "remove the cycle between the devfiles")
	}
	data, err := l.opts.Fetch(url)
	if err != nil {
		return fail("fetch-failed", fmt.Sprintf("fetch %s: %v", url, err), "check the address and your network, or reference a local copy by path")
	}
	l.visited[url] = true
	defer delete(l.visited, url)
	obj, _, diags := l.parse(url, url[:strings.LastIndex(url, "/")], data, depth+1)
	if obj == nil || diags.HasErrors() {
		return nil, diags
	}
	return obj.GetDevfileWorkspaceSpecContent(), diags
}

func checkVersion(ix *Index) (diag.Diagnostic, bool) {
	hint := "use schemaVersion: 2.2.0 (ws supports " + strings.Join(Supported, ", ") + ")"
	n := ix.Node("schemaVersion")
	if n == nil {
		if ix.Node("apiVersion") != nil {
			return diag.Diagnostic{Severity: diag.Error, Pos: ix.Pos("apiVersion"), Path: "apiVersion",
				Summary: "devfile 1.x is not supported", Hint: "convert the devfile to schema 2.2.0", Code: "schema-version"}, false
		}
		return diag.Diagnostic{Severity: diag.Error, Pos: ix.Pos(""), Path: "schemaVersion",
			Summary: "schemaVersion is missing", Hint: hint, Code: "schema-version"}, false
	}
	d := diag.Diagnostic{Severity: diag.Error, Pos: ix.Pos("schemaVersion"), Path: "schemaVersion", Hint: hint, Code: "schema-version"}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.Summary = fmt.Sprintf("schemaVersion must be a string like \"2.2.0\", not %q", n.Value)
		return d, false
	}
	v := strings.SplitN(n.Value, "-", 2)[0]
	if !versionRE.MatchString(n.Value) || !slices.Contains(Supported, v) {
		d.Summary = fmt.Sprintf("unsupported schemaVersion %q", n.Value)
		return d, false
	}
	return diag.Diagnostic{}, true
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlError(display string, err error) diag.Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	d := diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: display}, Summary: "not valid YAML: " + msg,
		Hint: "fix the YAML syntax (indentation, quoting, tabs)", Code: "not-yaml"}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil { // fails only past int's range
			d.Pos.Line, d.Pos.Col = line, 1
		}
		d.Summary = "not valid YAML: " + strings.TrimSpace(yamlLineRE.ReplaceAllString(msg, ""))
		d.Summary = strings.TrimPrefix(strings.ReplaceAll(d.Summary, ": :", ":"), ": ")
		d.Summary = strings.ReplaceAll(d.Summary, "  ", " ")
	}
	return d
}

func unwrapPathError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}

func isEmptyParent(p *v1.Parent) bool {
	return p.Uri == "" && p.Id == "" && p.Kubernetes == nil && isEmptyOverrides(p.ParentOverrides)
}

func isEmptyOverrides(o v1.ParentOverrides) bool {
	return len(o.Components) == 0 && len(o.Commands) == 0 && len(o.Projects) == 0 &&
		len(o.StarterProjects) == 0 && len(o.Attributes) == 0 && len(o.Variables) == 0
}

func isEmptyPluginOverrides(o v1.PluginOverrides) bool {
	return len(o.Components) == 0 && len(o.Commands) == 0
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
