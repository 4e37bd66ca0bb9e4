package root

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/testutil"
	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
)

// ScriptCmds are the custom testscript commands. Other files add theirs
// from init(), e.g. ScriptCmds["fakegateway"] = ....
var ScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"fakegitlab": cmdFakeGitLab,
	"exitcode":   cmdExitCode,
}

// FakeScenarios are the fake GitLab set-ups 'fakegitlab <scenario>' starts.
var FakeScenarios = map[string]func(s *fg.Server) *fg.Model{
	"up": func(s *fg.Server) *fg.Model {
		m := &fg.Model{Jobs: []string{"pending", "running"}, Tags: []string{"ws"}, Online: 1}
		m.Install(s)
		return m
	},
	"running": func(s *fg.Server) *fg.Model {
		m := &fg.Model{Running: true, Content: "old: config\n", Jobs: []string{"running"}, Tags: []string{"ws"}, Online: 1,
			Trace: []string{"Running with gitlab-runner 18.0\n", "ws agent: started\n", "ws agent: stopped\n"}}
		m.Install(s)
		return m
	},
	// The canceled job still holds the resource group (its after_script).
	"running-resource": func(s *fg.Server) *fg.Model {
		m := &fg.Model{Running: true, Content: "old: config\n", Jobs: []string{"waiting_for_resource", "waiting_for_resource", "running"}, Tags: []string{"ws"}, Online: 1}
		m.Install(s)
		return m
	},
	"no-runner": func(s *fg.Server) *fg.Model {
		m := &fg.Model{Jobs: []string{"pending", "pending", "running"}, Tags: []string{"ws", "gpu"}, Online: 0}
		m.Install(s)
		return m
	},
	"flaky": func(s *fg.Server) *fg.Model {
		m := &fg.Model{Jobs: []string{"running"}, Online: 1,
			PipelineReplies: []fg.Reply{{Status: 500, Body: `{"message":"500 Internal Server Error"}`}, {Status: 502, Body: "created"}}}
		m.Install(s)
		return m
	},
	"protected": func(s *fg.Server) *fg.Model {
		m := &fg.Model{CommitReplies: []fg.Reply{{Status: 403, Body: `{"message":"403 Forbidden - You are not allowed to push into this branch"}`}}}
		m.Install(s)
		return m
	},
	"unknown-project": func(s *fg.Server) *fg.Model {
		for _, p := range []string{"/projects/g/nope", "/projects/g/nope/*", "/projects/g/nope/*/*", "/projects/g/nope/*/*/*", "/projects/g/nope/*/*/*/*"} {
			for _, m := range []string{"GET", "HEAD"} {
				s.Stub(&fg.Stub{Method: m, Path: p, Times: fg.Any, Replies: []fg.Reply{fg.NotFound("Project")}})
			}
		}
		return &fg.Model{}
	},
	"auth": func(s *fg.Server) *fg.Model {
		s.Stub(&fg.Stub{Method: "GET", Path: "/user", Replies: []fg.Reply{{Body: map[string]any{"id": 1, "username": "ada", "name": "Ada"}}}},
			&fg.Stub{Method: "GET", Path: "/personal_access_tokens/self", Replies: []fg.Reply{{Body: map[string]any{
				"id": 9, "name": "laptop", "scopes": []string{"read_api"}, "expires_at": "2026-12-31", "active": true}}}})
		return &fg.Model{}
	},
	"none": func(*fg.Server) *fg.Model { return &fg.Model{} },
}

type fakeState struct {
	srv   *fg.Server
	model *fg.Model
}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ws": func() {
			f := cmdutil.New()
			// Poll and retry at once: the fake changes state per request.
			f.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
			f.PollInterval = 0
			testHooks(f)
			os.Exit(Run(f, nil))
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(testutil.RepoRoot(), "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       testutil.Update(),
		Cmds:                ScriptCmds,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir)
			for _, k := range []string{"GITLAB_HOST", "GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN", "WS_GATEWAY_URL",
				"GITLAB_URI", "GL_HOST", "CI_SERVER_URL", "GITLAB_CI", "GLAB_CONFIG_DIR", "WS_CONFIG_DIR", "NO_COLOR", "BROWSER"} {
				env.Setenv(k, "")
			}
			// git reads no configuration of this machine's user.
			env.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(env.WorkDir, ".gitconfig-global"))
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
			env.Setenv("XDG_CACHE_HOME", filepath.Join(env.WorkDir, ".cache"))
			env.Setenv("WS_LOCAL_ENGINE", "shell")
			env.Setenv("LC_ALL", "C")
			env.Values["fake"] = &fakeState{}
			return nil
		},
	})
}

// cmdFakeGitLab: 'fakegitlab <scenario>' starts a fake GitLab and exports
// GITLAB_HOST and GITLAB_TOKEN; 'fakegitlab verify' fails on unexpected
// requests or stubs never called; 'fakegitlab log' prints the requests,
// sorted; 'fakegitlab pipelines N' checks how many pipelines exist.
func cmdFakeGitLab(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: fakegitlab <scenario>|verify|log|pipelines N")
	}
	st := ts.Value("fake").(*fakeState)
	switch args[0] {
	case "verify":
		if p := st.srv.Problems(); len(p) > 0 != neg {
			ts.Fatalf("fake GitLab problems:\n%s", strings.Join(p, "\n"))
		}
	case "log":
		lines := strings.Split(strings.TrimSpace(st.srv.Log()), "\n")
		sort.Strings(lines)
		fmt.Fprintln(ts.Stdout(), strings.Join(lines, "\n"))
	case "pipelines":
		want, _ := strconv.Atoi(args[1])
		if got := st.model.Pipelines(); got != want {
			ts.Fatalf("fake GitLab has %d pipelines, want %d", got, want)
		}
	default:
		scen, ok := FakeScenarios[args[0]]
		if !ok {
			ts.Fatalf("no fake GitLab scenario %q", args[0])
		}
		st.srv = fg.New()
		st.model = scen(st.srv)
		ts.Defer(st.srv.Close)
		ts.Setenv("GITLAB_HOST", st.srv.URL)
		ts.Setenv("GITLAB_TOKEN", fg.Token)
	}
}

// cmdExitCode: 'exitcode N cmd args...' runs cmd and checks its exit code.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		got = -1
		var ee interface{ ExitCode() int }
		if e, ok := err.(interface{ Unwrap() error }); ok {
			_ = e
		}
		if asExit(err, &ee) {
			got = ee.ExitCode()
		}
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d (%v)", args[1], got, want, err)
	}
}

func asExit(err error, target *interface{ ExitCode() int }) bool {
	for err != nil {
		if e, ok := err.(interface{ ExitCode() int }); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
