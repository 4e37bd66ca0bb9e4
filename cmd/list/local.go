package list

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ws-dev/ws/cmd/status"
	"github.com/ws-dev/ws/local"
)

// listLocal returns the workspaces started by 'ws up --local' (not with
// -R, which names a GitLab project) from the current repository (or
// directory), and how many others --all would add.
func listLocal(opts *ListOptions, now time.Time) (shown []status.Workspace, hidden int) {
	if opts.Project != "" {
		return nil, 0
	}
	all, err := local.List(opts.Factory.Getenv)
	if err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %v\n", err)
		return nil, 0
	}
	here := ""
	if s, err := opts.Factory.Config(); err == nil && s.Repo != nil {
		here = s.Repo.Root
	} else if dir, err := opts.Factory.WorkDir(); err == nil {
		here = dir
	}
	for _, s := range all {
		if !opts.All && here != "" && s.ProjectDir != "" && !within(s.ProjectDir, here) {
			hidden++
			continue
		}
		shown = append(shown, status.FromLocal(s, now))
	}
	return shown, hidden
}

// within reports whether dir is root or below it.
func within(dir, root string) bool {
	rel, err := filepath.Rel(root, dir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
