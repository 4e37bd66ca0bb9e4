package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/config"
	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
)

const devfile = `schemaVersion: 2.2.0
metadata:
  name: demo
attributes:
  ws/tags: [ws, docker]
components:
  - name: dev
    container:
      image: golang:1.23
`

type result struct {
	code   int
	out    string
	err    string
	report Report
}

// healthy is a gateway that answers /healthz like 'ws gateway serve'.
func healthy(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			t.Errorf("gateway: unexpected request %s", r.URL.Path)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// run runs 'ws doctor args...' against srv with env; files are written
// to the working directory first. It also runs --output json and checks
// that both agree on the outcome.
func run(t *testing.T, srv *fg.Server, env map[string]string, files map[string]string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	if srv != nil {
		env["GITLAB_HOST"] = srv.URL
		if _, ok := env["GITLAB_TOKEN"]; !ok {
			env["GITLAB_TOKEN"] = fg.Token
		}
	}
	var res result
	for i, extra := range [][]string{nil, {"--output", "json"}} {
		ios, _, out, errOut := cmdutil.Test()
		f := &cmdutil.Factory{IO: ios, Getenv: func(k string) string { return env[k] },
			Now:     func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
			WorkDir: func() (string, error) { return dir, nil },
			Sleep:   func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
		f.Config = func() (config.Settings, error) { return config.Resolve(config.Flags{}, f.Getenv) }
		f.GitLab = func(debug bool) (*gitlab.Client, error) { return cmdutil.NewGitLab(f, debug) }
		cmd := NewCmdDoctor(f, nil)
		cmd.SetArgs(append(append([]string{}, args...), extra...))
		cmd.SetOut(out)
		cmd.SetErr(errOut)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		code := 0
		var ee *cmdutil.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.Code
		case errors.Is(err, cmdutil.ErrSilent):
			code = 1
		default:
			t.Fatalf("ws doctor %s: unexpected error %v", strings.Join(args, " "), err)
		}
		assert.NotContains(t, out.String()+errOut.String(), fg.Token, "the token must never be printed")
		if i == 0 {
			res = result{code: code, out: out.String(), err: errOut.String()}
			continue
		}
		assert.Equal(t, res.code, code, "exit code with --output json")
		require.NoError(t, json.Unmarshal(out.Bytes(), &res.report), "json output:\n%s", out)
		assert.Equal(t, code == 0, res.report.OK, "ok in the JSON report")
	}
	return res
}

// check returns the named check of r's JSON report.
func (r result) check(t *testing.T, name string) Check {
	t.Helper()
	for _, c := range r.report.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, r.report.Checks)
	return Check{}
}

func names(r Report) []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name+"="+c.Status)
	}
	return out
}

func okDoctor() *fg.Doctor {
	return &fg.Doctor{Version: "18.2.1-ee", Scopes: []string{"api"}, ExpiresAt: "2026-12-31", Access: 30,
		VariablesRole: "no_one_allowed", Tags: []string{"ws", "docker"}, Runners: []string{"docker-1"},
		Protected: []any{fg.ProtectedBranch("main", false, 40)}}
}

func start(t *testing.T, d *fg.Doctor, times int) *fg.Server {
	t.Helper()
	srv := fg.Start(t)
	for range times {
		d.Install(srv) // once per output format
	}
	return srv
}

