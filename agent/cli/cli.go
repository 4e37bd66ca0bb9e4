// Package cli is the agent's command line, shared by the slim 'ws-agent'
// binary and the hidden 'ws agent' command of the full ws: the same flags,
// the same behaviour, none of ws's other dependencies.
package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/plan"
)

// Exit codes of the agent's command line.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Env is what the agent's command line reads from its process.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Self runs this binary's agent command line: [ws-agent] or [ws agent].
	Self []string
	// Version is reported to the gateway.
	Version string
	// Docker reports whether the agent runs in a Docker executor's build
	// container (/.dockerenv): it then starts the stop sentinel.
	Docker bool
}

const usage = `Usage: ws-agent [agent] [flags]
       ws-agent [agent] sentinel
       ws-agent [agent] inject
       ws-agent [agent] git-credential {get | store | erase}

Run inside the workspace job: read the plan from $WS_PLAN (or --plan), run
its postStart commands, dial the gateway with $CI_JOB_TOKEN and serve shells
and ports until the job is cancelled (SIGTERM: preStop runs), the idle
timeout, or the job's time limit (a clean stop, exit 0).

'--hook stop' is what after_script runs: preStop unless the agent already
ran it for this job, then postStop.
'sentinel' is started by the agent itself on the Docker executor.
'inject' is the command of the agent service (--agent-source service).
'git-credential' is the git credential helper of the workspace's sessions:
the job's token for the job's own project (docs/ssh.md).

Flags:
`

// Main runs the command line and returns the exit code. ctx ends the agent
// like SIGTERM does.
func Main(ctx context.Context, args []string, e Env) int {
	if len(args) > 0 && args[0] == "agent" {
		args = args[1:] // "$WS_BIN" agent ... works with ws and ws-agent alike
	}
	if len(args) > 0 {
		switch args[0] {
		case "sentinel":
			agent.RunSentinel(e.Stdin, e.Stdout)
			return ExitOK
		case "inject":
			return report(e.Stderr, Inject(ctx, e))
		case "git-credential":
			if len(args) != 2 {
				fmt.Fprintln(e.Stderr, "ws-agent: usage: ws-agent git-credential {get | store | erase}")
				return ExitUsage
			}
			return report(e.Stderr, agent.GitCredential(args[1], e.Stdin, e.Stdout, e.Getenv))
		}
	}
	fs := flag.NewFlagSet("ws-agent", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprint(e.Stderr, usage)
		fs.PrintDefaults()
	}
	var o options
	fs.StringVar(&o.planFile, "plan", "", "read the plan from `file` instead of $WS_PLAN")
	fs.StringVar(&o.hook, "hook", "", "run one stage (stop, postStop, preStop, postStart) and exit")
	fs.StringVar(&o.gateway, "gateway", "", "gateway `URL` (default: the plan's; env WS_AGENT_GATEWAY)")
	fs.StringVar(&o.idleTimeout, "idle-timeout", "", "stop after this long without shells or port traffic (default: the plan's; 0 disables)")
	fs.StringVar(&o.logFile, "log-file", "", "also write the log here (default $WS_AGENT_LOG or $TMPDIR/ws-agent.log)")
	fs.DurationVar(&o.maxBackoff, "max-backoff", 15*time.Second, "longest wait between reconnect attempts")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "ws-agent: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	err := run(ctx, o, e)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.Stderr, "ws-agent: %v\n", err)
		return ExitUsage
	}
	return report(e.Stderr, err)
}

type options struct {
	planFile, hook, gateway, idleTimeout, logFile string
	maxBackoff                                    time.Duration
}

type usageError struct{ error }

// hintError is an error with what to do about it.
type hintError struct {
	err  error
	hint string
}

func (h *hintError) Error() string { return h.err.Error() }

func report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(w, "ws-agent: %v\n", err)
	var he *hintError
	if errors.As(err, &he) {
		fmt.Fprintf(w, "hint: %s\n", he.hint)
	}
	return ExitError
}

