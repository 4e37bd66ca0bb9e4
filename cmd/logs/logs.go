// Package logs implements 'ws logs': the workspace job's log, and with -f
// follows it until the job ends.
package logs

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gitlab"
)

// LogsOptions are the inputs of 'ws logs'.
type LogsOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Name    string
	Follow  bool
	cmdutil.GitLabFlags
}

// Result is the JSON shape of 'ws logs --output json'.
type Result struct {
	Name  string      `json:"name"`
	Job   *gitlab.Job `json:"job"`
	Log   string      `json:"log"`
	Bytes int         `json:"bytes"`
}

// NewCmdLogs returns 'ws logs'.
func NewCmdLogs(f *cmdutil.Factory, runF func(*LogsOptions) error) *cobra.Command {
	opts := &LogsOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "logs NAME [-f]",
		Short:   "Print the workspace job's log",
		Long: `Print the log of the workspace job of NAME's newest pipeline. With -f, keep
printing what the job appends until it ends (GitLab has no range request:
ws re-reads the log and prints from its own byte offset).`,
		Example: `  $ ws logs demo -f`,
		Args:    cmdutil.UsageArgs("logs", cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := cmdutil.CheckFormat("logs", "output", opts.Output); err != nil {
				return err
			}
			if opts.Follow && opts.Output == cmdutil.OutputJSON {
				return cmdutil.FlagErrorf("logs", "--follow and --output json cannot be combined")
			}
			if runF != nil {
				return runF(opts)
			}
			return logsRun(c.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "follow the log until the job ends")
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	return cmd
}

func logsRun(ctx context.Context, opts *LogsOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	f := opts.Factory
	if handled, err := logsLocal(ctx, opts); handled { // 'ws up --local'
		return err
	}
	project, client, err := cmdutil.ProjectClient(f, opts.GitLabFlags)
	if err != nil {
		return err
	}
	w, err := client.Status(ctx, project, opts.Name)
	if err != nil {
		return cmdutil.GitLabError(err)
	}
	if w.Job == nil {
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %s has no job yet", opts.Name), Hint: "launch it with 'ws up'"}
	}
	job := w.Job
	offset := 0
	for {
		trace, err := client.Trace(ctx, project, job.ID)
		if err != nil {
			return cmdutil.GitLabError(err)
		}
		if !opts.Follow {
			if opts.Output == cmdutil.OutputJSON {
				return cmdutil.WriteJSON(opts.IO.Out, &Result{Name: opts.Name, Job: job, Log: string(trace), Bytes: len(trace)})
			}
			_, err := opts.IO.Out.Write(trace)
			return err
		}
		if len(trace) < offset { // the log was erased or truncated: start over
			offset = 0
		}
		if len(trace) > offset {
			if _, err := opts.IO.Out.Write(trace[offset:]); err != nil {
				return err
			}
			offset = len(trace)
		}
		if gitlab.Final(job.Status) {
			// One last read after the job ended has been printed above.
			fmt.Fprintf(opts.IO.ErrOut, "job %d %s\n", job.ID, job.Status)
			return nil
		}
		if err := f.Sleep(ctx, f.PollInterval); err != nil {
			return err
		}
		if job, err = client.GetJob(ctx, project, job.ID); err != nil {
			return cmdutil.GitLabError(err)
		}
	}
}
