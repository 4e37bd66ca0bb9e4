package list

import (
	"fmt"
	"time"

	"github.com/ws-dev/ws/cmd/status"
	"github.com/ws-dev/ws/local"
)

// listLocal returns the workspaces started by 'ws up --local' (not with
// -R, which names a GitLab project).
func listLocal(opts *ListOptions, now time.Time) []status.Workspace {
	if opts.Project != "" {
		return nil
	}
	all, err := local.List(opts.Factory.Getenv)
	if err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %v\n", err)
		return nil
	}
	var out []status.Workspace
	for _, s := range all {
		out = append(out, status.FromLocal(s, now))
	}
	return out
}
