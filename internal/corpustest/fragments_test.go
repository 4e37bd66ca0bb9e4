package corpustest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
	"go.yaml.in/yaml/v3"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/schema"
)

const fragPrefix = "devfile-api__pkg__"

func readFragment(t *testing.T, dir, name string) (map[string]any, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fragPrefix+name+".yaml"))
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m, true
}

func writeDevfile(t *testing.T, path string, body map[string]any) {
	t.Helper()
	b, err := yaml.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// canon decodes devfile content into the API type and re-encodes it, so
// expected and actual results compare independently of YAML layout.
func canon(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var c v1.DevWorkspaceTemplateSpecContent
	if err := k8syaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(c, "", " ")
	return string(out)
}

func load(t *testing.T, path string) (*schema.Devfile, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	df, diags := schema.LoadBytes(filepath.Base(path), filepath.Dir(path), data, schema.Options{ReadFile: os.ReadFile})
	return df, text(diags)
}

// TestFragmentsParentAndPlugins rebuilds devfile/api's overriding fixtures as
// local devfiles: patches/<case> (original = parent, patch = the parent's
// overrides) and merges/<case> (main with a local parent and a local plugin),
// loads them with schema.LoadBytes and wants the fixture's result.
func TestFragmentsParentAndPlugins(t *testing.T) {
	dir := filepath.Join(testutil.SharedDir(t), "corpus", "devfiles", "fragments")
	cases := map[string]bool{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := strings.TrimPrefix(e.Name(), fragPrefix)
		if strings.HasPrefix(n, "utils__overriding__test-fixtures__") && strings.HasSuffix(n, "__result.yaml") {
			cases[strings.TrimSuffix(n, "__result.yaml")] = true
		}
	}
	var compared, refused int
	for c := range cases {
		t.Run(strings.TrimPrefix(c, "utils__overriding__test-fixtures__"), func(t *testing.T) {
			tmp := t.TempDir()
			result, _ := readFragment(t, dir, c+"__result")
			main := map[string]any{}
			if strings.Contains(c, "__patches__") {
				original, _ := readFragment(t, dir, c+"__original")
				patch, _ := readFragment(t, dir, c+"__patch")
				original["schemaVersion"] = "2.2.0"
				writeDevfile(t, filepath.Join(tmp, "parent.yaml"), original)
				patch["uri"] = "parent.yaml"
				main["parent"] = patch
			} else {
				main, _ = readFragment(t, dir, c+"__main")
				if parent, ok := readFragment(t, dir, c+"__parent"); ok {
					parent["schemaVersion"] = "2.2.0"
					writeDevfile(t, filepath.Join(tmp, "parent.yaml"), parent)
					main["parent"] = map[string]any{"uri": "parent.yaml"}
				}
				if plugin, ok := readFragment(t, dir, c+"__plugin"); ok {
					plugin["schemaVersion"] = "2.2.0"
					writeDevfile(t, filepath.Join(tmp, "plugin.yaml"), plugin)
					comps, _ := main["components"].([]any)
					main["components"] = append(comps, map[string]any{"name": "plugin", "plugin": map[string]any{"uri": "plugin.yaml"}})
				}
			}
			main["schemaVersion"] = "2.2.0"
			main["metadata"] = map[string]any{"name": "main"}
			writeDevfile(t, filepath.Join(tmp, "devfile.yaml"), main)
			df, diags := load(t, filepath.Join(tmp, "devfile.yaml"))
			if df == nil || strings.Contains(diags, ": error: ") {
				refused++
				t.Logf("not compared: ws refuses the assembled devfile (the fixture is not a valid devfile on its own):\n%s", diags)
				return
			}
			compared++
			got := canon(t, df.Spec.DevWorkspaceTemplateSpecContent)
			if want := canon(t, result); got != want {
				t.Errorf("merged content differs from %s__result.yaml:\n%s", c, testutil.LineDiff(want, got))
			}
		})
	}
	t.Logf("overriding fixtures: %d compared, %d refused by validation", compared, refused)
	if compared < 3 { // events-merge, command-and-env... see the log for the rest
		t.Errorf("only %d of %d overriding fixtures could be compared", compared, len(cases))
	}
}

// TestFragmentsVariables loads devfile/api's all/devfile-good fixture (every
// place {{variables}} may appear) and wants devfile-good-output.
func TestFragmentsVariables(t *testing.T) {
	dir := filepath.Join(testutil.SharedDir(t), "corpus", "devfiles", "fragments")
	in, _ := readFragment(t, dir, "validation__variables__test-fixtures__all__devfile-good")
	want, _ := readFragment(t, dir, "validation__variables__test-fixtures__all__devfile-good-output")
	// The fixture is a fragment: commands name no component. Point them
	// at component1 in input and expected output alike.
	for _, m := range []map[string]any{in, want} {
		cmds, _ := m["commands"].([]any)
		for _, c := range cmds {
			for _, kind := range []string{"exec", "apply"} {
				if k, ok := c.(map[string]any)[kind].(map[string]any); ok && k["component"] == nil {
					k["component"] = "component1"
				}
			}
		}
	}
	in["schemaVersion"] = "2.2.0"
	in["metadata"] = map[string]any{"name": "vars"}
	path := filepath.Join(t.TempDir(), "devfile.yaml")
	writeDevfile(t, path, in)
	df, diags := load(t, path)
	if df == nil {
		t.Fatalf("load: %s", diags)
	}
	if got, w := canon(t, df.Spec.DevWorkspaceTemplateSpecContent), canon(t, want); got != w {
		t.Errorf("substituted content differs from devfile-good-output.yaml:\n%s", testutil.LineDiff(w, got))
	}
}
