package templates

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

// Component is a parsed CI/CD component: the spec header and the jobs.
type Component struct {
	Header []byte
	Body   []byte
	Inputs map[string]Input
}

// Input is one spec:inputs entry.
type Input struct {
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"`
	Default     any      `yaml:"default"`
	Options     []string `yaml:"options"`
}

// LoadComponent reads a component file: a spec header, ---, then jobs.
func LoadComponent(t *testing.T, path string) *Component {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := splitDocuments(t, data)
	if len(docs) != 2 {
		t.Fatalf("%s: %d YAML documents, want 2 (spec header, ---, jobs)", path, len(docs))
	}
	var head struct {
		Spec struct {
			Inputs map[string]Input `yaml:"inputs"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(docs[0]))
	dec.KnownFields(true)
	if err := dec.Decode(&head); err != nil {
		t.Fatalf("%s: spec header: %v", path, err)
	}
	return &Component{Header: docs[0], Body: docs[1], Inputs: head.Spec.Inputs}
}

// splitDocuments returns each YAML document of data re-encoded on its own.
func splitDocuments(t *testing.T, data []byte) [][]byte {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out [][]byte
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("parse YAML: %v", err)
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

var inputRE = regexp.MustCompile(`\$\[\[\s*inputs\.([a-z_]+)\s*\]\]`)

// Render interpolates $[[ inputs.x ]] the way GitLab does, on the parsed
// document: a string that is only the placeholder takes the input's typed
// value, one that contains it takes its text. Missing inputs use defaults.
func (c *Component) Render(t *testing.T, given map[string]any) []byte {
	t.Helper()
	vals := map[string]any{}
	for name, in := range c.Inputs {
		vals[name] = in.Default
		if v, ok := given[name]; ok {
			vals[name] = v
		}
		if in.Options != nil {
			if !contains(in.Options, fmt.Sprint(vals[name])) {
				t.Fatalf("input %s = %v is not one of %v", name, vals[name], in.Options)
			}
		}
	}
	for name := range given {
		if _, ok := c.Inputs[name]; !ok {
			t.Fatalf("unknown input %q", name)
		}
	}
	var doc any
	if err := yaml.Unmarshal(c.Body, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range v {
				out[walk(k).(string)] = walk(e)
			}
			return out
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
			return v
		case string:
			if m := inputRE.FindStringSubmatch(v); m != nil && m[0] == v {
				return vals[m[1]]
			}
			return inputRE.ReplaceAllStringFunc(v, func(s string) string {
				return fmt.Sprint(vals[inputRE.FindStringSubmatch(s)[1]])
			})
		}
		return v
	}
	out, err := yaml.Marshal(walk(doc))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func workspaceComponent(t *testing.T) *Component {
	return LoadComponent(t, filepath.Join(testutil.RepoRoot(), "templates", "workspace.yml"))
}

func TestHeaderIsSpecOnlyAndValid(t *testing.T) {
	c := workspaceComponent(t)
	var top map[string]any
	if err := yaml.Unmarshal(c.Header, &top); err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top["spec"] == nil {
		t.Errorf("header document has keys %v, want only spec", keys(top))
	}
	// spec is a top-level property of GitLab's schema: the header alone validates.
	cischema.Validate(t, c.Header)
	if len(c.Inputs) == 0 {
		t.Fatal("no spec:inputs")
	}
	for name, in := range c.Inputs {
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		if in.Options != nil && !contains(in.Options, fmt.Sprint(in.Default)) {
			t.Errorf("input %s: default %v is not one of its options %v", name, in.Default, in.Options)
		}
		if in.Type == "boolean" {
			if _, ok := in.Default.(bool); !ok {
				t.Errorf("input %s: boolean with a %T default", name, in.Default)
			}
		}
	}
}

func TestEveryInputDeclaredAndUsed(t *testing.T) {
	c := workspaceComponent(t)
	used := map[string]bool{}
	for _, m := range inputRE.FindAllStringSubmatch(string(c.Body), -1) {
		used[m[1]] = true
		if _, ok := c.Inputs[m[1]]; !ok {
			t.Errorf("jobs use undeclared input %q", m[1])
		}
	}
	for name := range c.Inputs {
		if !used[name] {
			t.Errorf("input %q is declared but not used", name)
		}
	}
	if n := strings.Count(string(c.Body), "$[["); n != len(inputRE.FindAllString(string(c.Body), -1)) {
		t.Errorf("a $[[ ... ]] placeholder is not of the form $[[ inputs.name ]]")
	}
}

// TestRenderedValidates validates the jobs as GitLab sees them after
// interpolation, for every combination of the option inputs. The raw body
// cannot be validated: allow_failure holds a placeholder for a boolean.
func TestRenderedValidates(t *testing.T) {
	c := workspaceComponent(t)
	for _, when := range c.Inputs["when"].Options {
		for _, strategy := range c.Inputs["strategy"].Options {
			for _, allow := range []bool{true, false} {
				name := fmt.Sprintf("when=%s,strategy=%s,allow_failure=%v", when, strategy, allow)
				t.Run(name, func(t *testing.T) {
					out := c.Render(t, map[string]any{"when": when, "strategy": strategy, "allow_failure": allow, "job_prefix": "review-"})
					cischema.Validate(t, out)
					checkWiring(t, out, "review-", strategy)
				})
			}
		}
	}
}

// checkWiring checks that the start job triggers the artifact the compile job writes.
func checkWiring(t *testing.T, rendered []byte, prefix, strategy string) {
	t.Helper()
	type job struct {
		Extends   string `yaml:"extends"`
		Stage     string `yaml:"stage"`
		Script    []string
		Artifacts struct {
			Paths []string `yaml:"paths"`
		} `yaml:"artifacts"`
		Needs []struct {
			Job string `yaml:"job"`
		} `yaml:"needs"`
		Trigger struct {
			Include []struct {
				Artifact string `yaml:"artifact"`
				Job      string `yaml:"job"`
			} `yaml:"include"`
			Strategy string `yaml:"strategy"`
		} `yaml:"trigger"`
	}
	var jobs map[string]job
	if err := yaml.Unmarshal(rendered, &jobs); err != nil {
		t.Fatal(err)
	}
	compile, ok := jobs[prefix+"compile"]
	if !ok {
		t.Fatalf("no job %scompile in %v", prefix, keys(jobs))
	}
	start, ok := jobs[prefix+"start"]
	if !ok {
		t.Fatalf("no job %sstart", prefix)
	}
	if len(start.Trigger.Include) != 1 || len(compile.Artifacts.Paths) != 1 {
		t.Fatalf("trigger include %v, artifacts %v", start.Trigger.Include, compile.Artifacts.Paths)
	}
	inc := start.Trigger.Include[0]
	if inc.Job != prefix+"compile" || inc.Artifact != compile.Artifacts.Paths[0] {
		t.Errorf("start triggers %s from %s; compile writes %s", inc.Artifact, inc.Job, compile.Artifacts.Paths[0])
	}
	if !strings.Contains(strings.Join(compile.Script, "\n"), "-o "+compile.Artifacts.Paths[0]) {
		t.Errorf("compile script does not write %s", compile.Artifacts.Paths[0])
	}
	if len(start.Needs) != 1 || start.Needs[0].Job != prefix+"compile" {
		t.Errorf("start needs %v, want %scompile", start.Needs, prefix)
	}
	// extends resolves to a hidden job that sets the strategy (or not).
	base, ok := jobs[start.Extends]
	if !ok {
		t.Fatalf("start extends %q, which does not exist", start.Extends)
	}
	want := ""
	if strategy == "depend" {
		want = "depend"
	}
	if base.Trigger.Strategy != want {
		t.Errorf("strategy %s: %s sets trigger:strategy %q, want %q", strategy, start.Extends, base.Trigger.Strategy, want)
	}
}

// TestCompileScriptArguments runs the compile job's script with sh and a
// stand-in ws that records its arguments, for several sets of inputs.
func TestCompileScriptArguments(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("skipping: no sh on PATH")
	}
	c := workspaceComponent(t)
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		vars   map[string]string // variables the runner would expand
		want   string
	}{
		{"defaults", nil, nil, "compile|-o|ws-workspace.gitlab-ci.yml"},
		{"all", map[string]any{
			"devfile": "devfiles/web.yaml", "name": "$CI_COMMIT_REF_SLUG", "tags": "ws,linux",
			"timeout": "2h", "gateway_url": "https://ws.example.com", "agent_source": "local",
			"compile_args": "--var GO_VERSION=1.24",
		}, map[string]string{"CI_COMMIT_REF_SLUG": "feature-x"},
			"compile|devfiles/web.yaml|--name|feature-x|--tag|ws|--tag|linux|--timeout|2h|--gateway|https://ws.example.com|--agent-source|local|--var|GO_VERSION=1.24|-o|ws-workspace.gitlab-ci.yml"},
		{"hostile name stays one argument", map[string]any{"name": "a b; touch pwned"}, nil,
			"compile|--name|a b; touch pwned|-o|ws-workspace.gitlab-ci.yml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var job struct {
				Variables map[string]string `yaml:"variables"`
				Script    []string          `yaml:"script"`
			}
			var jobs map[string]yaml.Node
			if err := yaml.Unmarshal(c.Render(t, tc.inputs), &jobs); err != nil {
				t.Fatal(err)
			}
			n := jobs["ws-compile"]
			if err := n.Decode(&job); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			if err := os.Mkdir(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			// The stand-in: 'ws version' prints, 'ws compile' records its
			// arguments one per line and writes the -o file.
			fake := `#!/bin/sh
[ "$1" = version ] && { echo "ws version test"; exit 0; }
for a in "$@"; do printf '%s\n' "$a"; done > "$WS_ARGS"
while [ $# -gt 0 ]; do [ "$1" = -o ] && { echo "stages: [workspace]" > "$2"; }; shift; done
`
			if err := os.WriteFile(filepath.Join(bin, "ws"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sh, "-e", "-c", strings.Join(job.Script, "\n"))
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "WS_ARGS=" + filepath.Join(dir, "args")}
			for k, v := range tc.vars {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			// The runner expands $VAR references in variable values.
			for _, k := range sortedKeys(job.Variables) {
				v := os.Expand(job.Variables[k], func(name string) string { return tc.vars[name] })
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("script failed: %v\n%s", err, out)
			}
			args, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(strings.TrimSuffix(string(args), "\n"), "\n", "|")
			if got != tc.want {
				t.Errorf("ws called with\n  %s\nwant\n  %s", got, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "ws-workspace.gitlab-ci.yml")); err != nil {
				t.Errorf("artifact not written: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
				t.Errorf("an input was run as shell code")
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]string) []string { return keys(m) }

// TestImageMatchesCompiler keeps the component's ws image the one ws
// compile delivers the agent from (and goreleaser publishes).
func TestImageMatchesCompiler(t *testing.T) {
	c := workspaceComponent(t)
	if got := fmt.Sprint(c.Inputs["ws_image"].Default); got != compiler.DefaultAgentImage {
		t.Errorf("ws_image default %q, want compiler.DefaultAgentImage %q", got, compiler.DefaultAgentImage)
	}
}