func run(ctx context.Context, o options, e Env) error {
	p, err := loadPlan(o, e.Getenv)
	if err != nil {
		return err
	}
	cfg, err := Config(p, o, e)
	if err != nil {
		return err
	}
	a := agent.New(cfg)
	if o.hook != "" {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return a.RunHook(ctx, o.hook)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	_, err = a.Run(ctx)
	// Stopped: the runner's sweep may still reach this process (Docker);
	// it must not turn a clean stop into "killed by SIGTERM" on the way out.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	return err
}

// Config is the agent's configuration from the plan, the flags and the
// job's environment.
func Config(p *plan.Plan, o options, e Env) (agent.Config, error) {
	getenv := e.Getenv
	cfg := agent.Config{
		Plan:       p,
		Token:      getenv("CI_JOB_TOKEN"),
		Gateway:    p.Gateway,
		Out:        e.Stdout,
		LogFile:    o.logFile,
		MaxBackoff: o.maxBackoff,
		Version:    e.Version,
		// This process is the agent alone: every child is the workspace's.
		ReapOrphans: true,
	}
	if len(e.Self) > 0 {
		cfg.CredentialHelper = append(append([]string(nil), e.Self...), "git-credential")
	}
	if v := getenv("WS_AGENT_GATEWAY"); v != "" {
		cfg.Gateway = v
	}
	if o.gateway != "" {
		cfg.Gateway = o.gateway
	}
	if cfg.LogFile == "" {
		cfg.LogFile = getenv("WS_AGENT_LOG")
	}
	if cfg.LogFile == "" {
		cfg.LogFile = filepath.Join(os.TempDir(), "ws-agent.log")
	}
	idle := p.IdleTimeout
	if o.idleTimeout != "" {
		idle = o.idleTimeout
	}
	if idle != "" && idle != "0" {
		d, err := time.ParseDuration(idle)
		if err != nil || d < 0 {
			return cfg, usageError{fmt.Errorf("invalid idle timeout %q: want a duration like 30m, or 0", idle)}
		}
		cfg.IdleTimeout = d
	}
	if cfg.Gateway != "" && cfg.Token == "" && o.hook == "" {
		return cfg, &hintError{errors.New("CI_JOB_TOKEN is not set"), "ws agent runs inside a GitLab CI job; outside one, pass --gateway '' to run without a tunnel"}
	}
	if p.StopMargin != "" {
		margin, err := time.ParseDuration(p.StopMargin)
		if err != nil {
			return cfg, fmt.Errorf("plan: invalid stopMargin %q", p.StopMargin)
		}
		if d, ok := agent.JobDeadline(getenv("CI_JOB_STARTED_AT"), getenv("CI_JOB_TIMEOUT"), margin); ok {
			cfg.Deadline = d
		}
	}
	job := jobKey(getenv)
	if dir := getenv("CI_PROJECT_DIR"); dir != "" && job != "" {
		cfg.StopClaim = filepath.Join(dir, ".ws", "run", "prestop-"+job)
	}
	cfg.Cgroup = "ws-agent-" + strconv.Itoa(os.Getpid())
	if id := getenv("CI_JOB_ID"); id != "" {
		// after_script's '--hook stop' finds (and ends) what a killed agent
		// left in the same cgroup.
		cfg.Cgroup = "ws-job-" + id
	}
	switch getenv("WS_AGENT_SENTINEL") {
	case "1":
		cfg.Sentinel = append(append([]string{}, e.Self...), "sentinel")
	case "0":
	default:
		if e.Docker {
			cfg.Sentinel = append(append([]string{}, e.Self...), "sentinel")
		}
	}
	return cfg, nil
}

// jobKey names this job run: CI_JOB_ID, else (local workspaces) a digest of
// the job's token, which is new for every run; "" when neither is set.
func jobKey(getenv func(string) string) string {
	if id := getenv("CI_JOB_ID"); id != "" {
		return id
	}
	if t := getenv("CI_JOB_TOKEN"); t != "" {
		sum := sha256.Sum256([]byte(t))
		return hex.EncodeToString(sum[:8])
	}
	return ""
}

func loadPlan(o options, getenv func(string) string) (*plan.Plan, error) {
	var raw string
	switch {
	case o.planFile != "":
		b, err := os.ReadFile(o.planFile)
		if err != nil {
			return nil, fmt.Errorf("read plan: %w", err)
		}
		raw = string(b)
	case getenv(plan.EnvVar) != "":
		raw = getenv(plan.EnvVar)
	default:
		return nil, &hintError{fmt.Errorf("no workspace plan: $%s is empty", plan.EnvVar), "ws agent runs in the job 'ws compile' generates; pass --plan FILE to run it by hand"}
	}
	return plan.Decode(raw)
}

// Stdio is the Env of this process.
func Stdio(self []string, version string) Env {
	_, err := os.Stat("/.dockerenv")
	return Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Self: self, Version: version, Docker: err == nil}
}
