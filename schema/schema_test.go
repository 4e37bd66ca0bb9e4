package schema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func load(t *testing.T, src string) (*Devfile, string) {
	t.Helper()
	df, diags := LoadBytes("d.yaml", t.TempDir(), []byte(src), Options{ReadFile: os.ReadFile})
	var b bytes.Buffer
	if err := diags.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return df, b.String()
}

func TestIndexPositions(t *testing.T) {
	src := "schemaVersion: 2.2.0\ncomponents:\n  - name: a\n    container:\n      image: x\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	ix := NewIndex("d.yaml", &doc)
	for path, want := range map[string]string{
		"components[0].container.image":       "d.yaml:5:14",
		"components[0].container":             "d.yaml:4:5",
		"components[0].container.memoryLimit": "d.yaml:4:5", // nearest ancestor
		"components[3]":                       "d.yaml:2:1",
		"nothing":                             "d.yaml:1:1",
	} {
		if got := ix.Pos(path).String(); got != want {
			t.Errorf("Pos(%q) = %s, want %s", path, got, want)
		}
	}
	if p, ok := ix.Find("components", "name", "a"); !ok || p != "components[0]" {
		t.Errorf("Find(components, name, a) = %q, %v", p, ok)
	}
}

func TestKeyAndParent(t *testing.T) {
	p := Key(Key("components[0]", "attributes"), "app.kubernetes.io/name")
	if p != `components[0].attributes["app.kubernetes.io/name"]` {
		t.Errorf("Key = %s", p)
	}
	if got := Parent(p); got != "components[0].attributes" {
		t.Errorf("Parent(%s) = %s", p, got)
	}
	if got := Parent("components[0]"); got != "components" {
		t.Errorf("Parent = %s", got)
	}
}

func TestTooLarge(t *testing.T) {
	big := "schemaVersion: 2.2.0\n#" + strings.Repeat("x", MaxSize) + "\n"
	df, out := load(t, big)
	if df != nil || !strings.Contains(out, "over the 3145728-byte limit") {
		t.Errorf("LoadBytes(3 MB) = %v, diagnostics %q", df, out)
	}
}

func TestNeverPanics(t *testing.T) {
	for _, src := range []string{
		"", "null", "42", "schemaVersion: 2.2.0", "schemaVersion: [1]", "schemaVersion: 2.2.0\ncomponents: 7",
		"schemaVersion: 2.2.0\nparent: {}", "schemaVersion: 2.2.0\nparent:\n  uri: ../../../../etc/passwd",
		"schemaVersion: 2.2.0\ncomponents:\n  - name: p\n    plugin:\n      id: x",
		"\t\tbad", "schemaVersion: 2.2.0\n? [a]\n: b",
	} {
		df, out := load(t, src)
		if df != nil && strings.Contains(out, "error") {
			t.Errorf("LoadBytes(%q) returned a devfile with errors: %s", src, out)
		}
		if df == nil && out == "" {
			t.Errorf("LoadBytes(%q) = nil without a diagnostic", src)
		}
	}
}

func TestParentCycle(t *testing.T) {
	dir := t.TempDir()
	a := "schemaVersion: 2.2.0\nparent:\n  uri: b.yaml\ncomponents:\n  - name: x\n    container:\n      image: a\n"
	b := "schemaVersion: 2.2.0\nparent:\n  uri: a.yaml\n"
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	df, diags := Load("a.yaml", filepath.Join(dir, "a.yaml"), Options{ReadFile: os.ReadFile})
	if df != nil || !strings.Contains(diags[0].Summary, "cycle") {
		t.Errorf("Load(cycle) = %v, %v", df, diags)
	}
}

func TestRemoteParentWithFetcher(t *testing.T) {
	parent := "schemaVersion: 2.2.0\ncomponents:\n  - name: dev\n    container:\n      image: from-registry\n"
	var fetched []string
	src := "schemaVersion: 2.2.0\nmetadata:\n  name: x\nparent:\n  id: go\n  registryUrl: https://reg.example\n"
	df, diags := LoadBytes("d.yaml", t.TempDir(), []byte(src), Options{ReadFile: os.ReadFile,
		Fetch: func(u string) ([]byte, error) { fetched = append(fetched, u); return []byte(parent), nil }})
	if df == nil {
		t.Fatalf("LoadBytes: %v", diags)
	}
	if len(fetched) != 1 || fetched[0] != "https://reg.example/devfiles/go" {
		t.Errorf("fetched %v", fetched)
	}
	if got := df.Spec.Components[0].Container.Image; got != "from-registry" {
		t.Errorf("image = %q", got)
	}
}

func TestNoFileWrites(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p", "parent.yaml"), []byte("schemaVersion: 2.2.0\ncomponents:\n  - name: dev\n    container:\n      image: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p", "other.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := "schemaVersion: 2.2.0\nparent:\n  uri: p/parent.yaml\n"
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if df, diags := Load("devfile.yaml", filepath.Join(dir, "devfile.yaml"), Options{ReadFile: os.ReadFile}); df == nil {
		t.Fatal(diags)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("loading wrote files next to the devfile (the library copies parent dirs): %v", entries)
	}
}

// The devfile library joins some errors in map order; the diagnostics
// built from them must not change between runs (determinism).
func TestLibraryErrorsAreDeterministic(t *testing.T) {
	var src strings.Builder
	src.WriteString("schemaVersion: 2.2.0\nmetadata: {name: x}\ncomponents:\n")
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		fmt.Fprintf(&src, "  - name: %s\n    container:\n      image: busybox\n      volumeMounts:\n        - {name: missing-%s, path: /m}\n", n, n)
	}
	var first string
	for i := 0; i < 20; i++ {
		_, diags := LoadBytes("f.yaml", t.TempDir(), []byte(src.String()), Options{})
		var b strings.Builder
		require.NoError(t, diags.WriteText(&b))
		if i == 0 {
			first = b.String()
			assert.Equal(t, 5, strings.Count(first, "names no volume component"), first)
			continue
		}
		require.Equal(t, first, b.String(), "run %d differs", i)
	}
}