func TestAllPass(t *testing.T) {
	d := okDoctor()
	srv := start(t, d, 2)
	gw := healthy(t, 200)
	r := run(t, srv, map[string]string{"WS_GATEWAY_URL": gw}, map[string]string{".devfile.yaml": devfile}, "-R", "g/p")
	assert.Equal(t, 0, r.code)
	want := `ok   gitlab: GitLab 18.2.1-ee at HOST (from GITLAB_HOST)
ok   token: logged in as ada; token "laptop" from GITLAB_TOKEN; scopes api; expires 2026-12-31
ok   project: g/p: you are Developer; ws/demo is not protected
ok   pipeline-variables: pipeline variables are disabled (no_one_allowed); ws does not need them: it writes every value into the committed job
ok   runners: 1 online runner(s) with tags ws, docker (devfile .devfile.yaml): docker-1
ok   gateway: gateway GW is healthy (from WS_GATEWAY_URL)
ok   agent: --agent-source artifact (devfile .devfile.yaml) needs a runner that runs images (docker or kubernetes executor); GitLab does not show a runner's executor through its API, so ws cannot verify it
ok   runner-flags: not checked whether FF_KUBERNETES_HONOR_ENTRYPOINT, FF_SUSPENDABLE_ENVIRONMENTS, FF_USE_NATIVE_CONTAINER_STOP is on: reading the project's CI/CD variables needs Maintainer; flags in a runner's config.toml ([runners.feature_flags]) are not visible through GitLab's API: 'ws runner config' turns these off
all checks passed
`
	got := strings.ReplaceAll(strings.ReplaceAll(r.out, srv.URL, "HOST"), gw, "GW")
	assert.Equal(t, want, got)
	assert.Empty(t, r.err)
	assert.True(t, r.report.OK)
	assert.Equal(t, []string{"gitlab=pass", "token=pass", "project=pass", "pipeline-variables=pass", "runners=pass", "gateway=pass", "agent=pass", "runner-flags=pass"}, names(r.report))
	for _, c := range r.report.Checks {
		assert.Empty(t, c.Fix, c.Name)
	}
}

func TestTTYMarks(t *testing.T) {
	ios, _, out, _ := cmdutil.Test()
	ios.SetTTY(false, true, false)
	writeText(ios, Report{Checks: []Check{
		{Name: "a", Status: StatusPass, Message: "m1"},
		{Name: "b", Status: StatusWarn, Message: "m2", Fix: "do x"},
		{Name: "c", Status: StatusFail, Message: "m3", Fix: "do y"},
		{Name: "d", Status: StatusSkip, Message: "not checked"},
	}})
	assert.Equal(t, "✓ a: m1\n! b: m2\n  do x\n✗ c: m3\n  do y\n- d: not checked\n1 failed, 1 warning(s)\n", out.String())
}

func TestGitLabUnreachable(t *testing.T) {
	srv := fg.New()
	srv.Close() // nothing listens there any more
	r := run(t, srv, map[string]string{}, nil, "-R", "g/p", "--gateway", healthy(t, 200))
	assert.Equal(t, 1, r.code)
	c := r.check(t, CheckGitLab)
	assert.Equal(t, StatusFail, c.Status)
	assert.Contains(t, c.Message, "cannot reach GitLab at "+srv.URL)
	assert.Equal(t, "check your network and GITLAB_HOST", c.Fix)
	assert.Equal(t, []string{"gitlab=fail", "token=skip", "project=skip", "pipeline-variables=skip", "runners=skip", "gateway=pass", "agent=pass", "runner-flags=skip"}, names(r.report))
	assert.Contains(t, r.out, "fail gitlab: ")
	assert.Contains(t, r.out, "skip token: not checked: GitLab is not reachable\n")
}

func TestNotGitLab(t *testing.T) {
	srv := start(t, &fg.Doctor{Stop: "version"}, 2)
	r := run(t, srv, map[string]string{}, nil, "-R", "g/p")
	assert.Equal(t, 1, r.code)
	c := r.check(t, CheckGitLab)
	assert.Equal(t, StatusFail, c.Status)
	assert.Contains(t, c.Message, "does not look like GitLab: GET /api/v4/version answered 404")
}

func TestNoTokenExits4(t *testing.T) {
	srv := start(t, &fg.Doctor{Version: "18.2.1", Stop: "version"}, 2)
	r := run(t, srv, map[string]string{"GITLAB_TOKEN": ""}, nil, "-R", "g/p")
	assert.Equal(t, 4, r.code)
	assert.Equal(t, StatusPass, r.check(t, CheckGitLab).Status)
	assert.Contains(t, r.check(t, CheckGitLab).Message, "it shows its version only to a valid token")
	c := r.check(t, CheckToken)
	assert.Equal(t, StatusFail, c.Status)
	assert.Equal(t, "no GitLab token for "+srv.URL, c.Message)
	assert.Contains(t, c.Fix, "export GITLAB_TOKEN=<token>")
	assert.Equal(t, StatusSkip, r.check(t, CheckProject).Status)
}

