package local

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/internal/testutil"
)

// TestContainerPlanGolden pins the command lines container mode runs for
// the go-web example (a postgres service with its alias, the ws-agent job
// whose artifact is the agent, or the injector service), on every machine,
// engine or not. The live runs are in TestContainerScripts.
func TestContainerPlanGolden(t *testing.T) {
	root := testutil.RepoRoot()
	for _, source := range []string{"artifact", "service"} {
		res, err := pipeline.CompileFile(root, "examples/go-web/devfile.yaml", compiler.Options{Name: "demo", AgentSource: source})
		if err != nil || res.Pipeline == nil {
			t.Fatalf("CompileFile(examples/go-web, %s) = %v, %v", source, err, res.Diags)
		}
		j, err := JobFrom(res.Pipeline, res.Plan)
		if err != nil {
			t.Fatal(err)
		}
		for _, engine := range []string{"docker", "podman"} {
			p, err := PlanContainers(j, ContainerOptions{Engine: engine, Workspace: "demo", Marker: "demo-MARKER",
				StateDir: "/state/demo", ProjectDir: "/home/ada/app", AgentBinary: "/usr/local/bin/ws",
				Gateway: "http://10.89.0.1:4242", AgentToken: "AGENT-TOKEN"})
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]string{}
			for name, vars := range p.EnvFiles {
				text, err := envFileText(vars)
				if err != nil {
					t.Fatal(err)
				}
				files[name] = text
			}
			b, _ := json.MarshalIndent(struct {
				*ContainerPlan
				EnvFiles map[string]string `json:"envFiles"`
				Skipped  []string          `json:"skipped"`
			}{p, files, j.Skipped}, "", "  ")
			got := string(b) + "\n"
			golden := filepath.Join("testdata", "container-"+source+"-"+engine+".json")
			if testutil.Update() {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (WS_UPDATE=1 writes it)", err)
			}
			if got != strings.ReplaceAll(string(want), "\r\n", "\n") {
				t.Errorf("PlanContainers(%s, go-web, %s) differs from %s (WS_UPDATE=1 rewrites it):\n%s", engine, source, golden, got)
			}
			// No secret on any command line: ps would show it.
			var lines [][]string
			lines = append(append(lines, p.Prepare...), p.Create, p.Start, p.Stop)
			for _, s := range p.Services {
				lines = append(lines, s.Run)
			}
			for _, n := range p.Needs {
				lines = append(lines, n.Run, n.Remove)
			}
			for _, a := range lines {
				if strings.Contains(strings.Join(a, " "), "AGENT-TOKEN") {
					t.Errorf("command line holds the agent token: %q", a)
				}
			}
			// The token reaches the job, not the services (it is not public).
			for name, text := range files {
				if want := strings.HasSuffix(name, "job.env") || strings.HasSuffix(name, "ws-agent.env"); strings.Contains(text, "AGENT-TOKEN") != want {
					t.Errorf("%s: holds the agent token: %v, want %v", name, !want, want)
				}
			}
		}
	}
}

// TestExpandLikeRunner checks Expand against GitLab Runner's rules
// (common/variables.go): one pass over the whole list, last definition
// wins, $$ is $, unknown and special names are empty, raw values stay.
func TestExpandLikeRunner(t *testing.T) {
	in := []Variable{
		{Name: "A", Value: "a=$B"},           // B is defined later: still expanded
		{Name: "B", Value: "b=$C"},           // not recursive: $C is taken as written
		{Name: "C", Value: "c"},              // plain
		{Name: "D", Value: "${C}-$$C-$1-$?"}, // braces, $$, special parameters
		{Name: "E", Value: "$C $NOPE", Literal: true},
		{Name: "C", Value: "c2"}, // redefined: the last one wins everywhere
		{Name: "F", Value: "tail $"},
	}
	got := map[string][]string{}
	for _, v := range Expand(in) {
		got[v.Name] = append(got[v.Name], v.Value)
	}
	want := map[string][]string{
		"A": {"a=b=$C"},
		"B": {"b=c2"},
		"C": {"c", "c2"},
		"D": {"c2-$C--"},
		"E": {"$C $NOPE"},
		"F": {"tail $"},
	}
	for k, w := range want {
		if strings.Join(got[k], "|") != strings.Join(w, "|") {
			t.Errorf("Expand: %s = %q, want %q", k, got[k], w)
		}
	}
	if env := environ(Expand(in)); strings.Join(env, " ") != "A=a=b=$C B=b=c2 C=c2 D=c2-$C-- E=$C $NOPE F=tail $" {
		t.Errorf("environ = %q", env)
	}
}

