package gitlabtokens

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Fake is the GitLab a gateway talks to: it answers GET /api/v4/job for
// the job tokens in Jobs (JOB-TOKEN header) and GET /api/v4/user for the user
// tokens in Users (PRIVATE-TOKEN or Authorization: Bearer); any other token
// gets 401. Jobs may change while it serves, through SetJob.
type Fake struct {
	mu    sync.Mutex
	Jobs  map[string]Job
	Users map[string]User
	// Members gives access levels (40 maintainer) by project ID and user ID, answered
	// by GET /api/v4/projects/:id/members/all/:user_id to any known user token.
	Members map[int64]map[int64]int
	// Repos are the projects, by path, whose repositories are served over git's smart
	// HTTP from GitRoot/<path>.git (git.go).
	Repos   map[string]GitRepo
	GitRoot string
}

// Job is a CI job as GET /api/v4/job shows it.
type Job struct {
	ID          int64
	Status      string // running, canceled, ...
	Ref         string // ws/<name> for a workspace job
	PipelineID  int64
	ProjectID   int64
	ProjectPath string // group/app: the job's web_url names it
	User        User
}

// User is a GitLab user as GET /api/v4/user shows it.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
}

// SetJob adds or replaces the job of token tok.
func (t *Fake) SetJob(tok string, j Job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Jobs == nil {
		t.Jobs = map[string]Job{}
	}
	t.Jobs[tok] = j
}

// Handler serves the two endpoints.
func (t *Fake) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v4/job", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		j, ok := t.Jobs[r.Header.Get("JOB-TOKEN")]
		t.mu.Unlock()
		if !ok {
			tokenUnauthorized(w)
			return
		}
		type pipeline struct {
			ID        int64  `json:"id"`
			ProjectID int64  `json:"project_id"`
			Ref       string `json:"ref"`
			Status    string `json:"status"`
		}
		tokenJSON(w, struct {
			ID       int64    `json:"id"`
			Status   string   `json:"status"`
			Ref      string   `json:"ref"`
			WebURL   string   `json:"web_url"`
			Pipeline pipeline `json:"pipeline"`
			User     User     `json:"user"`
		}{j.ID, j.Status, j.Ref, "http://" + r.Host + "/" + j.ProjectPath + "/-/jobs/" + strconv.FormatInt(j.ID, 10),
			pipeline{j.PipelineID, j.ProjectID, j.Ref, j.Status}, j.User})
	})
	mux.HandleFunc("GET /api/v4/user", func(w http.ResponseWriter, r *http.Request) {
		u, ok := t.user(r)
		if !ok {
			tokenUnauthorized(w)
			return
		}
		tokenJSON(w, u)
	})
	mux.HandleFunc("GET /api/v4/projects/{id}/members/all/{uid}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := t.user(r); !ok {
			tokenUnauthorized(w)
			return
		}
		pid, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		uid, _ := strconv.ParseInt(r.PathValue("uid"), 10, 64)
		t.mu.Lock()
		lvl := t.Members[pid][uid]
		t.mu.Unlock()
		if lvl == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"404 Not found"}`))
			return
		}
		tokenJSON(w, map[string]any{"id": uid, "access_level": lvl})
	})
	mux.HandleFunc("/", t.gitHandler)
	return mux
}

// user is the owner of r's token (PRIVATE-TOKEN or Authorization: Bearer).
func (t *Fake) user(r *http.Request) (User, bool) {
	tok := r.Header.Get("PRIVATE-TOKEN")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.Users[tok]
	return u, ok && tok != ""
}

func tokenUnauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"message":"401 Unauthorized"}`))
}

func tokenJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
