package up

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/gitrepo"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/local"
)

// upLocal is 'ws up --local': the compiled workspace job runs on this
// machine under a supervisor with an embedded gateway (package local).
func upLocal(ctx context.Context, opts *UpOptions, dir string, res *pipeline.Result, name string) error {
	devfile := res.Devfile
	if !filepath.IsAbs(devfile) {
		devfile = filepath.Join(dir, devfile)
	}
	// The job works on the repository itself, as a developer would: the
	// git work tree around the devfile, else the devfile's directory.
	project := filepath.Dir(devfile)
	if r, err := gitrepo.Find(project); err == nil {
		project = r.Root
	}
	text := opts.Output != cmdutil.OutputJSON
	lr, err := local.Up(ctx, local.UpOptions{
		Name: name, Pipeline: res.Pipeline, Plan: res.Plan, ProjectDir: project, Devfile: devfile,
		Getenv: opts.Factory.Getenv, Wait: opts.WaitTimeout,
		Progress: func(s string) { fmt.Fprintln(opts.IO.ErrOut, s) },
	})
	if err != nil {
		if le, ok := err.(*local.Error); ok {
			return &cmdutil.HintError{Err: le.Err, Hint: le.Hint}
		}
		return err
	}
	if !text {
		return cmdutil.WriteJSON(opts.IO.Out, lr)
	}
	for _, w := range lr.Warnings {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", w)
	}
	fmt.Fprintf(opts.IO.Out, "%s is running locally (%s mode). Attach with:\n", name, lr.Mode)
	for _, a := range lr.Attach {
		fmt.Fprintf(opts.IO.Out, "  %s\n", a)
	}
	if len(lr.Published) > 0 {
		fmt.Fprintln(opts.IO.Out, "Endpoints published on this host:")
		for _, p := range lr.Published {
			fmt.Fprintf(opts.IO.Out, "  %s: %s (port %d/%s)\n", p.Name, p.Address, p.TargetPort, p.Proto)
		}
	}
	return nil
}
