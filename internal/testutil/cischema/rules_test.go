package cischema

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-dev/ws/internal/testutil"
)

// base is the shape ws generates; each case below breaks one rule of
// GitLab's Ruby validators that ci.json does not express, and the schema
// alone accepts it (checked first), so Rules is what catches it.
const base = `stages: [prepare, workspace]
ws-agent:
  stage: prepare
  script: ["true"]
  artifacts: {paths: [.ws/bin/ws], expire_in: 1 week}
workspace:
  stage: workspace
  timeout: 1h 30m
  needs: [{job: ws-agent, artifacts: true}]
  environment: {name: workspaces/demo, action: start, on_stop: ws-stop, auto_stop_in: 2h, url: "https://ws.example.com/terminal/$CI_PROJECT_ID/-/demo"}
  cache: [{key: ws-demo, paths: [.ws/volumes/], when: always}]
  services:
    - name: postgres:16
      variables: {POSTGRES_PASSWORD: pa$$word, PORT: 5432}
  script: ["true"]
ws-stop:
  stage: workspace
  needs: []
  when: manual
  environment: {name: workspaces/demo, action: stop}
  script: ["true"]
`

func TestRules(t *testing.T) {
	schema := filepath.Join(testutil.SharedDir(t), SchemaRel)
	if err := CheckGitLab(schema, []byte(base)); err != nil {
		t.Fatalf("the base pipeline breaks a rule: %v", err)
	}
	for _, c := range []struct {
		name, old, new, want string
	}{
		// lib/gitlab/ci/config/entry/service.rb declares `entry :variables`
		// without `metadata: { allowed_value_data: ... }` (jobs get
		// %i[value expand] in entry/processable.rb), so entry/variable.rb's
		// ComplexVariable adds "must be a string".
		{"service variable with expand", "POSTGRES_PASSWORD: pa$$word", "POSTGRES_PASSWORD: {value: pa$word, expand: false}", "/workspace/services/0/variables/POSTGRES_PASSWORD: service variable POSTGRES_PASSWORD must be a string"},
		// entry/timeout.rb: duration: { limit: ChronicDuration.output(Project::MAX_BUILD_TIMEOUT) }.
		{"timeout over a month", "timeout: 1h 30m", "timeout: 31 days", "exceeds the limit of 1 month"},
		{"timeout not a duration", "timeout: 1h 30m", "timeout: soon", "is not a duration"},
		// yaml_processor.rb validate_job_dependency!.
		{"need in a later stage", "stage: prepare\n  script", "stage: prepare\n  needs: [workspace]\n  script", "need workspace is not defined in current or prior stages"},
		{"undefined need", "needs: [{job: ws-agent", "needs: [{job: ws-agentt", "undefined need: ws-agentt"},
		// yaml_processor.rb validate_on_stop_job!.
		{"on_stop undefined", "on_stop: ws-stop", "on_stop: ws-stopp", "on_stop job ws-stopp is not defined"},
		{"on_stop other environment", "{name: workspaces/demo, action: stop}", "{name: workspaces/other, action: stop}", "have different environment name"},
		{"on_stop not stop", "{name: workspaces/demo, action: stop}", "{name: workspaces/demo}", "needs to have action stop defined"},
		// entry/environment.rb: name format (Gitlab::Regex.environment_name_regex), url length.
		{"environment name", "name: workspaces/demo, action: start", "name: workspaces/demo!, action: start", "environment name"},
		{"environment url too long", "url: \"https://ws.example.com/", "url: \"https://ws.example.com/" + strings.Repeat("x", 250), "environment url is longer than 255"},
		// yaml_processor.rb validate_job_stage!.
		{"unknown stage", "stage: prepare", "stage: prepar", "chosen stage prepar does not exist"},
		// entry/processable.rb: name length maximum 255.
		{"long job name", "ws-stop:\n", strings.Repeat("s", 256) + ":\n", "job name is longer than 255"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(base, c.old, c.new, 1)
			if doc == base {
				t.Fatalf("case does not change the base pipeline")
			}
			if err := Check(schema, []byte(doc)); err != nil {
				t.Fatalf("the schema already refuses it (then it needs no rule): %v", err)
			}
			inst, err := Decode([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range Rules(inst) {
				got = append(got, v.String())
			}
			if !strings.Contains(strings.Join(got, "\n"), c.want) {
				t.Errorf("Rules() = %q, want one containing %q", got, c.want)
			}
		})
	}
}
