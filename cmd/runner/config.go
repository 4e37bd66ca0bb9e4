package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// Executors 'ws runner config' knows, in the order help lists them.
const (
	ExecutorDocker     = "docker"
	ExecutorKubernetes = "kubernetes"
	ExecutorShell      = "shell"
)

// Defaults, documented in the help text and docs/runners.md.
const (
	defaultTag              = "ws"
	defaultGitLabURL        = "https://gitlab.example.com"
	defaultListenAddress    = "[::]:8093"
	defaultAdvertiseAddress = "runner.example.com:8093"
	defaultSessionTimeout   = 1800
	defaultMaxTimeout       = "8h"
	defaultConcurrent       = 10
	defaultNamespace        = "ws-workspaces"
	defaultMaxCPU           = "4"
	defaultMaxMemory        = "8Gi"
	defaultServiceType      = "LoadBalancer"
	defaultImage            = "alpine:3.22"
	helmExternalPort        = 9000
	helmTokenSecret         = "ws-runner-token"
	runnerName              = "ws-workspaces"
	tokenPlaceholder        = "RUNNER_AUTHENTICATION_TOKEN"
)

// ConfigOptions are the inputs of 'ws runner config'.
type ConfigOptions struct {
	IO *cmdutil.IOStreams

	Executor         string
	Helm             bool
	Tags             []string
	GitLabURL        string
	ListenAddress    string
	AdvertiseAddress string
	SessionTimeout   int
	MaxTimeout       string
	Concurrent       int
	Namespace        string
	MaxCPU           string
	MaxMemory        string
	ServiceType      string
	Output           string

	advertiseSet bool
}