func TestTokenRejectedExits4(t *testing.T) {
	srv := start(t, &fg.Doctor{Version: "18.2.1", UserStatus: 401}, 2)
	r := run(t, srv, map[string]string{"GITLAB_TOKEN": "glpat-wrong-secret"}, nil, "-R", "g/p")
	assert.Equal(t, 4, r.code)
	c := r.check(t, CheckToken)
	assert.Equal(t, StatusFail, c.Status)
	assert.Equal(t, "GitLab rejected the token from GITLAB_TOKEN: 401 Unauthorized", c.Message)
	assert.Contains(t, c.Fix, "the token comes from GITLAB_TOKEN")
	assert.NotContains(t, r.out, "glpat-wrong-secret")
	assert.Equal(t, StatusSkip, r.check(t, CheckProject).Status)
}

func TestTokenWithoutAPIScopeExits4(t *testing.T) {
	d := &fg.Doctor{Version: "18.2.1", Scopes: []string{"read_api", "write_repository"}, Access: 30, Stop: "protected"}
	srv := start(t, d, 2)
	r := run(t, srv, map[string]string{}, nil, "-R", "g/p")
	// The other checks still run: reading works with read_api.
	assert.Equal(t, StatusPass, r.check(t, CheckProject).Status)
	assert.Equal(t, 4, r.code)
	c := r.check(t, CheckToken)
	assert.Equal(t, StatusFail, c.Status)
	assert.Equal(t, `logged in as ada; token "laptop" from GITLAB_TOKEN lacks the api scope (has read_api, write_repository)`, c.Message)
}

func TestTokenExpiringSoonWarns(t *testing.T) {
	d := okDoctor()
	d.ExpiresAt = "2026-03-04" // "now" is 2026-03-01
	srv := start(t, d, 2)
	r := run(t, srv, map[string]string{"WS_GATEWAY_URL": healthy(t, 200)}, nil, "-R", "g/p", "--tag", "ws", "--tag", "docker")
	assert.Equal(t, 0, r.code)
	c := r.check(t, CheckToken)
	assert.Equal(t, StatusWarn, c.Status)
	assert.Contains(t, c.Fix, "expires within a week")
}

func TestProjectNotFound(t *testing.T) {
	srv := start(t, &fg.Doctor{Version: "18.2.1", Scopes: []string{"api"}, ProjectStatus: 404}, 2)
	r := run(t, srv, map[string]string{}, nil, "-R", "g/p", "--tag", "ws")
	assert.Equal(t, 1, r.code)
	c := r.check(t, CheckProject)
	assert.Equal(t, StatusFail, c.Status)
	assert.Equal(t, "project g/p not found on "+srv.URL, c.Message)
	assert.Contains(t, c.Fix, "check -R")
	assert.Equal(t, StatusSkip, r.check(t, CheckVariables).Status)
	assert.Equal(t, StatusSkip, r.check(t, CheckRunners).Status)
}

func TestNoProjectOutsideARepository(t *testing.T) {
	srv := start(t, &fg.Doctor{Version: "18.2.1", Scopes: []string{"api"}, Stop: "user"}, 2)
	r := run(t, srv, map[string]string{}, nil)
	assert.Equal(t, 1, r.code)
	c := r.check(t, CheckProject)
	assert.Equal(t, StatusFail, c.Status)
	assert.Equal(t, "no GitLab project: not in a git repository", c.Message)
	assert.Equal(t, "pass -R group/name, or run ws inside a clone of the project", c.Fix)
}

func TestReporterCannotPush(t *testing.T) {
	d := &fg.Doctor{Version: "18.2.1", Scopes: []string{"api"}, Access: 20, Stop: "project"}
	srv := start(t, d, 2)
	r := run(t, srv, map[string]string{}, nil, "-R", "g/p")
	assert.Equal(t, 1, r.code)
	c := r.check(t, CheckProject)
	assert.Equal(t, StatusFail, c.Status)
	assert.Equal(t, "g/p: you are Reporter; pushing ws/* branches needs Developer", c.Message)
	assert.Equal(t, "ask a Maintainer of g/p for the Developer role (Manage > Members)", c.Fix)
}

