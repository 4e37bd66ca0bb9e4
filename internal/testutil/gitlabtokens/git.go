package gitlabtokens

import (
	"net/http"
	"net/http/cgi"
	"os/exec"
	"strings"
)

// GitRepo is a project whose repository the fake serves over git's smart HTTP protocol.
type GitRepo struct {
	ProjectID int64
	// JobTokenPush is the project's "Allow Git push requests to the repository" for job
	// tokens (ci_push_repository_for_job_token_allowed, GitLab 17.2+; off by default).
	JobTokenPush bool
}

// gitHandler serves /<project path>.git/... with the real 'git http-backend' from GitRoot
// (each project's bare repository at GitRoot/<path>.git), with GitLab's rules for who may
// read and push:
//   - a user token as the password (any username) has its user's access: read as a member,
//     push as a developer (access level 30) or more (Members);
//   - username gitlab-ci-token with a running job's token reads the job's own project, and
//     pushes to it only when that project allows it (JobTokenPush), as GitLab does;
//   - anything else: 401 with a Basic challenge (git then asks its credential helpers), 403
//     for a known credential without the right, 404 for an unknown project.
func (t *Fake) gitHandler(w http.ResponseWriter, r *http.Request) {
	path, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), ".git/")
	t.mu.Lock()
	repo, known := t.Repos[path]
	root := t.GitRoot
	t.mu.Unlock()
	if !ok || !known {
		http.NotFound(w, r)
		return
	}
	push := r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
	user, pass, hasAuth := r.BasicAuth()
	if !hasAuth {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
		http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
		return
	}
	allowed, who := false, ""
	t.mu.Lock()
	if j, isJob := t.Jobs[pass]; isJob && user == "gitlab-ci-token" {
		if j.Status == "running" && j.ProjectID == repo.ProjectID {
			allowed, who = !push || repo.JobTokenPush, j.User.Username
		} else if j.Status != "running" {
			hasAuth = false
		}
	} else if u, isUser := t.Users[pass]; isUser {
		lvl := t.Members[repo.ProjectID][u.ID]
		allowed, who = lvl >= 10 && (!push || lvl >= 30), u.Username
	} else {
		hasAuth = false
	}
	t.mu.Unlock()
	switch {
	case !hasAuth:
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
		http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
		return
	case !allowed:
		http.Error(w, "You are not allowed to upload code.", http.StatusForbidden)
		return
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		http.Error(w, "git not found", http.StatusInternalServerError)
		return
	}
	h := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		// REMOTE_USER turns receive-pack on in http-backend.
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + who},
	}
	h.ServeHTTP(w, r)
}
