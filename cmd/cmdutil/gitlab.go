package cmdutil

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/config"
	"github.com/ws-dev/ws/internal/gitrepo"
)

// GitLabFlags are the flags every GitLab command shares.
type GitLabFlags struct {
	Project string // -R/--project
	Debug   bool   // --debug
	Output  string // --output
}

// AddGitLabFlags adds -R/--project, --debug and --output to cmd.
func AddGitLabFlags(cmd *cobra.Command, fl *GitLabFlags) {
	cmd.Flags().StringVarP(&fl.Project, "project", "R", "", "GitLab project as group/name or numeric ID (default: from the git remote 'origin')")
	cmd.Flags().BoolVar(&fl.Debug, "debug", false, "print HTTP requests and responses to stderr, tokens redacted")
	AddOutputFlag(cmd, &fl.Output)
}

// ResolveProject returns the project from -R, else from the origin remote
// of the repository at dir, whose host must be the configured GitLab host.
func ResolveProject(flag, dir string, s config.Settings) (string, error) {
	if flag != "" {
		if _, err := strconv.Atoi(flag); err == nil || strings.Contains(strings.Trim(flag, "/"), "/") {
			return strings.Trim(flag, "/"), nil
		}
		return "", &FlagError{Err: fmt.Errorf("invalid --project %q: want group/name or a numeric ID", flag)}
	}
	repo, err := gitrepo.Find(dir)
	if err != nil {
		return "", &HintError{Err: errors.New("no GitLab project: not in a git repository"), Hint: "pass -R group/name, or run ws inside a clone of the project"}
	}
	u, err := repo.RemoteURL("origin")
	if err != nil {
		return "", &HintError{Err: fmt.Errorf("no GitLab project: %w", err), Hint: "pass -R group/name"}
	}
	r, err := gitrepo.ParseRemote(u)
	if err != nil {
		return "", &HintError{Err: err, Hint: "pass -R group/name"}
	}
	host := hostName(s.Host.Value)
	if r.Host != host {
		return "", &HintError{
			Err:  fmt.Errorf("the origin remote is on %s but the GitLab host is %s (%s)", r.Host, host, s.Host.Source),
			Hint: fmt.Sprintf("export GITLAB_HOST=https://%s, or pass -R group/name for a project on %s", r.Host, host),
		}
	}
	return r.Path, nil
}

// CurrentBranch returns the checked-out branch of the repository at dir, or "".
func CurrentBranch(dir string) string {
	repo, err := gitrepo.Find(dir)
	if err != nil {
		return ""
	}
	b, _ := repo.Branch()
	return b
}

func hostName(h string) string {
	h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	if i := strings.LastIndex(h, ":"); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}

// GitLabError turns a gitlab.Error into the error type that gives the
// right exit code: 4 with a hint for auth, 1 with a hint otherwise.
func GitLabError(err error) error {
	var e *gitlab.Error
	if !errors.As(err, &e) {
		return err
	}
	if e.Kind == gitlab.KindAuth {
		return &AuthError{Err: err, Hint: e.Hint}
	}
	if e.Hint != "" {
		return &HintError{Err: err, Hint: e.Hint}
	}
	return err
}

// ProjectClient resolves the project (see ResolveProject) and builds the
// GitLab client; what every workspace command does first.
func ProjectClient(f *Factory, fl GitLabFlags) (string, *gitlab.Client, error) {
	dir, err := f.WorkDir()
	if err != nil {
		return "", nil, err
	}
	s, err := f.Config()
	if err != nil {
		return "", nil, err
	}
	project, err := ResolveProject(fl.Project, dir, s)
	if err != nil {
		return "", nil, err
	}
	c, err := f.GitLab(fl.Debug)
	return project, c, err
}

// Age formats how long ago t was: 45s, 12m, 3h, 2d.
func Age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "-"
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
