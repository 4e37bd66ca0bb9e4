package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

// TestExampleProject validates examples/ci-template/.gitlab-ci.yml, then
// resolves its include of the workspace component the way GitLab would
// (interpolate the inputs, merge the jobs) and validates the merged pipeline.
func TestExampleProject(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(), "examples", "ci-template")
	data, err := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cischema.Validate(t, data)

	var project map[string]any
	if err := yaml.Unmarshal(data, &project); err != nil {
		t.Fatal(err)
	}
	includes, _ := project["include"].([]any)
	var inputs map[string]any
	found := 0
	for _, inc := range includes {
		m, _ := inc.(map[string]any)
		comp, _ := m["component"].(string)
		if strings.HasSuffix(strings.SplitN(comp, "@", 2)[0], "/ws/workspace") {
			found++
			inputs, _ = m["inputs"].(map[string]any)
		}
	}
	if found != 1 {
		t.Fatalf("example includes the workspace component %d times, want 1", found)
	}

	c := workspaceComponent(t)
	var jobs map[string]any
	if err := yaml.Unmarshal(c.Render(t, inputs), &jobs); err != nil {
		t.Fatal(err)
	}
	merged := map[string]any{}
	for k, v := range project {
		if k != "include" {
			merged[k] = v
		}
	}
	stages := map[string]bool{}
	for _, s := range project["stages"].([]any) {
		stages[s.(string)] = true
	}
	for name, job := range jobs {
		if _, dup := merged[name]; dup {
			t.Errorf("component job %q clashes with a job of the example", name)
		}
		merged[name] = job
		if m, ok := job.(map[string]any); ok && !strings.HasPrefix(name, ".") {
			if st, _ := m["stage"].(string); !stages[st] {
				t.Errorf("job %s uses stage %q, which the example's stages %v lack", name, st, project["stages"])
			}
		}
	}
	out, err := yaml.Marshal(merged)
	if err != nil {
		t.Fatal(err)
	}
	cischema.Validate(t, out)

	if inputs["devfile"] != nil {
		if _, err := os.Stat(filepath.Join(dir, inputs["devfile"].(string))); err != nil {
			t.Errorf("the example's devfile input: %v", err)
		}
	}
}
