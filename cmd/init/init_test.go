package init

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
)

// Every built-in template compiles with the real compiler, without errors,
// to a job that runs the template's image, and renders the same bytes twice.
func TestTemplatesCompile(t *testing.T) {
	for _, l := range languages {
		t.Run(l.Name, func(t *testing.T) {
			data, err := Render(l, "demo", "x")
			require.NoError(t, err)
			again, _ := Render(l, "demo", "x")
			assert.True(t, bytes.Equal(data, again), "deterministic")
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), data, 0o644))
			res, err := pipeline.CompileFile(dir, "", compiler.Options{})
			require.NoError(t, err)
			for _, d := range res.Diags {
				assert.NotEqual(t, "error", d.Severity.String(), "%s:\n%s", d.Summary, data)
			}
			require.NotNil(t, res.Plan, "%s", data)
			assert.Equal(t, "demo", res.Plan.Workspace)
			assert.Contains(t, string(res.YAML), "\n    name: "+l.Image+"\n")
			if l.Port != 0 {
				require.Len(t, res.Plan.Endpoints, 1)
				assert.Equal(t, l.Port, res.Plan.Endpoints[0].TargetPort)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	for files, want := range map[string]string{
		"go.mod":                  "go",
		"package.json":            "node",
		"requirements.txt":        "python",
		"pom.xml":                 "java-maven",
		"build.gradle.kts":        "java-gradle",
		"Cargo.toml":              "rust",
		"Gemfile":                 "ruby",
		"composer.json":           "php",
		"app.csproj":              "dotnet",
		"README.md":               "generic",
		"package.json,go.mod":     "go", // the first language in the list wins
		"pyproject.toml,setup.py": "python",
	} {
		dir := t.TempDir()
		for _, f := range splitComma(files) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
		}
		l, _ := detect(dir)
		assert.Equal(t, want, l.Name, files)
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestWorkspaceName(t *testing.T) {
	for in, want := range map[string]string{"My_App": "my-app", "--x--y--": "x-y", "": "workspace", "日本": "workspace"} {
		assert.Equal(t, want, workspaceName(in), in)
	}
}

func TestSetNameKeepsTheRest(t *testing.T) {
	out, err := setName([]byte("schemaVersion: 2.2.0\n# the stack\nmetadata:\n  name: go\n  version: 1.0.0\ncomponents: []\n"), "demo")
	require.NoError(t, err)
	assert.Equal(t, "schemaVersion: 2.2.0\n# the stack\nmetadata:\n  name: demo\n  version: 1.0.0\ncomponents: []\n", string(out))
	_, err = setName([]byte("- a list\n"), "demo")
	assert.Error(t, err)
}
