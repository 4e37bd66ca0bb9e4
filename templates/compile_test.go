package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/root"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

// TestExampleCompilesToChildPipeline runs what the component's compile job
// runs, on the example's devfile, and checks the result as the child
// pipeline GitLab would create from it.
func TestExampleCompilesToChildPipeline(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ws-workspace.gitlab-ci.yml")
	ios, _, _, errOut := cmdutil.Test()
	f := cmdutil.New()
	f.IO = ios
	f.Getenv = func(string) string { return "" }
	devfile := filepath.Join(testutil.RepoRoot(), "examples", "ci-template", "devfile.yaml")
	if code := root.Run(f, []string{"compile", devfile, "--name", "review-1", "--tag", "ws", "--gateway", "https://ws.example.com", "-o", out}); code != 0 {
		t.Fatalf("ws compile exited %d:\n%s", code, errOut)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cischema.Validate(t, data)

	var p struct {
		Workflow struct {
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"workflow"`
	}
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Workflow.Rules) == 0 {
		return // no workflow rules: every source runs
	}
	for _, r := range p.Workflow.Rules {
		cond, hasIf := r["if"].(string)
		if r["when"] == "never" {
			continue
		}
		if !hasIf || strings.Contains(cond, `"parent_pipeline"`) {
			return
		}
	}
	// A child pipeline's source is parent_pipeline: rules that admit only
	// api and web filter every job out, and GitLab refuses the empty child.
	t.Errorf("workflow:rules %v do not admit $CI_PIPELINE_SOURCE == \"parent_pipeline\", "+
		"so templates/workspace.yml's child pipeline would be filtered out", p.Workflow.Rules)
}
