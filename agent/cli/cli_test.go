package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(vars map[string]string) (Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return Env{Getenv: func(k string) string { return vars[k] }, Stdin: strings.NewReader(""),
		Stdout: &out, Stderr: &errOut, Self: []string{"ws-agent"}, Version: "test"}, &out, &errOut
}

// The agent's command line: its exit codes and messages a job log shows.
func TestMainErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		code int
		want string
	}{
		{"no plan", []string{"agent"}, nil, ExitError, "ws-agent: no workspace plan: $WS_PLAN is empty\nhint: "},
		{"bad flag", []string{"--bogus"}, nil, ExitUsage, "flag provided but not defined: -bogus"},
		{"extra argument", []string{"agent", "now"}, nil, ExitUsage, `unexpected argument "now"`},
		{"bad idle timeout", []string{"--idle-timeout", "soon"}, map[string]string{"WS_PLAN": `{"version":1,"workspace":"w"}`}, ExitUsage, `invalid idle timeout "soon"`},
		{"no job token", nil, map[string]string{"WS_PLAN": `{"version":1,"workspace":"w","gateway":"https://gw"}`}, ExitError, "CI_JOB_TOKEN is not set"},
		{"unknown hook", []string{"--hook", "later"}, map[string]string{"WS_PLAN": `{"version":1,"workspace":"w"}`, "WS_AGENT_LOG": filepath.Join(t.TempDir(), "log")}, ExitError, `unknown hook "later"`},
		{"inject outside a job", []string{"inject"}, nil, ExitError, "CI_BUILDS_DIR or CI_JOB_ID is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, errOut := env(tc.vars)
			if code := Main(context.Background(), tc.args, e); code != tc.code {
				t.Errorf("Main(%q) = %d, want %d; stderr:\n%s", tc.args, code, tc.code, errOut)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errOut, tc.want)
			}
		})
	}
}

// Config takes the job's clock, the preStop record and the sentinel from
// the environment.
func TestConfigFromTheJob(t *testing.T) {
	dir := t.TempDir()
	e, _, _ := env(map[string]string{"CI_JOB_TOKEN": "t", "CI_PROJECT_DIR": dir, "CI_JOB_ID": "77",
		"CI_JOB_STARTED_AT": "2026-01-01T09:00:00Z", "CI_JOB_TIMEOUT": "3600", "WS_AGENT_SENTINEL": "1"})
	p, err := loadPlan(options{}, func(k string) string { return `{"version":1,"workspace":"w","stopMargin":"10m"}` })
	if err != nil {
		t.Fatal(err)
	}
	c, err := Config(p, options{}, e)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Deadline.UTC().Format("15:04"); got != "09:50" {
		t.Errorf("deadline %s, want 09:50 (start + 1h - 10m)", got)
	}
	if want := filepath.Join(dir, ".ws", "run", "prestop-77"); c.StopClaim != want {
		t.Errorf("StopClaim %q, want %q", c.StopClaim, want)
	}
	if c.Cgroup != "ws-job-77" || strings.Join(c.Sentinel, " ") != "ws-agent sentinel" || !c.ReapOrphans {
		t.Errorf("cgroup %q, sentinel %q, reap %v", c.Cgroup, c.Sentinel, c.ReapOrphans)
	}
	// Local workspaces have no job id: the record is keyed by the job token.
	e2, _, _ := env(map[string]string{"CI_JOB_TOKEN": "secret", "CI_PROJECT_DIR": dir})
	c2, _ := Config(p, options{}, e2)
	if c2.StopClaim == "" || strings.Contains(c2.StopClaim, "secret") || len(c2.Sentinel) != 0 {
		t.Errorf("local: StopClaim %q (must not contain the token), sentinel %q", c2.StopClaim, c2.Sentinel)
	}
	_ = os.Remove(dir)
}
