// Package gitrepo reads what ws needs from the local git repository without
// running git: the origin remote (to find the GitLab project) and the
// current branch (the default --ref).
package gitrepo

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotRepo means no .git was found in the directory or its parents.
var ErrNotRepo = errors.New("not in a git repository")

// Repo is a git work tree.
type Repo struct {
	Root      string // the work tree
	GitDir    string // .git, or the worktree's git dir
	CommonDir string // where config lives (differs from GitDir in linked worktrees)
}

// Find looks for a repository at dir or above.
func Find(dir string) (*Repo, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for {
		p := filepath.Join(dir, ".git")
		if fi, err := os.Stat(p); err == nil {
			r := &Repo{Root: dir, GitDir: p, CommonDir: p}
			if !fi.IsDir() { // linked worktree or submodule: "gitdir: <path>"
				b, err := os.ReadFile(p)
				if err != nil {
					return nil, err
				}
				gd := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "gitdir:"))
				if !filepath.IsAbs(gd) {
					gd = filepath.Join(dir, gd)
				}
				r.GitDir, r.CommonDir = gd, gd
				if c, err := os.ReadFile(filepath.Join(gd, "commondir")); err == nil {
					cd := strings.TrimSpace(string(c))
					if !filepath.IsAbs(cd) {
						cd = filepath.Join(gd, cd)
					}
					r.CommonDir = filepath.Clean(cd)
				}
			}
			return r, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, ErrNotRepo
		}
		dir = parent
	}
}

// Branch returns the checked-out branch, or "" on a detached HEAD.
func (r *Repo) Branch() (string, error) {
	b, err := os.ReadFile(filepath.Join(r.GitDir, "HEAD"))
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	head := strings.TrimSpace(string(b))
	if ref, ok := strings.CutPrefix(head, "ref: refs/heads/"); ok {
		return ref, nil
	}
	return "", nil
}

// RemoteURL returns the URL of a remote from the repository's config.
func (r *Repo) RemoteURL(name string) (string, error) {
	f, err := os.Open(filepath.Join(r.CommonDir, "config"))
	if err != nil {
		return "", fmt.Errorf("read git config: %w", err)
	}
	defer f.Close()
	want := fmt.Sprintf(`[remote "%s"]`, name)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = strings.EqualFold(strings.ReplaceAll(line, " ", ""), strings.ReplaceAll(want, " ", ""))
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "url" {
			return strings.Trim(strings.TrimSpace(v), `"`), nil
		}
	}
	return "", fmt.Errorf("no remote %q in %s", name, filepath.Join(r.CommonDir, "config"))
}

// Remote is a GitLab project as named by a git remote URL.
type Remote struct {
	Host string // host name without port or user, e.g. gitlab.example.com
	Path string // group/subgroup/project, without .git
}

// ParseRemote understands https://host/group/p.git, ssh://git@host:22/group/p.git
// and the scp form git@host:group/p.git.
func ParseRemote(raw string) (Remote, error) {
	s := strings.TrimSpace(raw)
	var host, path string
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Remote{}, fmt.Errorf("cannot read remote URL %q", raw)
		}
		host, path = u.Hostname(), u.Path
	} else if at, rest, ok := strings.Cut(s, ":"); ok && !strings.Contains(at, "/") {
		host = at
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = host[i+1:]
		}
		path = rest
	} else {
		return Remote{}, fmt.Errorf("remote URL %q is not a GitLab project URL", raw)
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if host == "" || !strings.Contains(path, "/") {
		return Remote{}, fmt.Errorf("remote URL %q does not name a group/project", raw)
	}
	return Remote{Host: strings.ToLower(host), Path: path}, nil
}
