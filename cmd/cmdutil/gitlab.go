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
	OutputFlags
}

// AddGitLabFlags adds -R/--project, --debug, --output and --jq to cmd.
func AddGitLabFlags(cmd *cobra.Command, fl *GitLabFlags) {
	cmd.Flags().StringVarP(&fl.Project, "project", "R", "", "GitLab project as group/name or numeric ID (default: from the git remote on the GitLab host)")
	cmd.Flags().BoolVar(&fl.Debug, "debug", false, "print HTTP requests and responses to stderr, tokens redacted")
	AddOutputFlags(cmd, &fl.OutputFlags)
}

// ResolveProject returns the project from -R, else from the first git
// remote (origin, upstream, gitlab, then the others) on the configured
// GitLab host.
func ResolveProject(flag string, s config.Settings) (string, error) {
	if flag != "" {
		if _, err := strconv.Atoi(flag); err == nil || strings.Contains(strings.Trim(flag, "/"), "/") {
			return strings.Trim(flag, "/"), nil
		}
		return "", &FlagError{Err: fmt.Errorf("invalid --project %q: want group/name or a numeric ID", flag)}
	}
	if s.Repo == nil {
		if errors.Is(s.RepoErr, gitrepo.ErrNoGit) {
			return "", &HintError{Err: fmt.Errorf("no GitLab project: %w", s.RepoErr), Hint: "pass -R group/name, or install git"}
		}
		return "", &HintError{Err: errors.New("no GitLab project: not in a git repository"), Hint: "pass -R group/name, or run ws inside a clone of the project"}
	}
	if s.RepoErr != nil {
		return "", &HintError{Err: fmt.Errorf("no GitLab project: %w", s.RepoErr), Hint: "pass -R group/name"}
	}
	if len(s.Remotes) == 0 {
		return "", &HintError{Err: errors.New("no GitLab project: the repository has no remote"), Hint: "pass -R group/name, or add the project as remote origin"}
	}
	host := hostName(s.Host.Value)
	var seen []string
	for _, r := range s.Remotes {
		if r.Err == nil && r.Remote.Host == host {
			return r.Remote.Path, nil
		}
		where := "not a GitLab project URL"
		if r.Err == nil {
			where = r.Remote.Host
		}
		seen = append(seen, r.Name+" → "+where)
	}
	hint := fmt.Sprintf("pass -R group/name for a project on %s", host)
	if r := s.Remotes[0]; r.Err == nil {
		hint = fmt.Sprintf("export GITLAB_HOST=%s, or pass -R group/name for a project on %s", r.Remote.BaseURL, host)
	}
	return "", &HintError{
		Err:  fmt.Errorf("no git remote is on the GitLab host %s (%s): %s", host, s.Host.Source, strings.Join(seen, ", ")),
		Hint: hint,
	}
}

// CurrentBranch returns the checked-out branch of the repository, or "".
func CurrentBranch(s config.Settings) string {
	if s.Repo == nil {
		return ""
	}
	b, _ := s.Repo.Branch()
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
	s, err := f.Config()
	if err != nil {
		return "", nil, err
	}
	project, err := ResolveProject(fl.Project, s)
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