func TestInheritedRoleFromMembersAPI(t *testing.T) {
	d := &fg.Doctor{Version: "18.2.1", Scopes: []string{"api"}, MemberAccess: 40, Stop: "protected"}
	srv := start(t, d, 2)
	r := run(t, srv, map[string]string{}, nil, "-R", "g/p")
	c := r.check(t, CheckProject)
	assert.Equal(t, StatusPass, c.Status)
	assert.Equal(t, "g/p: you are Maintainer; ws/* is not protected", c.Message)
	// No devfile and no --tag: no tags, so no runners request.
	assert.Equal(t, StatusWarn, r.check(t, CheckRunners).Status)
	assert.Contains(t, r.check(t, CheckRunners).Message, "no runner tags (default; no devfile in the current directory)")
	assert.Equal(t, "the pipeline variables setting is shown to Maintainers only; ws does not need them: it writes every value into the committed job",
		r.check(t, CheckVariables).Message)
}

func TestProtectedWorkspaceBranches(t *testing.T) {
	cases := []struct {
		name   string
		rules  []any
		admin  bool
		status string
		msg    string
	}{
		{"maintainers only", []any{fg.ProtectedBranch("ws/*", true, 40)}, false, StatusFail,
			`g/p: you are Developer; ws/demo is protected by "ws/*" (push: Maintainers), which does not let you push`},
		{"star, no one", []any{fg.ProtectedBranch("*", true, 0)}, false, StatusFail,
			`g/p: you are Developer; ws/demo is protected by "*" (push: No one), which does not let you push`},
		{"developers but no force push", []any{fg.ProtectedBranch("ws/*", false, 30)}, false, StatusWarn,
			`g/p: you are Developer; ws/demo is protected and you may push, but "ws/*" forbids force push, which 'ws up' uses to rewrite the branch`},
		{"developers with force push", []any{fg.ProtectedBranch("ws/*", true, 30)}, false, StatusPass,
			`g/p: you are Developer; ws/demo is protected by "ws/*" (push: Developers), which lets you push and force push`},
		{"most permissive rule wins", []any{fg.ProtectedBranch("*", true, 40), fg.ProtectedBranch("ws/demo", true, 30)}, false, StatusPass,
			`g/p: you are Developer; ws/demo is protected by "*" (push: Maintainers), "ws/demo" (push: Developers), which lets you push and force push`},
		{"other workspace and other branches", []any{fg.ProtectedBranch("ws/other", false, 0), fg.ProtectedBranch("main", false, 40)}, false, StatusPass,
			`g/p: you are Developer; ws/demo is not protected`},
		{"administrator", []any{fg.ProtectedBranch("ws/*", true, 60)}, true, StatusPass,
			`g/p: you are Administrator; ws/demo is protected by "ws/*" (push: Administrators), which lets you push and force push`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &fg.Doctor{Version: "18.2.1", Scopes: []string{"api"}, Access: 30, Admin: tc.admin, Protected: tc.rules, Stop: "protected"}
			srv := start(t, d, 2)
			r := run(t, srv, map[string]string{}, map[string]string{"devfile.yaml": "schemaVersion: 2.2.0\nmetadata: {name: demo}\ncomponents: [{name: dev, container: {image: alpine}}]\n"}, "-R", "g/p")
			c := r.check(t, CheckProject)
			assert.Equal(t, tc.status, c.Status)
			assert.Equal(t, tc.msg, c.Message)
			if tc.status == StatusFail {
				assert.Equal(t, 1, r.code)
				assert.Contains(t, c.Fix, "Settings > Repository > Protected branches")
			} else {
				assert.Equal(t, tc.status != StatusPass, c.Fix != "", "fix")
			}
		})
	}
}

func TestProtectedBranchesHiddenWarns(t *testing.T) {
	d := &fg.Doctor{Version: "18.2.1", Scopes: []string{"api"}, Access: 30, ProtectedStatus: 403, Stop: "protected"}
	srv := start(t, d, 2)
	r := run(t, srv, map[string]string{}, nil, "-R", "g/p")
	c := r.check(t, CheckProject)
	assert.Equal(t, StatusWarn, c.Status)
	assert.Equal(t, "g/p: you are Developer; cannot check whether ws/* is protected (listing protected branches needs Maintainer)", c.Message)
}

