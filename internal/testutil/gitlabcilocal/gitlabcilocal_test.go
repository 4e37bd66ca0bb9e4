package gitlabcilocal

import (
	"context"
	"strings"
	"testing"
)

const good = `stages: [prepare, workspace]
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "api"
ws-agent:
  stage: prepare
  script: ["true"]
workspace:
  stage: workspace
  needs: [{job: ws-agent, artifacts: true}]
  environment: {name: workspaces/demo, action: start, on_stop: ws-stop}
  services:
    - name: postgres:16
      alias: db
      variables:
        POSTGRES_PASSWORD: pa$$word
  script: ["true"]
ws-stop:
  stage: workspace
  needs: []
  when: manual
  environment: {name: workspaces/demo, action: stop}
  script: ["true"]
`

// bad is refused by GitLab: services[].variables take plain strings only
// (gitlab-org/gitlab lib/gitlab/ci/config/entry/service.rb).
var bad = strings.Replace(good, "POSTGRES_PASSWORD: pa$$word", "POSTGRES_PASSWORD: {value: pa$word, expand: false}", 1)

func TestMergeRenamesJobsAndReferences(t *testing.T) {
	out, err := Merge([]Pipeline{{"a", []byte(good)}, {"b", []byte(good)}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"\np0-workspace:\n", "\np1-ws-stop:\n", "job: p1-ws-agent", "on_stop: p0-ws-stop", "stages:\n    - prepare\n    - workspace\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("Merge() has no %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "workflow:") != 1 {
		t.Errorf("Merge() should keep one workflow:\n%s", s)
	}
}

// TestJudge: gitlab-ci-local accepts a pipeline of the shape ws writes and
// refuses the same with {value, expand} under a service's variables, alone
// and inside a batch (the batch's failure is traced back to its member).
func TestJudge(t *testing.T) {
	bin := Bin(t)
	refused, err := Check(context.Background(), bin, t.TempDir(), []Pipeline{
		{"good1", []byte(good)}, {"bad", []byte(bad)}, {"good2", []byte(good)},
	}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 1 || !strings.Contains(refused["bad"], "variables") {
		t.Fatalf("Check() refused %v, want only \"bad\" (services variables)", refused)
	}
}
