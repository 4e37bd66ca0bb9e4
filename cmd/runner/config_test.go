package runner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/testutil"
)

// run executes 'ws runner <args>' with an empty environment unless env is given.
func run(t *testing.T, env map[string]string, args ...string) (stdout string, err error) {
	t.Helper()
	ios, _, out, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Getenv: func(k string) string { return env[k] }}
	cmd := NewCmdRunner(f)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	err = cmd.Execute()
	return out.String(), err
}

// goldenCases are the outputs pinned in testdata/ and shown in docs/runners.md.
var goldenCases = []struct {
	name string
	args []string
}{
	{"docker", []string{"config", "--executor", "docker"}},
	{"kubernetes", []string{"config", "--executor", "kubernetes"}},
	{"shell", []string{"config", "--executor", "shell"}},
	{"helm", []string{"config", "--helm"}},
	{"helm-nodeport", []string{"config", "--helm", "--service-type", "NodePort", "--advertise-address", "203.0.113.7:30093", "--max-cpu", "8", "--max-memory", "16Gi"}},
	{"docker-json", []string{"config", "--executor", "docker", "--tag", "ws,linux", "--output", "json"}},
	{"kubernetes-json", []string{"config", "--executor", "kubernetes", "--output", "json"}},
}

func TestConfigGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, nil, tc.args...)
			if err != nil {
				t.Fatalf("ws runner %s: %v", strings.Join(tc.args, " "), err)
			}
			ext := ".toml"
			switch {
			case strings.HasSuffix(tc.name, "json"):
				ext = ".json"
			case strings.HasPrefix(tc.name, "helm"):
				ext = ".yaml"
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+ext), []byte(out))
			again, _ := run(t, nil, tc.args...)
			if again != out {
				t.Errorf("ws runner %s is not deterministic", strings.Join(tc.args, " "))
			}
		})
	}
}

// tomlConfig is the part of gitlab-runner's config.toml the output sets.
type tomlConfig struct {
	Concurrent    int `toml:"concurrent"`
	SessionServer struct {
		ListenAddress    string `toml:"listen_address"`
		AdvertiseAddress string `toml:"advertise_address"`
		SessionTimeout   int    `toml:"session_timeout"`
	} `toml:"session_server"`
	Runners []tomlRunner `toml:"runners"`
}

type tomlRunner struct {
	Name     string `toml:"name"`
	URL      string `toml:"url"`
	Token    string `toml:"token"`
	Executor string `toml:"executor"`
	Shell    string `toml:"shell"`
	Docker   *struct {
		Image               string   `toml:"image"`
		Privileged          bool     `toml:"privileged"`
		PullPolicy          []string `toml:"pull_policy"`
		AllowedPullPolicies []string `toml:"allowed_pull_policies"`
	} `toml:"docker"`
	Kubernetes   map[string]any  `toml:"kubernetes"`
	FeatureFlags map[string]bool `toml:"feature_flags"`
}

func decodeTOML(t *testing.T, s string) tomlConfig {
	t.Helper()
	var c tomlConfig
	md, err := toml.Decode(s, &c)
	if err != nil {
		t.Fatalf("output is not valid TOML: %v\n%s", err, s)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("unexpected config.toml keys %v", u)
	}
	return c
}

func TestConfigTOMLIsValidAndComplete(t *testing.T) {
	for _, exe := range []string{ExecutorDocker, ExecutorKubernetes, ExecutorShell} {
		t.Run(exe, func(t *testing.T) {
			out, err := run(t, nil, "config", "--executor", exe, "--concurrent", "25", "--session-timeout", "600",
				"--advertise-address", "runner.corp.example:8093", "--gitlab-url", "https://git.corp.example/")
			if err != nil {
				t.Fatal(err)
			}
			c := decodeTOML(t, out)
			if c.Concurrent != 25 {
				t.Errorf("concurrent = %d, want 25", c.Concurrent)
			}
			ss := c.SessionServer
			if ss.ListenAddress != "[::]:8093" || ss.AdvertiseAddress != "runner.corp.example:8093" || ss.SessionTimeout != 600 {
				t.Errorf("session_server = %+v", ss)
			}
			if len(c.Runners) != 1 {
				t.Fatalf("got %d [[runners]], want 1", len(c.Runners))
			}
			r := c.Runners[0]
			if r.Executor != exe || r.URL != "https://git.corp.example" || r.Token != tokenPlaceholder {
				t.Errorf("runner = %+v", r)
			}
			if !strings.Contains(out, "maximum job timeout  28800 seconds") || !strings.Contains(out, "#   tags                 ws\n") {
				t.Errorf("the GitLab-side settings (tags, maximum timeout) are missing:\n%s", out)
			}
			switch exe {
			case ExecutorDocker:
				if r.Docker == nil || r.Docker.Privileged || len(r.Docker.PullPolicy) != 1 || r.Docker.PullPolicy[0] != "if-not-present" {
					t.Errorf("[runners.docker] = %+v", r.Docker)
				}
			case ExecutorKubernetes:
				checkKubernetes(t, r.Kubernetes, "4", "8Gi")
			case ExecutorShell:
				if r.Shell != "bash" || r.Docker != nil || r.Kubernetes != nil {
					t.Errorf("shell runner = %+v", r)
				}
				if !strings.Contains(out, "--agent-source local") {
					t.Errorf("shell output does not mention --agent-source local")
				}
			}
		})
	}
}