func TestRunners(t *testing.T) {
	t.Run("none online fails", func(t *testing.T) {
		d := okDoctor()
		d.Tags, d.Runners = []string{"gpu"}, nil
		srv := start(t, d, 2)
		r := run(t, srv, map[string]string{}, map[string]string{".devfile.yaml": devfile}, "-R", "g/p", "--tag", "gpu")
		assert.Equal(t, 1, r.code)
		c := r.check(t, CheckRunners)
		assert.Equal(t, StatusFail, c.Status)
		assert.Equal(t, "no online runner of g/p has the tags gpu (--tag); the workspace job would stay pending", c.Message)
		assert.Contains(t, c.Fix, "'ws runner config --tag gpu'")
	})
	t.Run("403 cannot check", func(t *testing.T) {
		d := okDoctor()
		d.RunnersStatus = 403
		srv := start(t, d, 2)
		r := run(t, srv, map[string]string{}, map[string]string{".devfile.yaml": devfile}, "-R", "g/p")
		assert.Equal(t, 0, r.code)
		c := r.check(t, CheckRunners)
		assert.Equal(t, StatusWarn, c.Status)
		assert.Equal(t, "cannot check for runners with tags ws, docker (devfile .devfile.yaml): listing a project's runners needs Maintainer", c.Message)
	})
}

func TestGateway(t *testing.T) {
	gitlabOK := func(t *testing.T) *fg.Server {
		d := okDoctor()
		d.Tags = []string{"ws"}
		return start(t, d, 2)
	}
	t.Run("not configured warns", func(t *testing.T) {
		r := run(t, gitlabOK(t), map[string]string{}, nil, "-R", "g/p", "--tag", "ws")
		assert.Equal(t, 0, r.code)
		c := r.check(t, CheckGateway)
		assert.Equal(t, StatusWarn, c.Status)
		assert.Contains(t, c.Fix, "docs/gateway.md")
	})
	t.Run("unhealthy fails", func(t *testing.T) {
		gw := healthy(t, 503)
		r := run(t, gitlabOK(t), map[string]string{}, nil, "-R", "g/p", "--tag", "ws", "--gateway", gw+"/")
		assert.Equal(t, 1, r.code)
		c := r.check(t, CheckGateway)
		assert.Equal(t, StatusFail, c.Status)
		assert.Equal(t, "the gateway at "+gw+"/healthz answered 503 Service Unavailable", c.Message)
		assert.Contains(t, c.Fix, "from --gateway flag")
	})
	t.Run("unreachable fails", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		r := run(t, gitlabOK(t), map[string]string{"WS_GATEWAY_URL": dead.URL}, nil, "-R", "g/p", "--tag", "ws")
		assert.Equal(t, 1, r.code)
		c := r.check(t, CheckGateway)
		assert.Equal(t, StatusFail, c.Status)
		assert.Contains(t, c.Message, "cannot reach the gateway at "+dead.URL+"/healthz: ")
		assert.Contains(t, c.Fix, "from WS_GATEWAY_URL")
	})
}

