package status

import (
	"time"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/local"
)

// FromLocal converts a workspace started by 'ws up --local'.
func FromLocal(s local.Summary, now time.Time) Workspace {
	w := Workspace{Name: s.Name, Branch: "", State: s.Status, Local: true, Mode: s.Mode, Dir: s.ProjectDir,
		Agent: "unknown", Attach: cmdutil.NewAttach(s.Name, nil, nil, nil), Warnings: []string{}}
	switch s.Status { // the supervisor's state follows its agent
	case local.StatusRunning:
		w.Agent = "connected"
	case local.StatusStarting:
		w.Agent = "waiting"
	}
	if s.Error != "" {
		w.Warnings = append(w.Warnings, s.Error)
	}
	if !s.StartedAt.IsZero() {
		w.AgeSeconds = int64(now.Sub(s.StartedAt).Seconds())
	}
	return w
}

// findLocal returns the local workspace called name, if there is one.
func findLocal(getenv func(string) string, now time.Time, name string) (*Workspace, bool, error) {
	all, err := local.List(getenv)
	if err != nil {
		return nil, false, err
	}
	for _, s := range all {
		if s.Name == name {
			w := FromLocal(s, now)
			return &w, true, nil
		}
	}
	return nil, false, nil
}
