// Package gitrepo reads what ws needs from the local git repository by
// running git itself: the work tree, the current branch (the default
// --ref) and the remotes (to find the GitLab host and project), with
// url.<base>.insteadOf rewrites applied as git applies them.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// ErrNotRepo means dir is not inside a git work tree.
var ErrNotRepo = errors.New("not in a git repository")

// ErrNoGit means the git program is not installed.
var ErrNoGit = errors.New("git is not installed (ws runs git to read the repository's remotes and branch)")

// timeout bounds each git command; they only read local files.
const timeout = 10 * time.Second

// Repo is a git work tree.
type Repo struct {
	Root string // the top of the work tree
}

// git runs git in dir and returns its standard output without the final newline.
func git(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	// A fixed locale keeps git's messages stable; no pager, no prompt.
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if errors.Is(err, exec.ErrNotFound) {
		return "", ErrNoGit
	}
	if err != nil {
		msg := strings.TrimSpace(errOut.String())
		if strings.Contains(msg, "not a git repository") {
			return "", ErrNotRepo
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg == "" {
			return "", &exitError{args: args, code: ee.ExitCode()}
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), firstLine(msg, err))
	}
	return strings.TrimRight(out.String(), "\n"), nil
}

// exitError is git exiting non-zero without a message, which for
// 'git config --get-regexp' and 'git symbolic-ref --quiet' means "nothing".
type exitError struct {
	args []string
	code int
}

func (e *exitError) Error() string {
	return fmt.Sprintf("git %s: exit status %d", strings.Join(e.args, " "), e.code)
}

func firstLine(msg string, err error) string {
	if msg == "" {
		return err.Error()
	}
	l, _, _ := strings.Cut(msg, "\n")
	return strings.TrimPrefix(l, "fatal: ")
}

// Find returns the work tree that contains dir.
func Find(dir string) (*Repo, error) {
	root, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	if root == "" { // inside .git itself
		return nil, ErrNotRepo
	}
	return &Repo{Root: root}, nil
}

// Branch returns the checked-out branch, or "" on a detached HEAD.
func (r *Repo) Branch() (string, error) {
	b, err := git(r.Root, "symbolic-ref", "--quiet", "--short", "HEAD")
	var ee *exitError
	if errors.As(err, &ee) {
		return "", nil // detached HEAD
	}
	return b, err
}

// NamedRemote is one git remote.
type NamedRemote struct {
	Name string
	// URL is the fetch URL with url.<base>.insteadOf applied ('git remote get-url').
	URL string
	// Remote is URL read as a GitLab project; zero when Err is set.
	Remote Remote
	Err    error
}

// remoteOrder is the order remotes are considered in when several are on
// the GitLab host, as glab and gh do: upstream and origin before the rest.
var remoteOrder = map[string]int{"origin": 0, "upstream": 1, "gitlab": 2}

// Remotes returns the repository's remotes: origin, upstream, gitlab,
// then the others by name.
func (r *Repo) Remotes() ([]NamedRemote, error) {
	out, err := git(r.Root, "config", "--get-regexp", `^remote\..+\.url$`)
	var ee *exitError
	if errors.As(err, &ee) {
		return nil, nil // no remotes
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		key, _, _ := strings.Cut(line, " ")
		name := strings.TrimSuffix(strings.TrimPrefix(key, "remote."), ".url")
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		oi, iok := remoteOrder[names[i]]
		oj, jok := remoteOrder[names[j]]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return names[i] < names[j]
	})
	var remotes []NamedRemote
	for _, n := range names {
		u, err := git(r.Root, "remote", "get-url", n)
		if err != nil {
			return nil, err
		}
		nr := NamedRemote{Name: n, URL: u}
		nr.Remote, nr.Err = ParseRemote(u)
		remotes = append(remotes, nr)
	}
	return remotes, nil
}

// Remote is a GitLab project as named by a git remote URL.
type Remote struct {
	Host string // host name without port or user, e.g. gitlab.example.com
	Path string // group/subgroup/project, without .git
	// BaseURL is the GitLab instance the remote implies: the scheme, host
	// and port of an http(s) remote, https://HOST for an SSH one.
	BaseURL string
}

// ParseRemote understands https://host/group/p.git, ssh://git@host:22/group/p.git
// and the scp form git@host:group/p.git.
func ParseRemote(raw string) (Remote, error) {
	s := strings.TrimSpace(raw)
	var host, path, base string
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Remote{}, fmt.Errorf("cannot read remote URL %q", Redact(raw))
		}
		host, path = u.Hostname(), u.Path
		base = "https://" + strings.ToLower(host)
		if u.Scheme == "http" || u.Scheme == "https" {
			base = u.Scheme + "://" + strings.ToLower(u.Host)
		}
	} else if at, rest, ok := strings.Cut(s, ":"); ok && !strings.Contains(at, "/") {
		host = at
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = host[i+1:]
		}
		path = rest
		base = "https://" + strings.ToLower(host)
	} else {
		return Remote{}, fmt.Errorf("remote URL %q is not a GitLab project URL", Redact(raw))
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if host == "" || !strings.Contains(path, "/") {
		return Remote{}, fmt.Errorf("remote URL %q does not name a group/project", Redact(raw))
	}
	return Remote{Host: strings.ToLower(host), Path: path, BaseURL: base}, nil
}

// Redact drops a password from a URL (CI clones carry the job token in
// the remote: https://gitlab-ci-token:TOKEN@host/...).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}