// checkKubernetes checks that every resource variable ws compiles has its maximum.
func checkKubernetes(t *testing.T, k map[string]any, cpu, mem string) {
	t.Helper()
	if k == nil {
		t.Fatal("no [runners.kubernetes] section")
	}
	for _, who := range []string{"", "service_"} {
		for _, res := range []string{"cpu", "memory"} {
			for _, kind := range []string{"request", "limit"} {
				key := who + res + "_" + kind + "_overwrite_max_allowed"
				want := cpu
				if res == "memory" {
					want = mem
				}
				if got := k[key]; got != want {
					t.Errorf("%s = %v, want %q", key, got, want)
				}
			}
		}
	}
	if k["namespace"] != defaultNamespace || k["privileged"] != false {
		t.Errorf("namespace/privileged = %v/%v", k["namespace"], k["privileged"])
	}
}

func TestConfigHelmValues(t *testing.T) {
	out, err := run(t, nil, "config", "--helm", "--max-cpu", "8", "--max-memory", "16Gi", "--advertise-address", "runner.example.org:443")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		GitLabURL     string `yaml:"gitlabUrl"`
		Concurrent    int    `yaml:"concurrent"`
		Replicas      int    `yaml:"replicas"`
		SessionServer struct {
			Enabled      bool   `yaml:"enabled"`
			Timeout      int    `yaml:"timeout"`
			InternalPort int    `yaml:"internalPort"`
			ExternalPort int    `yaml:"externalPort"`
			PublicIP     string `yaml:"publicIP"`
			ServiceType  string `yaml:"serviceType"`
		} `yaml:"sessionServer"`
		RBAC    map[string]bool `yaml:"rbac"`
		Runners struct {
			Secret string `yaml:"secret"`
			Config string `yaml:"config"`
		} `yaml:"runners"`
	}
	dec := yaml.NewDecoder(strings.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("helm values: %v\n%s", err, out)
	}
	ss := v.SessionServer
	if !ss.Enabled || ss.Timeout != 1800 || ss.InternalPort != 8093 || ss.ExternalPort != 443 ||
		ss.PublicIP != "runner.example.org" || ss.ServiceType != "LoadBalancer" {
		t.Errorf("sessionServer = %+v", ss)
	}
	if v.Replicas != 1 || v.GitLabURL != "https://gitlab.example.com/" || v.Runners.Secret == "" || !v.RBAC["create"] {
		t.Errorf("values = %+v", v)
	}
	// The chart passes runners.config through tpl: no template braces.
	if strings.Contains(v.Runners.Config, "{{") {
		t.Errorf("runners.config contains {{ which the chart's tpl would evaluate")
	}
	c := decodeTOML(t, v.Runners.Config)
	if len(c.Runners) != 1 {
		t.Fatalf("runners.config has %d [[runners]]", len(c.Runners))
	}
	checkKubernetes(t, c.Runners[0].Kubernetes, "8", "16Gi")
}

func TestConfigJSON(t *testing.T) {
	out, err := run(t, nil, "config", "--executor", "kubernetes", "--tags", "ws,gpu", "--tag", "ws", "--max-timeout", "90m", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.GitLab.Tags, ",") != "ws,gpu" || c.GitLab.MaximumTimeout != 5400 || c.GitLab.RunUntagged {
		t.Errorf("gitlab = %+v", c.GitLab)
	}
	if c.Kubernetes == nil || len(c.Kubernetes.OverwriteMaxAllowed) != 8 {
		t.Errorf("kubernetes = %+v", c.Kubernetes)
	}
	if c.HelmValues != "" {
		t.Errorf("helm_values set without --helm")
	}
	decodeTOML(t, c.ConfigTOML)
}

func TestConfigGitLabHostFromEnvironment(t *testing.T) {
	out, err := run(t, map[string]string{"GITLAB_HOST": "https://gitlab.corp.example/"}, "config")
	if err != nil {
		t.Fatal(err)
	}
	if c := decodeTOML(t, out); c.Runners[0].URL != "https://gitlab.corp.example" {
		t.Errorf("url = %q, want GITLAB_HOST", c.Runners[0].URL)
	}
	out, _ = run(t, map[string]string{"GITLAB_HOST": "https://ignored.example"}, "config", "--gitlab-url", "https://flag.example")
	if c := decodeTOML(t, out); c.Runners[0].URL != "https://flag.example" {
		t.Errorf("url = %q, want the flag to win", c.Runners[0].URL)
	}
}

func TestConfigFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--executor", "ssh"}, `invalid --executor "ssh"`},
		{[]string{"--executor", "docker", "--helm"}, "--helm configures the kubernetes executor"},
		{[]string{"--tag", ""}, "at least one tag"},
		{[]string{"--tag", "a b"}, `invalid --tag "a b"`},
		{[]string{"--advertise-address", "https://runner.example.com"}, "want host:port without a scheme"},
		{[]string{"--listen-address", "8093"}, "invalid --listen-address"},
		{[]string{"--max-timeout", "soon"}, `invalid --max-timeout "soon"`},
		{[]string{"--max-timeout", "30s"}, "at least 1m"},
		{[]string{"--session-timeout", "0"}, "invalid --session-timeout"},
		{[]string{"--concurrent", "0"}, "invalid --concurrent"},
		{[]string{"--max-cpu", "lots"}, `invalid --max-cpu "lots"`},
		{[]string{"--max-memory", "Inf"}, `invalid --max-memory "Inf"`},
		{[]string{"--max-memory", "0Gi"}, `invalid --max-memory "0Gi"`},
		{[]string{"--namespace", "Bad_NS"}, "invalid --namespace"},
		{[]string{"--gitlab-url", "gitlab.example.com"}, "invalid --gitlab-url"},
		{[]string{"--helm", "--service-type", "ClusterIP"}, "invalid --service-type"},
		{[]string{"--output", "yaml"}, `invalid --output "yaml"`},
	} {
		_, err := run(t, nil, append([]string{"config"}, tc.args...)...)
		var fe *cmdutil.FlagError
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ws runner config %v: err = %v, want %q", tc.args, err, tc.want)
		} else if !asFlagError(err, &fe) || fe.Cmd != "runner config" {
			t.Errorf("ws runner config %v: %T is not a FlagError for 'runner config'", tc.args, err)
		}
	}
}

func asFlagError(err error, target **cmdutil.FlagError) bool {
	fe, ok := err.(*cmdutil.FlagError)
	*target = fe
	return ok
}

func TestConfigOptionsFromFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Getenv: func(string) string { return "" }}
	var got *ConfigOptions
	cmd := NewCmdConfig(f, func(o *ConfigOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--helm", "--tag", "a", "--tags", "b,a"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Executor != ExecutorKubernetes || strings.Join(got.Tags, ",") != "a,b" {
		t.Errorf("opts = executor %q tags %v; want kubernetes (from --helm) and a,b", got.Executor, got.Tags)
	}
}

// TestDocsExamples keeps docs/runners.md honest: each block marked
// <!-- ws runner config ARGS --> must equal that command's output.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "runners.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- ws (runner config[^>]*?) -->\n```[a-z]*\n(.*?)```\n")
	blocks := re.FindAllStringSubmatch(string(doc), -1)
	executors := map[string]bool{}
	for _, m := range blocks {
		args := strings.Fields(m[1])[1:] // drop "runner"
		out, err := run(t, nil, args...)
		if err != nil {
			t.Errorf("docs/runners.md: ws %s: %v", m[1], err)
			continue
		}
		if out != m[2] {
			t.Errorf("docs/runners.md: the block for 'ws %s' differs from the output (copy testdata/ or rerun):\n%s", m[1], testutil.LineDiff(m[2], out))
		}
		exe := ExecutorDocker
		for i, a := range args {
			switch {
			case a == "--helm":
				exe = "helm"
			case a == "--executor" && i+1 < len(args) && exe != "helm":
				exe = args[i+1]
			}
		}
		executors[exe] = true
	}
	for _, want := range []string{ExecutorDocker, ExecutorKubernetes, ExecutorShell, "helm"} {
		if !executors[want] {
			t.Errorf("docs/runners.md has no tested example for %s (mark a block with <!-- ws runner config ... -->)", want)
		}
	}
}

// TestFeatureFlagsOff: the config turns off, per executor, the runner
// feature flags that break workspaces silently (docs/runners.md).
func TestFeatureFlagsOff(t *testing.T) {
	for exec, want := range map[string][]string{
		ExecutorDocker:     {"FF_USE_NATIVE_CONTAINER_STOP"},
		ExecutorKubernetes: {"FF_KUBERNETES_HONOR_ENTRYPOINT", "FF_SUSPENDABLE_ENVIRONMENTS"},
		ExecutorShell:      nil,
	} {
		o := &ConfigOptions{Executor: exec, Tags: []string{"ws"}, GitLabURL: defaultGitLabURL, ListenAddress: defaultListenAddress,
			AdvertiseAddress: defaultAdvertiseAddress, SessionTimeout: 1, MaxTimeout: "8h", Concurrent: 1, Namespace: "ns", MaxCPU: "1", MaxMemory: "1Gi", ServiceType: "NodePort"}
		c := decodeTOML(t, Build(o).ConfigTOML)
		got := c.Runners[0].FeatureFlags
		if len(got) != len(want) {
			t.Errorf("%s: feature flags %v, want %v off", exec, got, want)
		}
		for _, f := range want {
			if on, ok := got[f]; !ok || on {
				t.Errorf("%s: %s = %v (set %v), want false", exec, f, on, ok)
			}
		}
	}
}