// NewCmdConfig returns 'ws runner config'. runF, when set, receives the
// validated options instead of running the command (flag tests).
func NewCmdConfig(f *cmdutil.Factory, runF func(*ConfigOptions) error) *cobra.Command {
	opts := &ConfigOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "config [flags]",
		Short: "Print the runner configuration workspaces need",
		Long: `Print the GitLab Runner configuration that workspace jobs need, for one executor.

The text output is a config.toml fragment (or, with --helm, values for the
gitlab-runner Helm chart) whose comments list what is set in GitLab itself
when the runner is created: the workspace tags, "run untagged jobs" off, and a
maximum job timeout at least as long as the longest workspace.

It contains:
  - [session_server] for GitLab's own job terminal (optional: 'ws shell' goes
    through the ws gateway); GitLab must reach advertise_address
  - concurrent: every open workspace holds a job slot for hours
  - docker: no privileged mode, an if-not-present pull policy
  - kubernetes: the *_overwrite_max_allowed keys without which the runner
    silently ignores the KUBERNETES_CPU_*/KUBERNETES_MEMORY_* variables that
    ws compiles from the devfile's cpuLimit/memoryLimit
  - shell: ws-agent on the runner user's PATH and 'ws compile --agent-source local'
  - [runners.feature_flags] off that break workspaces silently:
    FF_USE_NATIVE_CONTAINER_STOP (docker), FF_KUBERNETES_HONOR_ENTRYPOINT and
    FF_SUSPENDABLE_ENVIRONMENTS (kubernetes)

The output depends only on the flags (and GITLAB_HOST for the URL).`,
		Example: `  $ ws runner config --executor docker >> /etc/gitlab-runner/config.toml
  $ ws runner config --executor kubernetes --max-cpu 8 --max-memory 16Gi
  $ ws runner config --helm --advertise-address runner.example.com:9000 > values.yaml
  $ ws runner config --executor shell --tag ws --tag linux --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.advertiseSet = cmd.Flags().Changed("advertise-address")
			if !cmd.Flags().Changed("gitlab-url") {
				if h := f.Getenv("GITLAB_HOST"); h != "" {
					opts.GitLabURL = h
				}
			}
			if opts.Helm && !cmd.Flags().Changed("executor") {
				opts.Executor = ExecutorKubernetes
			}
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return configRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Executor, "executor", ExecutorDocker, "runner executor: {docker | kubernetes | shell}")
	fl.BoolVar(&opts.Helm, "helm", false, "print values for the gitlab-runner Helm chart (kubernetes executor)")
	fl.StringSliceVar(&opts.Tags, "tag", []string{defaultTag}, "runner tag the workspace jobs use (repeatable)")
	fl.StringVar(&opts.GitLabURL, "gitlab-url", defaultGitLabURL, "GitLab URL the runner talks to (default $GITLAB_HOST)")
	fl.StringVar(&opts.ListenAddress, "listen-address", defaultListenAddress, "session server listen address")
	fl.StringVar(&opts.AdvertiseAddress, "advertise-address", defaultAdvertiseAddress, "session server host:port GitLab connects to")
	fl.IntVar(&opts.SessionTimeout, "session-timeout", defaultSessionTimeout, "seconds a job terminal may stay open after the job")
	fl.StringVar(&opts.MaxTimeout, "max-timeout", defaultMaxTimeout, "maximum job timeout to set on the runner (longest workspace)")
	fl.IntVar(&opts.Concurrent, "concurrent", defaultConcurrent, "jobs the runner runs at once (workspaces plus other jobs)")
	fl.StringVar(&opts.Namespace, "namespace", defaultNamespace, "kubernetes: namespace of the workspace pods")
	fl.StringVar(&opts.MaxCPU, "max-cpu", defaultMaxCPU, "kubernetes: largest CPU request/limit a workspace may ask for")
	fl.StringVar(&opts.MaxMemory, "max-memory", defaultMaxMemory, "kubernetes: largest memory request/limit a workspace may ask for")
	fl.StringVar(&opts.ServiceType, "service-type", defaultServiceType, "helm: session server service type: {LoadBalancer | NodePort}")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	// --tags reads as naturally as --tag; accept both.
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "tags" {
			name = "tag"
		}
		return pflag.NormalizedName(name)
	})
	return cmd
}

const cmdPath = "runner config"

func (o *ConfigOptions) validate() error {
	if err := cmdutil.CheckFormat(cmdPath, "output", o.Output); err != nil {
		return err
	}
	switch o.Executor {
	case ExecutorDocker, ExecutorKubernetes, ExecutorShell:
	default:
		return cmdutil.FlagErrorf(cmdPath, "invalid --executor %q: want docker, kubernetes or shell", o.Executor)
	}
	if o.Helm && o.Executor != ExecutorKubernetes {
		return cmdutil.FlagErrorf(cmdPath, "--helm configures the kubernetes executor; drop --executor %s", o.Executor)
	}
	var tags []string
	seen := map[string]bool{}
	for _, t := range o.Tags {
		t = strings.TrimSpace(t)
		if t == "" || strings.ContainsAny(t, " \t\"\\") || !printable(t) {
			return cmdutil.FlagErrorf(cmdPath, "invalid --tag %q: want a non-empty tag without spaces or quotes", t)
		}
		if !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return cmdutil.FlagErrorf(cmdPath, "--tag: at least one tag is needed")
	}
	o.Tags = tags
	o.GitLabURL = strings.TrimRight(o.GitLabURL, "/")
	if !strings.HasPrefix(o.GitLabURL, "https://") && !strings.HasPrefix(o.GitLabURL, "http://") || !printable(o.GitLabURL) {
		return cmdutil.FlagErrorf(cmdPath, "invalid --gitlab-url %q: want an http(s) URL", o.GitLabURL)
	}
	for _, a := range []struct{ flag, v string }{{"listen-address", o.ListenAddress}, {"advertise-address", o.AdvertiseAddress}} {
		_, port, err := net.SplitHostPort(a.v)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 || !printable(a.v) {
			return cmdutil.FlagErrorf(cmdPath, "invalid --%s %q: want host:port without a scheme", a.flag, a.v)
		}
	}
	if o.SessionTimeout <= 0 {
		return cmdutil.FlagErrorf(cmdPath, "invalid --session-timeout %d: want seconds > 0", o.SessionTimeout)
	}
	if d, err := time.ParseDuration(o.MaxTimeout); err != nil || d < time.Minute || d%time.Second != 0 {
		return cmdutil.FlagErrorf(cmdPath, "invalid --max-timeout %q: want a duration of at least 1m, e.g. 8h", o.MaxTimeout)
	}
	if o.Concurrent < 1 {
		return cmdutil.FlagErrorf(cmdPath, "invalid --concurrent %d: want 1 or more", o.Concurrent)
	}
	if o.Namespace == "" || !isDNSLabel(o.Namespace) {
		return cmdutil.FlagErrorf(cmdPath, "invalid --namespace %q: want a Kubernetes namespace name", o.Namespace)
	}
	for _, q := range []struct{ flag, v string }{{"max-cpu", o.MaxCPU}, {"max-memory", o.MaxMemory}} {
		if !isQuantity(q.v) {
			return cmdutil.FlagErrorf(cmdPath, "invalid --%s %q: want a Kubernetes quantity such as 4, 500m or 8Gi", q.flag, q.v)
		}
	}
	switch o.ServiceType {
	case "LoadBalancer", "NodePort":
	default:
		return cmdutil.FlagErrorf(cmdPath, "invalid --service-type %q: want LoadBalancer or NodePort", o.ServiceType)
	}
	return nil
}

// Config is what 'ws runner config --output json' prints.
type Config struct {
	Executor      string         `json:"executor"`
	GitLab        GitLabSettings `json:"gitlab"`
	Concurrent    int            `json:"concurrent"`
	SessionServer SessionServer  `json:"session_server"`
	// Kubernetes holds the resource override maxima (kubernetes only).
	Kubernetes *Kubernetes `json:"kubernetes,omitempty"`
	// ConfigTOML is the config.toml fragment (the text output without --helm).
	ConfigTOML string `json:"config_toml"`
	// HelmValues is the gitlab-runner chart values file (with --helm).
	HelmValues string `json:"helm_values,omitempty"`
	// FeatureFlags are the [runners.feature_flags] ws needs (all false:
	// each one breaks workspaces silently; docs/runners.md).
	FeatureFlags map[string]bool `json:"feature_flags,omitempty"`
	Notes        []string        `json:"notes"`
}

// GitLabSettings are set in GitLab when the runner is created, not in config.toml.
type GitLabSettings struct {
	URL            string   `json:"url"`
	Tags           []string `json:"tags"`
	RunUntagged    bool     `json:"run_untagged"`
	MaximumTimeout int      `json:"maximum_timeout"` // seconds
}

// SessionServer is config.toml's [session_server] section.
type SessionServer struct {
	ListenAddress    string `json:"listen_address"`
	AdvertiseAddress string `json:"advertise_address"`
	SessionTimeout   int    `json:"session_timeout"` // seconds
}

// Kubernetes are the [runners.kubernetes] settings ws depends on.
type Kubernetes struct {
	Namespace string `json:"namespace"`
	// OverwriteMaxAllowed maps each *_overwrite_max_allowed key to its value.
	OverwriteMaxAllowed map[string]string `json:"overwrite_max_allowed"`
}

func configRun(o *ConfigOptions) error {
	c := Build(o)
	if o.Output == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(o.IO.Out, c)
	}
	text := c.ConfigTOML
	if o.Helm {
		text = c.HelmValues
	}
	_, err := io.WriteString(o.IO.Out, text)
	return err
}

// Build computes the configuration for validated options. It is pure.
func Build(o *ConfigOptions) *Config {
	d, _ := time.ParseDuration(o.MaxTimeout)
	c := &Config{
		Executor: o.Executor,
		GitLab: GitLabSettings{
			URL:            o.GitLabURL,
			Tags:           o.Tags,
			RunUntagged:    false,
			MaximumTimeout: int(d / time.Second),
		},
		Concurrent: o.Concurrent,
		SessionServer: SessionServer{
			ListenAddress:    o.ListenAddress,
			AdvertiseAddress: o.AdvertiseAddress,
			SessionTimeout:   o.SessionTimeout,
		},
	}
	if o.Executor == ExecutorKubernetes {
		c.Kubernetes = &Kubernetes{Namespace: o.Namespace, OverwriteMaxAllowed: map[string]string{}}
		for _, k := range overwriteKeys(o) {
			c.Kubernetes.OverwriteMaxAllowed[k.key] = k.value
		}
	}
	for _, f := range featureFlags(o.Executor) {
		if c.FeatureFlags == nil {
			c.FeatureFlags = map[string]bool{}
		}
		c.FeatureFlags[f.key] = false
	}
	c.Notes = notes(o)
	c.ConfigTOML = renderTOML(o, c)
	if o.Helm {
		c.HelmValues = renderHelm(o, c)
	}
	return c
}

func notes(o *ConfigOptions) []string {
	n := []string{
		"create the runner in GitLab with tags " + strings.Join(o.Tags, ",") + ", run untagged jobs off, and maximum job timeout " + strconv.Itoa(int(mustDuration(o.MaxTimeout)/time.Second)) + " s",
		"compile workspaces with the same tags: ws compile --tag " + strings.Join(o.Tags, " --tag "),
	}
	switch o.Executor {
	case ExecutorDocker:
		n = append(n, "the agent is copied from the ws image by an earlier job: the runner must be able to pull it")
	case ExecutorKubernetes:
		n = append(n, "without the *_overwrite_max_allowed keys the runner ignores the devfile's cpu and memory settings")
	case ExecutorShell:
		n = append(n, "install ws-agent (from the ws release) on the runner user's PATH and compile with --agent-source local; devfile containers do not run on a shell executor")
	}
	if o.Helm {
		n = append(n, "the chart's session server needs one replica and a reachable service ("+o.ServiceType+")")
	}
	return n
}

type kv struct{ key, value string }

// featureFlags are the runner feature flags that break workspaces without
// an error of their own, which the config turns off, with why (gitlab-runner
// 19.x; docs/runners.md "Feature flags").
func featureFlags(executor string) []kv {
	switch executor {
	case ExecutorDocker:
		return []kv{{"FF_USE_NATIVE_CONTAINER_STOP", "on, the job's processes get no SIGTERM before the container stops: preStop then runs only from after_script"}}
	case ExecutorKubernetes:
		return []kv{
			{"FF_KUBERNETES_HONOR_ENTRYPOINT", "on, image and service entrypoints and commands are dropped: the agent service and devfile services with a command break"},
			{"FF_SUSPENDABLE_ENVIRONMENTS", "on, the builds directory lives on a per-job volume that services may not share"},
		}
	}
	return nil
}

// overwriteKeys are the [runners.kubernetes] maxima that let the job's
// KUBERNETES_{CPU,MEMORY}_{REQUEST,LIMIT} and KUBERNETES_SERVICE_* variables
// take effect (gitlab-runner executors/kubernetes/overwrites.go).
func overwriteKeys(o *ConfigOptions) []kv {
	var out []kv
	for _, prefix := range []string{"", "service_"} {
		out = append(out,
			kv{prefix + "cpu_request_overwrite_max_allowed", o.MaxCPU},
			kv{prefix + "cpu_limit_overwrite_max_allowed", o.MaxCPU},
			kv{prefix + "memory_request_overwrite_max_allowed", o.MaxMemory},
			kv{prefix + "memory_limit_overwrite_max_allowed", o.MaxMemory},
		)
	}
	return out
}

func renderTOML(o *ConfigOptions, c *Config) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# GitLab Runner configuration for ws workspaces (%s executor).\n", o.Executor)
	w("# Merge it into the runner's config.toml (/etc/gitlab-runner/config.toml).\n")
	w("#\n")
	w("# Set in GitLab when you create the runner (Settings > CI/CD > Runners >\n")
	w("# New project runner, or POST /api/v4/user/runners):\n")
	w("#   tags                 %s\n", strings.Join(c.GitLab.Tags, ", "))
	w("#   run untagged jobs    no (keeps other jobs off workspace runners)\n")
	w("#   maximum job timeout  %d seconds (%s): at least the longest workspace\n", c.GitLab.MaximumTimeout, o.MaxTimeout)
	w("#                        timeout (ws/timeout), which it would otherwise cut short\n")
	w("# Then replace %s below with the runner's token (glrt-...).\n", tokenPlaceholder)
	w("\n")
	w("# Every open workspace holds a job slot for hours: count the workspaces\n")
	w("# plus the other jobs this runner takes.\n")
	w("concurrent = %d\n", c.Concurrent)
	w("\n")
	w("# GitLab's own job terminal, a fallback to 'ws shell' (which goes through the\n")
	w("# ws gateway). GitLab must reach advertise_address (host:port, no scheme); the\n")
	w("# runner makes a TLS certificate for it. Remove the section to turn it off.\n")
	if o.Executor == ExecutorDocker {
		w("# With the runner itself in Docker, publish the port (-p 8093:8093).\n")
	}
	w("[session_server]\n")
	w("  listen_address = %s\n", tomlString(c.SessionServer.ListenAddress))
	w("  advertise_address = %s\n", tomlString(c.SessionServer.AdvertiseAddress))
	w("  session_timeout = %d\n", c.SessionServer.SessionTimeout)
	w("\n")
	w("[[runners]]\n")
	w("  name = %s\n", tomlString(runnerName))
	w("  url = %s\n", tomlString(c.GitLab.URL))
	w("  token = %s\n", tomlString(tokenPlaceholder))
	w("  executor = %s\n", tomlString(o.Executor))
	renderExecutorTOML(&b, o, "  ")
	return b.String()
}

// renderExecutorTOML writes the executor's section, each line prefixed
// with indent (the Helm values embed it at another depth).
func renderExecutorTOML(b *strings.Builder, o *ConfigOptions, indent string) {
	w := func(format string, args ...any) {
		b.WriteString(indent)
		fmt.Fprintf(b, format, args...)
	}
	switch o.Executor {
	case ExecutorDocker:
		w("[runners.docker]\n")
		w("  # The devfile names the workspace image; this is only the fallback.\n")
		w("  image = %s\n", tomlString(defaultImage))
		w("  # Workspaces run as ordinary containers: no privileged mode.\n")
		w("  privileged = false\n")
		w("  # Reuse pulled images so workspaces start fast; the ws image that\n")
		w("  # delivers the agent and the devfile's images are pulled once.\n")
		w("  pull_policy = [\"if-not-present\"]\n")
		w("  allowed_pull_policies = [\"always\", \"if-not-present\"]\n")
	case ExecutorKubernetes:
		w("[runners.kubernetes]\n")
		w("  namespace = %s\n", tomlString(o.Namespace))
		w("  # The devfile names the workspace image; this is only the fallback.\n")
		w("  image = %s\n", tomlString(defaultImage))
		w("  privileged = false\n")
		w("  pull_policy = [\"if-not-present\"]\n")
		w("  # ws compiles the devfile's cpuLimit/cpuRequest/memoryLimit/memoryRequest\n")
		w("  # into KUBERNETES_{CPU,MEMORY}_{REQUEST,LIMIT} (main container) and\n")
		w("  # KUBERNETES_SERVICE_* (other containers). Without these maxima the runner\n")
		w("  # silently ignores them; a value above a maximum fails the job.\n")
		for _, k := range overwriteKeys(o) {
			w("  %s = %s\n", k.key, tomlString(k.value))
		}
	case ExecutorShell:
		w("# Jobs run as the runner's user on this host, without isolation: the\n")
		w("# devfile's image and other containers are ignored, so its tools must be\n")
		w("# installed here. Install ws-agent from the ws release on that user's PATH\n")
		w("# (/usr/local/bin/ws-agent) and compile workspaces with\n")
		w("# 'ws compile --agent-source local'.\n")
		w("shell = \"bash\"\n")
	}
	if ff := featureFlags(o.Executor); len(ff) > 0 {
		w("# Feature flags that break workspaces without an error of their own:\n")
		for _, f := range ff {
			w("# %s: %s.\n", f.key, f.value)
		}
		w("[runners.feature_flags]\n")
		for _, f := range ff {
			w("  %s = false\n", f.key)
		}
	}
}

func renderHelm(o *ConfigOptions, c *Config) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Values for the gitlab-runner Helm chart (kubernetes executor) for ws workspaces:\n")
	w("#   helm repo add gitlab https://charts.gitlab.io\n")
	w("#   helm upgrade --install ws-runner gitlab/gitlab-runner -n ws-runner -f values.yaml\n")
	w("# Check the keys against the values.yaml of the chart version you install.\n")
	w("#\n")
	w("# Set in GitLab when you create the runner: tags %s, run untagged jobs\n", strings.Join(c.GitLab.Tags, ", "))
	w("# off, maximum job timeout %d seconds (%s). Put its token in a secret:\n", c.GitLab.MaximumTimeout, o.MaxTimeout)
	w("#   kubectl -n ws-runner create secret generic %s \\\n", helmTokenSecret)
	w("#     --from-literal=runner-token=glrt-... --from-literal=runner-registration-token=\n")
	w("gitlabUrl: %s\n", yamlString(c.GitLab.URL+"/"))
	w("# Every open workspace holds a job slot for hours.\n")
	w("concurrent: %d\n", c.Concurrent)
	w("# The session server works with one replica only.\n")
	w("replicas: 1\n")
	w("rbac:\n")
	w("  create: true\n")
	w("# GitLab's own job terminal, a fallback to 'ws shell'. GitLab connects to the\n")
	w("# service on externalPort; without a load balancer provider a LoadBalancer\n")
	w("# service stays Pending: use NodePort and publicIP then.\n")
	w("sessionServer:\n")
	w("  enabled: true\n")
	w("  timeout: %d\n", c.SessionServer.SessionTimeout)
	_, internalPort, _ := net.SplitHostPort(c.SessionServer.ListenAddress)
	w("  internalPort: %s\n", internalPort)
	externalPort := strconv.Itoa(helmExternalPort)
	if o.advertiseSet {
		host, port, _ := net.SplitHostPort(c.SessionServer.AdvertiseAddress)
		externalPort = port
		w("  externalPort: %s\n", externalPort)
		w("  publicIP: %s\n", yamlString(host))
	} else {
		w("  externalPort: %s\n", externalPort)
	}
	w("  serviceType: %s\n", o.ServiceType)
	w("runners:\n")
	w("  secret: %s\n", helmTokenSecret)
	w("  config: |\n")
	w("    [[runners]]\n")
	renderExecutorTOML(&b, o, "      ")
	return b.String()
}

func mustDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// tomlString quotes s as a TOML basic string; validate has rejected
// control characters, so escaping quote and backslash is enough.
func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// yamlString quotes s as a YAML double-quoted scalar (a JSON string is one).
func yamlString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func isDNSLabel(s string) bool {
	if len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// quantityRE matches the Kubernetes quantities people write for CPU and
// memory: a decimal number with an optional m, k, M, G, T, Ki, Mi, Gi or Ti suffix.
var quantityRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)

func isQuantity(s string) bool {
	return quantityRE.MatchString(s) && strings.Trim(s, "0.mkMGTi") != ""
}
