package runnertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
)

// The runner's clocks (gitlab-runner common/build.go): the job's context
// has the job timeout as its deadline from the job's start (GitLab's
// started_at, CI_JOB_STARTED_AT); RUNNER_SCRIPT_TIMEOUT makes a context for
// the script stage only, created when that stage starts (after the image
// pulls and the clone), and a value longer than the time the job has left
// is clamped to the job's deadline with only a warning
// (getStageTimeoutContexts). after_script gets RUNNER_AFTER_SCRIPT_TIMEOUT
// (default 5 min, common/consts.go), again within the job's deadline, and
// does not run at all once the job's deadline passed.
const afterScriptTimeout = 5 * time.Minute

// compiled compiles a devfile with job timeout t and returns what the job
// carries: RUNNER_SCRIPT_TIMEOUT and the plan's stop margin.
func compiled(t *testing.T, timeout string) (script, margin time.Duration) {
	t.Helper()
	dir := t.TempDir()
	df := "schemaVersion: 2.2.0\nmetadata: {name: demo}\ncomponents:\n  - name: dev\n    container: {image: golang:1.26}\n"
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.CompileFile(dir, "", compiler.Options{Timeout: timeout})
	if err != nil || res.YAML == nil {
		t.Fatalf("compile: %v %v", err, res)
	}
	for _, l := range strings.Split(string(res.YAML), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "RUNNER_SCRIPT_TIMEOUT: "); ok {
			script, err = time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	margin, err = time.ParseDuration(res.Plan.StopMargin)
	if err != nil || script == 0 {
		t.Fatalf("no RUNNER_SCRIPT_TIMEOUT (%v) or stopMargin %q", script, res.Plan.StopMargin)
	}
	return script, margin
}

// TestTimeLimitLeavesAfterScriptItsTime: whatever the pull and clone took,
// the agent's own stop (job clock) comes before the script timeout (stage
// clock, clamped to the job's deadline) and leaves after_script and the
// uploads the margin before the job's deadline; RUNNER_SCRIPT_TIMEOUT alone
// (the old design) does not, once the pull takes longer than its margin.
func TestTimeLimitLeavesAfterScriptItsTime(t *testing.T) {
	job := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC) // CI_JOB_STARTED_AT
	for _, timeout := range []string{"10m", "30m", "1h", "2h", "8h"} {
		limit, _ := time.ParseDuration(timeout)
		script, margin := compiled(t, timeout)
		deadline := job.Add(limit)
		for _, pull := range []time.Duration{0, time.Minute, 5 * time.Minute, 9 * time.Minute, 20 * time.Minute} {
			if pull >= limit/2 {
				continue
			}
			scriptStart := job.Add(pull)
			stageEnd := scriptStart.Add(script) // RUNNER_SCRIPT_TIMEOUT's context
			if stageEnd.After(deadline) {
				stageEnd = deadline // clamped, with a warning
			}
			stop, ok := agent.JobDeadline(job.Format(time.RFC3339), strconv.Itoa(int(limit.Seconds())), margin)
			if !ok {
				t.Fatal("JobDeadline: not ok")
			}
			name := fmt.Sprintf("timeout %s, pull+clone %s", timeout, pull)
			if !stop.Before(stageEnd) {
				t.Errorf("%s: the agent stops at %s, not before the script timeout at %s", name, stop.Format(time.TimeOnly), stageEnd.Format(time.TimeOnly))
			}
			if pull >= limit-script && !stageEnd.Equal(deadline) {
				t.Errorf("%s: the runner should clamp the script timeout to the job's deadline (no time for after_script without the agent's own stop)", name)
			}
			if left := deadline.Sub(stop); left < min(afterScriptTimeout, 2*time.Minute) || left != margin {
				t.Errorf("%s: %s left for after_script and uploads, want the margin %s (at least 2m)", name, left, margin)
			}
		}
	}
}

// TestAgentStopsCleanlyAtItsDeadline: when the job's time is up (by its own
// clock: CI_JOB_STARTED_AT + CI_JOB_TIMEOUT - stopMargin) the real agent
// runs preStop, ends its processes and exits 0, so the job succeeds.
func TestAgentStopsCleanlyAtItsDeadline(t *testing.T) {
	dir := t.TempDir()
	p := serverPlan(dir)
	p.StopMargin = "2m"
	// The job started long enough ago that its deadline is now.
	started := time.Now().Add(-10*time.Minute + 2*time.Minute).UTC().Format(time.RFC3339)
	e := env(t, dir, p, "CI_JOB_STARTED_AT="+started, "CI_JOB_TIMEOUT=600")
	j := start(t, dir, e, nil, "/bin/sh", "-c", `"$WS_BIN" agent; echo "agent exit $?"`)
	if err, ok := j.wait(time.Minute); !ok || err != nil {
		t.Fatalf("job: %v (ended %v)\n%s", err, ok, j.log())
	}
	log := j.log()
	for _, want := range []string{"reached its time limit", "running preStop", "agent stopped (deadline)", "agent exit 0"} {
		if !strings.Contains(log, want) {
			t.Errorf("job log lacks %q:\n%s", want, log)
		}
	}
}

// TestNoDeadlineWithoutTheJobsClock: without CI_JOB_STARTED_AT (GitLab or
// runner before 15.7) the agent has no deadline of its own; the compiled
// RUNNER_SCRIPT_TIMEOUT is then the only stop before the cap.
func TestNoDeadlineWithoutTheJobsClock(t *testing.T) {
	if _, ok := agent.JobDeadline("", "3600", time.Minute); ok {
		t.Error("JobDeadline without CI_JOB_STARTED_AT: ok")
	}
	if _, ok := agent.JobDeadline("2026-01-01T09:00:00Z", "", time.Minute); ok {
		t.Error("JobDeadline without CI_JOB_TIMEOUT: ok")
	}
	d, ok := agent.JobDeadline("2026-01-01T09:00:00Z", "7200", 10*time.Minute)
	if want := time.Date(2026, 1, 1, 10, 50, 0, 0, time.UTC); !ok || !d.Equal(want) {
		t.Errorf("JobDeadline = %s, %v; want %s", d, ok, want)
	}
}
