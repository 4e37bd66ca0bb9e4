// Package agent implements 'ws agent', the process the workspace job runs.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/agent"
	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/build"
	"github.com/ws-dev/ws/plan"
)

// AgentOptions are the inputs of 'ws agent'.
type AgentOptions struct {
	IO          *cmdutil.IOStreams
	Getenv      func(string) string
	PlanFile    string
	Hook        string
	Gateway     string
	IdleTimeout string
	LogFile     string
	MaxBackoff  time.Duration
}

// NewCmdAgent returns the hidden 'ws agent' command.
func NewCmdAgent(f *cmdutil.Factory, runF func(*AgentOptions) error) *cobra.Command {
	opts := &AgentOptions{IO: f.IO, Getenv: f.Getenv}
	cmd := &cobra.Command{
		GroupID: "admin",
		Use:     "agent",
		Short:   "Run the in-job workspace agent (started by the generated job)",
		Hidden:  true,
		Long: `Run inside the workspace job: read the plan from $WS_PLAN (or --plan), run its
postStart commands, dial the gateway with $CI_JOB_TOKEN and serve shells and
ports until the job is cancelled (SIGTERM runs preStop) or the idle timeout.

'ws agent --hook postStop' runs the postStop commands and exits (after_script).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return agentRun(c.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.PlanFile, "plan", "", "read the plan from `file` instead of $WS_PLAN")
	cmd.Flags().StringVar(&opts.Hook, "hook", "", "run one stage (postStop, preStop, postStart) and exit")
	cmd.Flags().StringVar(&opts.Gateway, "gateway", "", "gateway URL (default: the plan's; env WS_AGENT_GATEWAY)")
	cmd.Flags().StringVar(&opts.IdleTimeout, "idle-timeout", "", "stop after this long without shells or port traffic (default: the plan's; 0 disables)")
	cmd.Flags().StringVar(&opts.LogFile, "log-file", "", "also write the log here (default $WS_AGENT_LOG or /tmp/ws-agent.log)")
	cmd.Flags().DurationVar(&opts.MaxBackoff, "max-backoff", 15*time.Second, "longest wait between reconnect attempts")
	_ = cmd.Flags().MarkHidden("max-backoff")
	return cmd
}

func agentRun(ctx context.Context, opts *AgentOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := loadPlan(opts)
	if err != nil {
		return err
	}
	cfg := agent.Config{
		Plan:       p,
		Token:      opts.Getenv("CI_JOB_TOKEN"),
		Gateway:    p.Gateway,
		Out:        opts.IO.Out,
		LogFile:    opts.LogFile,
		MaxBackoff: opts.MaxBackoff,
		Version:    build.Version,
	}
	if v := opts.Getenv("WS_AGENT_GATEWAY"); v != "" {
		cfg.Gateway = v
	}
	if opts.Gateway != "" {
		cfg.Gateway = opts.Gateway
	}
	if cfg.LogFile == "" {
		cfg.LogFile = opts.Getenv("WS_AGENT_LOG")
	}
	if cfg.LogFile == "" {
		cfg.LogFile = os.TempDir() + "/ws-agent.log"
	}
	idle := p.IdleTimeout
	if opts.IdleTimeout != "" {
		idle = opts.IdleTimeout
	}
	if idle != "" && idle != "0" {
		d, err := time.ParseDuration(idle)
		if err != nil || d < 0 {
			return cmdutil.FlagErrorf("agent", "invalid idle timeout %q: want a duration like 30m, or 0", idle)
		}
		cfg.IdleTimeout = d
	}
	if cfg.Gateway != "" && cfg.Token == "" {
		return &cmdutil.HintError{Err: errors.New("CI_JOB_TOKEN is not set"), Hint: "ws agent runs inside a GitLab CI job; outside one, pass --gateway '' to run without a tunnel"}
	}
	a := agent.New(cfg)
	if opts.Hook != "" {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := a.RunHook(ctx, opts.Hook); err != nil {
			return err
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	_, err = a.Run(ctx)
	return err
}

func loadPlan(opts *AgentOptions) (*plan.Plan, error) {
	var raw string
	switch {
	case opts.PlanFile != "":
		b, err := os.ReadFile(opts.PlanFile)
		if err != nil {
			return nil, fmt.Errorf("read plan: %w", err)
		}
		raw = string(b)
	case opts.Getenv(plan.EnvVar) != "":
		raw = opts.Getenv(plan.EnvVar)
	default:
		return nil, &cmdutil.HintError{Err: fmt.Errorf("no workspace plan: $%s is empty", plan.EnvVar), Hint: "ws agent runs in the job 'ws compile' generates; pass --plan FILE to run it by hand"}
	}
	p, err := plan.Decode(raw)
	if err != nil {
		return nil, err
	}
	return p, nil
}