func TestAgentDelivery(t *testing.T) {
	local := strings.Replace(devfile, "ws/tags: [ws, docker]", "ws/tags: [ws, docker]\n  ws/agent-source: local", 1)
	cases := []struct {
		name    string
		tags    []string
		runners []string
		file    string
		args    []string
		status  string
		msg     string
	}{
		{"artifact on a shell runner", []string{"ws"}, []string{"shell runner on build-1"}, "", []string{"--tag", "ws"}, StatusWarn,
			"--agent-source artifact (default) needs a runner that runs images (docker or kubernetes executor), but the runner's tags or description name a shell executor"},
		{"service by flag", []string{"k8s"}, []string{"r"}, "", []string{"--tag", "k8s", "--agent-source", "service"}, StatusPass,
			"--agent-source service (--agent-source) needs a runner that runs images"},
		{"local from the devfile on docker", []string{"ws", "docker"}, []string{"r"}, local, nil, StatusWarn,
			"--agent-source local (devfile .devfile.yaml) needs a shell executor with ws on its PATH, but the runner's tags or description name docker or kubernetes"},
		{"local on a shell runner", []string{"shell"}, []string{"r"}, "", []string{"--tag", "shell", "--agent-source", "local"}, StatusPass,
			"--agent-source local (--agent-source) needs a shell executor with ws on its PATH; GitLab does not show"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := okDoctor()
			d.Tags, d.Runners = tc.tags, tc.runners
			srv := start(t, d, 2)
			files := map[string]string{}
			if tc.file != "" {
				files[".devfile.yaml"] = tc.file
			}
			r := run(t, srv, map[string]string{}, files, append([]string{"-R", "g/p"}, tc.args...)...)
			c := r.check(t, CheckAgent)
			assert.Equal(t, tc.status, c.Status)
			assert.True(t, strings.HasPrefix(c.Message, tc.msg), "message %q\nwant prefix %q", c.Message, tc.msg)
			assert.Equal(t, 0, r.code, "agent warnings keep exit 0")
		})
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"--agent-source", "curl"}, {"--gateway", "ws.example.com"}, {"--output", "yaml"}, {"extra"}} {
		ios, _, _, _ := cmdutil.Test()
		cmd := NewCmdDoctor(&cmdutil.Factory{IO: ios}, func(*DoctorOptions) error { return nil })
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		require.Error(t, err, "%v", args)
		var fe *cmdutil.FlagError
		if args[0] != "extra" {
			assert.True(t, errors.As(err, &fe), "%v: %v is not a usage error", args, err)
		}
	}
}

func TestFlagsReachOptions(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	var got *DoctorOptions
	cmd := NewCmdDoctor(&cmdutil.Factory{IO: ios}, func(o *DoctorOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"-R", "g/p", "--tag", "a", "--tag", "b", "--gateway", "https://gw.example.com", "--agent-source", "service", "--output", "json", "--debug"})
	require.NoError(t, cmd.Execute())
	assert.Equal(t, "g/p", got.Project)
	assert.Equal(t, []string{"a", "b"}, got.Tags)
	assert.Equal(t, "https://gw.example.com", got.Gateway)
	assert.Equal(t, "service", got.AgentSource)
	assert.Equal(t, "json", got.Output)
	assert.True(t, got.Debug)
}

// TestRunnerFeatureFlags: a Maintainer's doctor reads the project's FF_*
// CI/CD variables (never another variable's value) and says what each flag
// that is on breaks for this workspace: the service delivery cannot work
// with FF_KUBERNETES_HONOR_ENTRYPOINT (fail); other cases warn.
func TestRunnerFeatureFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  map[string]string
		status int
		args   []string
		want   string
		text   string
	}{
		{"none on", map[string]string{"FF_KUBERNETES_HONOR_ENTRYPOINT": "false"}, 0, nil, StatusPass, "no CI/CD variable of g/p turns on"},
		{"entrypoint, artifact", map[string]string{"FF_KUBERNETES_HONOR_ENTRYPOINT": "true"}, 0, nil, StatusWarn, "ENTRYPOINT runs again"},
		{"entrypoint, service", map[string]string{"FF_KUBERNETES_HONOR_ENTRYPOINT": "1"}, 0, []string{"--agent-source", "service"}, StatusFail, "the agent service loses its command"},
		{"suspendable, service", map[string]string{"FF_SUSPENDABLE_ENVIRONMENTS": "true"}, 0, []string{"--agent-source", "service"}, StatusFail, "builds directory"},
		{"native stop", map[string]string{"FF_USE_NATIVE_CONTAINER_STOP": "true"}, 0, nil, StatusWarn, "preStop runs from after_script"},
		{"hidden", nil, 403, nil, StatusPass, "did not show"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := okDoctor()
			d.Access, d.FeatureFlags, d.VariablesStatus = 40, tc.flags, tc.status
			srv := start(t, d, 2)
			args := append([]string{"-R", "g/p", "--gateway", healthy(t, 200)}, tc.args...)
			r := run(t, srv, map[string]string{}, map[string]string{".devfile.yaml": devfile}, args...)
			c := r.check(t, CheckFlags)
			assert.Equal(t, tc.want, c.Status, c.Message)
			assert.Contains(t, c.Message, tc.text)
			assert.NotContains(t, r.out, "secret-value")
		})
	}
}