// TestServiceVariablesBothForms: a service sees the job's public
// variables and its own, and a devfile value with $ stays literal whether
// the compiler wrote it as {value, expand: false} or as a string with $
// escaped as $$ (what GitLab accepts under services).
func TestServiceVariablesBothForms(t *testing.T) {
	j := &Job{Name: "workspace", Variables: []Variable{
		{Name: "PROJECT_SOURCE", Value: "$CI_PROJECT_DIR"},
		{Name: "JOB_LIT", Value: "$HOME", Literal: true},
	}}
	e := Env{Workspace: "w", ProjectDir: "/builds/p", BuildsDir: "/builds", AgentToken: "tok", Marker: "m"}
	for _, s := range []Service{
		{Image: "db", Variables: []Variable{{Name: "PW", Value: "pa$$word $HOME", Literal: true}}},
		{Image: "db", Variables: []Variable{{Name: "PW", Value: "pa$$$$word $$HOME"}}},
	} {
		got := map[string]string{}
		for _, v := range j.ServiceEnvironment(s, e) {
			got[v.Name] = v.Value
		}
		for k, want := range map[string]string{"PW": "pa$$word $HOME", "PROJECT_SOURCE": "/builds/p",
			"JOB_LIT": "$HOME", "CI_JOB_ID": JobID, "CI_BUILDS_DIR": "/builds", "CI_JOB_TOKEN": ""} {
			if got[k] != want {
				t.Errorf("service %v: %s = %q, want %q", s.Variables, k, got[k], want)
			}
		}
	}
}

func TestShellEnvironment(t *testing.T) {
	j := &Job{Name: "workspace", Variables: []Variable{
		{Name: "PROJECT_SOURCE", Value: "$CI_PROJECT_DIR"},
		{Name: "LIT", Value: "$CI_PROJECT_DIR", Literal: true},
		{Name: "WS_BIN", Value: "$CI_PROJECT_DIR/.ws/bin/ws"},
		{Name: "USES_BIN", Value: "bin=$WS_BIN"},
	}}
	env := j.Environment(Env{Workspace: "w", ProjectDir: "/p", BuildsDir: "/", WSBin: "/bin/ws", Gateway: "http://g", AgentToken: "t", Marker: "m"})
	got := map[string]string{}
	for _, kv := range environ(env) {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, want := range map[string]string{"PROJECT_SOURCE": "/p", "LIT": "$CI_PROJECT_DIR", "WS_BIN": "/bin/ws", "USES_BIN": "bin=/bin/ws",
		"WS_AGENT_GATEWAY": "http://g", "CI_JOB_TOKEN": "t", MarkerEnv: "m", "CI_COMMIT_REF_NAME": "ws/w"} {
		if got[k] != want {
			t.Errorf("Environment: %s = %q, want %q", k, got[k], want)
		}
	}
}

func TestEnvFileRefusesMultiLine(t *testing.T) {
	_, err := envFileText([]Variable{{Name: "X", Value: "a\nb"}})
	if err == nil || !strings.Contains(err.Error(), "variable X has a multi-line value") || !strings.Contains(err.Error(), "WS_LOCAL_ENGINE=shell") {
		t.Errorf("envFileText(multi-line) = %v", err)
	}
}

// TestParseEngineInfo reads what 'docker info --format {{json .}}' and
// 'podman version --format {{json .}}' print (trimmed recordings of Docker
// 28 and Podman 4.3).
func TestParseEngineInfo(t *testing.T) {
	const podman = `{"Client":{"APIVersion":"4.3.1","Version":"4.3.1","GoVersion":"go1.19.8","OsArch":"linux/amd64","Os":"linux"}}`
	for _, tc := range []struct {
		name, engine, json, want, err string
		notRoot                       bool
	}{
		{"podman as root", "podman", podman, "podman 4.3.1, rootful, amd64", "", false},
		{"podman as a user", "podman", podman, "podman 4.3.1, rootless, amd64", "", true},
		{"podman remote", "podman", `{"Client":{"Version":"5.0.0","OsArch":"darwin/arm64"},"Server":{"Version":"5.0.0","OsArch":"linux/arm64"}}`, "", "remote Podman", false},
		{"docker", "docker", `{"ServerVersion":"28.2.2","OSType":"linux","Architecture":"x86_64","SecurityOptions":["name=seccomp,profile=builtin"]}`, "docker 28.2.2, rootful, amd64", "", true},
		{"docker rootless", "docker", `{"ServerVersion":"28.2.2","OSType":"linux","Architecture":"aarch64","SecurityOptions":["name=seccomp,profile=builtin","name=rootless"]}`, "docker 28.2.2, rootless, arm64", "", true},
		{"docker windows", "docker", `{"ServerVersion":"28.2.2","OSType":"windows","Architecture":"x86_64"}`, "", "runs windows containers", false},
		{"docker no daemon", "docker", `{"ID":"","ServerVersion":"","ServerErrors":["Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"]}`, "", "Cannot connect to the Docker daemon", false},
		{"not json", "podman", `Error: oops`, "", "cannot read", false},
	} {
		e, err := parseEngineInfo(tc.engine, []byte(tc.json), tc.notRoot)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: parseEngineInfo = %v, %v; want error %q", tc.name, e, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: parseEngineInfo: %v", tc.name, err)
		case e.String() != tc.want:
			t.Errorf("%s: parseEngineInfo = %q, want %q", tc.name, e.String(), tc.want)
		}
	}
}

