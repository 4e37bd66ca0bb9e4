// Package logs implements 'ws logs': the workspace job's log, and with -f
// follows it until the job ends.
package logs

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gitlab"
)

// LogsOptions are the inputs of 'ws logs'.
type LogsOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Name    string // "" means the default workspace (cmdutil.ResolveName)
	Follow  bool
	Quiet   bool
	cmdutil.GitLabFlags
}

// Result is the JSON shape of 'ws logs --output json'.
type Result struct {
	Name  string      `json:"name"`
	Job   *gitlab.Job `json:"job"`
	Log   string      `json:"log"`
	Bytes int         `json:"bytes"`
}

// Line is one object of 'ws logs -f --output json': a line of the log
// ("line", without its newline), then, once the job ended, an object with
// "done": true and the job's final status.
type Line struct {
	Name   string  `json:"name"`
	Job    int64   `json:"job"`
	Line   *string `json:"line,omitempty"`
	Done   bool    `json:"done,omitempty"`
	Status string  `json:"status,omitempty"`
}

// NewCmdLogs returns 'ws logs'.
func NewCmdLogs(f *cmdutil.Factory, runF func(*LogsOptions) error) *cobra.Command {
	opts := &LogsOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "logs [NAME] [-f]",
		Short:   "Print the workspace job's log",
		Long: `Print the log of the workspace job of NAME's newest pipeline. With -f, keep
printing what the job appends until it ends (GitLab has no range request:
ws re-reads the log and prints from its own byte offset).

With --output json the whole log is one object; with -f it is a stream of
one JSON object per line of the log, then one with "done": true
(docs/json.md). NAME defaults as for 'ws status'.`,
		Example: `  $ ws logs demo -f
  $ ws logs -f --output json | jq -r .line`,
		Args: cmdutil.UsageArgs("logs", cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return logsRun(c.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "follow the log until the job ends")
	cmd.Flags().BoolVar(&opts.Quiet, "quiet", false, "print only the log: no final job status line")
	cmdutil.AddGitLabFlags(cmd, &opts.GitLabFlags)
	cmd.ValidArgsFunction = cmdutil.CompleteWorkspaces(f, &opts.Project)
	return cmd
}

func logsRun(ctx context.Context, opts *LogsOptions) error {
	f := opts.Factory
	name, err := cmdutil.ResolveName(ctx, f, "logs", opts.Name, opts.Project)
	if err != nil {
		return err
	}
	opts.Name = name
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
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %s has no job yet", opts.Name), Hint: "launch it with 'ws up --name " + opts.Name + "'"}
	}
	job := w.Job
	var out io.Writer = opts.IO.Out
	var lines *lineWriter
	if opts.JSON() && opts.Follow {
		lines = &lineWriter{opts: opts, job: job.ID}
		out = lines
	}
	offset := 0
	for {
		trace, err := client.Trace(ctx, project, job.ID)
		if err != nil {
			return cmdutil.GitLabError(err)
		}
		if !opts.Follow {
			if opts.JSON() {
				return opts.Write(opts.IO.Out, &Result{Name: opts.Name, Job: job, Log: string(trace), Bytes: len(trace)})
			}
			_, err := opts.IO.Out.Write(trace)
			return err
		}
		if len(trace) < offset { // the log was erased or truncated: start over
			offset = 0
		}
		if len(trace) > offset {
			if _, err := out.Write(trace[offset:]); err != nil {
				return err
			}
			offset = len(trace)
		}
		if gitlab.Final(job.Status) {
			// One last read after the job ended has been printed above.
			if lines != nil {
				return lines.end(job.Status)
			}
			if !opts.Quiet {
				fmt.Fprintf(opts.IO.ErrOut, "job %d %s\n", job.ID, opts.IO.ColorErr().State(job.Status))
			}
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

// lineWriter turns the log stream into one JSON object per complete line.
type lineWriter struct {
	opts    *LogsOptions
	job     int64
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(bytes.TrimSuffix(w.partial[:i], []byte("\r")))
		w.partial = w.partial[i+1:]
		if err := w.opts.WriteLine(w.opts.IO.Out, Line{Name: w.opts.Name, Job: w.job, Line: &line}); err != nil {
			return 0, err
		}
	}
}

// end flushes a last line without a newline and writes the final object.
func (w *lineWriter) end(status string) error {
	if len(w.partial) > 0 {
		line := string(w.partial)
		if err := w.opts.WriteLine(w.opts.IO.Out, Line{Name: w.opts.Name, Job: w.job, Line: &line}); err != nil {
			return err
		}
		w.partial = nil
	}
	return w.opts.WriteLine(w.opts.IO.Out, Line{Name: w.opts.Name, Job: w.job, Done: true, Status: status})
}