// TestDetectModeSaysWhy: a forced shell mode, a bad value, and the
// fall-back with what each engine answered (an empty PATH: none is found).
func TestDetectModeSaysWhy(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "WS_LOCAL_ENGINE" {
				return v
			}
			return ""
		}
	}
	d, err := DetectMode(t.Context(), env(""))
	if err != nil || d.Mode != ModeShell || d.Why != "no usable container engine: docker is not installed; podman is not installed" {
		t.Errorf("DetectMode() = %+v, %v", d, err)
	}
	if d, err := DetectMode(t.Context(), env("shell")); err != nil || d.Mode != ModeShell || d.Why != "WS_LOCAL_ENGINE=shell" {
		t.Errorf("DetectMode(shell) = %+v, %v", d, err)
	}
	if _, err := DetectMode(t.Context(), env("podman")); err == nil || err.Error() != "WS_LOCAL_ENGINE=podman, but podman is not installed" {
		t.Errorf("DetectMode(podman, none installed) = %v", err)
	}
	if _, err := DetectMode(t.Context(), env("lxc")); err == nil || !strings.Contains(err.Error(), "want shell, docker or podman") {
		t.Errorf("DetectMode(lxc) = %v", err)
	}
}

func TestCheckAgentBinary(t *testing.T) {
	e := &Engine{Name: "podman", Arch: "amd64"}
	if err := checkAgentBinary("/etc/passwd", e); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("checkAgentBinary(text file) = %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	other := &Engine{Name: "podman", Arch: "s390x"}
	if runtime.GOARCH == "s390x" {
		other.Arch = "amd64"
	}
	if err := checkAgentBinary(self, other); err == nil || !strings.Contains(err.Error(), "built for") {
		t.Errorf("checkAgentBinary(this test, %s engine) = %v", other.Arch, err)
	}
}

func TestNetworkGateway(t *testing.T) {
	for in, want := range map[string]string{
		`[{"name":"n","subnets":[{"subnet":"fd00::/64","gateway":"fd00::1"},{"subnet":"10.89.3.0/24","gateway":"10.89.3.1"}]}]`: "10.89.3.1",
		`[{"Name":"n","IPAM":{"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]}}]`:                                  "172.18.0.1",
	} {
		if got, err := networkGateway(in); err != nil || got != want {
			t.Errorf("networkGateway(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := networkGateway(`[{"subnets":[]}]`); err == nil {
		t.Error("networkGateway(no subnet) succeeded")
	}
}
