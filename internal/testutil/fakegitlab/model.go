package fakegitlab

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Model is a small stateful GitLab project for end-to-end scenarios: ws up
// commits, creates pipelines, polls jobs, reads logs, cancels, and a second
// command sees what the first one did. Install registers its stubs.
type Model struct {
	mu sync.Mutex
	// Project is the project path, e.g. g/p.
	Project string
	// Workspace is the workspace name the scenario serves (branch ws/<name>).
	Workspace string
	// Jobs are the statuses the workspace job goes through, one per poll of
	// the pipeline's jobs; the last one sticks.
	Jobs []string
	// Tags are the workspace job's tags.
	Tags []string
	// Online is the number of online runners with the tags; -1 answers 403.
	Online int
	// Trace is the job log, growing by one chunk per read.
	Trace []string
	// CommitReplies are served to POST commits before it succeeds.
	CommitReplies []Reply
	// PipelineReplies are served to POST pipeline before it succeeds; a
	// reply with Status 0 and Body "created" creates the pipeline and still
	// answers 500 (an ambiguous failure).
	PipelineReplies []Reply
	// Running makes an earlier launch exist: the branch, its config and a
	// running pipeline (id 5), created from Content.
	Running bool
	Content string

	wsSHA, wsParent, content string
	pipelines                []*mPipeline
	commits, polls, reads    int
}

type mPipeline struct {
	id          int
	sha, status string
	stopPlayed  bool
}

const mainHead = "1111111111111111111111111111111111111111"

// Install registers the model's stubs on s.
func (m *Model) Install(s *Server) {
	if m.Project == "" {
		m.Project = "g/p"
	}
	if m.Workspace == "" {
		m.Workspace = "demo"
	}
	if m.Running {
		m.content = m.Content
		m.wsSHA, m.wsParent = Hex("old"), mainHead
		m.pipelines = append(m.pipelines, &mPipeline{id: 5, sha: m.wsSHA, status: "running"})
	}
	pp := "/projects/" + m.Project
	br := "ws/" + m.Workspace
	lock := func(f func(r *Request) Reply) func(r *Request) Reply {
		return func(r *Request) Reply { m.mu.Lock(); defer m.mu.Unlock(); return f(r) }
	}
	s.Stub(
		&Stub{Method: "GET", Path: pp, Times: Optional, Replies: []Reply{{Body: Project(1, m.Project, "")}}},
		&Stub{Method: "GET", Path: pp + "/repository/branches/main", Times: Optional, Replies: []Reply{{Body: Branch("main", mainHead)}}},
		&Stub{Method: "GET", Path: pp + "/repository/branches/" + br, Times: Optional, Fn: lock(func(*Request) Reply {
			if m.wsSHA == "" {
				return NotFound("Branch")
			}
			return Reply{Body: Branch(br, m.wsSHA, m.wsParent)}
		})},
		&Stub{Method: "HEAD", Path: pp + "/repository/files/.gitlab-ci.yml", Query: Q("ref", br), Times: Optional, Fn: lock(func(*Request) Reply {
			if m.wsSHA == "" {
				return Reply{Status: 404}
			}
			return FileHead(m.content, m.wsSHA)
		})},
		&Stub{Method: "HEAD", Path: pp + "/repository/files/.gitlab-ci.yml", Query: Q("ref", "main"), Times: Optional, Replies: []Reply{{Status: 404}}},
		&Stub{Method: "GET", Path: pp + "/pipelines", Query: Q("ref", br), Times: Optional, Fn: lock(func(r *Request) Reply {
			out := []any{}
			for i := len(m.pipelines) - 1; i >= 0; i-- {
				p := m.pipelines[i]
				if sha := r.Query.Get("sha"); sha != "" && sha != p.sha {
					continue
				}
				out = append(out, Pipeline(p.id, p.status, br, p.sha))
				if n, _ := strconv.Atoi(r.Query.Get("per_page")); n > 0 && len(out) == n {
					break
				}
			}
			return Reply{Body: out}
		})},
		&Stub{Method: "POST", Path: pp + "/repository/commits", Times: Optional, Fn: lock(func(r *Request) Reply {
			if m.commits < len(m.CommitReplies) {
				m.commits++
				return m.CommitReplies[m.commits-1]
			}
			m.commits++
			b := r.JSON()
			acts, _ := b["actions"].([]any)
			if b["branch"] != br || b["start_branch"] != "main" || b["force"] != true || len(acts) != 1 ||
				!strings.HasSuffix(fmt.Sprint(b["commit_message"]), "[skip ci]") {
				return Reply{Status: 400, Body: map[string]string{"message": "fake: unexpected commit " + string(r.Body)}}
			}
			a := acts[0].(map[string]any)
			if a["action"] != "create" || a["file_path"] != ".gitlab-ci.yml" {
				return Reply{Status: 400, Body: map[string]string{"message": "fake: unexpected action"}}
			}
			m.content = fmt.Sprint(a["content"])
			m.wsSHA, m.wsParent = Hex(fmt.Sprint("commit", m.commits)), mainHead
			return Reply{Status: 201, Body: map[string]any{"id": m.wsSHA, "parent_ids": []string{mainHead}}}
		})},
		&Stub{Method: "POST", Path: pp + "/pipeline", Times: Optional, Fn: lock(func(r *Request) Reply {
			if b := r.JSON(); b["ref"] != br || len(b) != 1 {
				return Reply{Status: 400, Body: map[string]string{"message": "fake: unexpected pipeline body " + string(r.Body)}}
			}
			if len(m.PipelineReplies) > 0 {
				rep := m.PipelineReplies[0]
				m.PipelineReplies = m.PipelineReplies[1:]
				if rep.Body == "created" {
					m.newPipeline()
					rep.Body = `{"message":"502 Bad Gateway"}`
				}
				return rep
			}
			p := m.newPipeline()
			return Reply{Status: 201, Body: Pipeline(p.id, p.status, br, p.sha)}
		})},
		&Stub{Method: "GET", Path: pp + "/pipelines/*/jobs", Times: Optional, Fn: lock(func(r *Request) Reply {
			p := m.pipeline(r.Path)
			if p == nil {
				return NotFound("")
			}
			st := p.status
			if p.status == "running" && len(m.Jobs) > 0 && p.id != 5 {
				st = m.Jobs[min(m.polls, len(m.Jobs)-1)]
				m.polls++
			}
			stop := "manual"
			if p.stopPlayed {
				stop = "pending"
			}
			return Reply{Body: []any{Job(p.id*10+2, p.id, "ws-stop", stop), Job(p.id*10+1, p.id, "workspace", st, m.Tags...), Job(p.id*10, p.id, "ws-agent", "success")}}
		})},
		&Stub{Method: "GET", Path: pp + "/pipelines/*", Times: Optional, Fn: lock(func(r *Request) Reply {
			p := m.pipeline(r.Path)
			if p == nil {
				return NotFound("")
			}
			return Reply{Body: Pipeline(p.id, p.status, br, p.sha)}
		})},
		&Stub{Method: "POST", Path: pp + "/pipelines/*/cancel", Times: Optional, Fn: lock(func(r *Request) Reply {
			p := m.pipeline(r.Path)
			if p == nil {
				return NotFound("")
			}
			if Active(p.status) {
				p.status = "canceled"
			}
			return Reply{Body: Pipeline(p.id, p.status, br, p.sha)}
		})},
		&Stub{Method: "POST", Path: pp + "/jobs/*/play", Times: Optional, Fn: lock(func(r *Request) Reply {
			for _, p := range m.pipelines {
				if strings.HasSuffix(r.Path, fmt.Sprintf("/jobs/%d/play", p.id*10+2)) {
					p.stopPlayed = true
					return Reply{Body: Job(p.id*10+2, p.id, "ws-stop", "pending")}
				}
			}
			return NotFound("")
		})},
		&Stub{Method: "GET", Path: pp + "/jobs/*/trace", Times: Optional, Fn: lock(func(*Request) Reply {
			m.reads++
			return Reply{Body: strings.Join(m.Trace[:min(m.reads, len(m.Trace))], ""), Header: map[string]string{"Content-Type": "text/plain"}}
		})},
		&Stub{Method: "GET", Path: pp + "/jobs/*", Times: Optional, Fn: lock(func(r *Request) Reply {
			st := "running"
			if m.reads >= len(m.Trace) {
				st = "success"
			}
			id, _ := strconv.Atoi(r.Path[strings.LastIndex(r.Path, "/")+1:])
			return Reply{Body: Job(id, id/10, "workspace", st, m.Tags...)}
		})},
		// Other workspaces do not exist.
		&Stub{Method: "GET", Path: pp + "/repository/branches/ws/*", Times: Optional, Replies: []Reply{NotFound("Branch")}},
		&Stub{Method: "GET", Path: pp + "/pipelines", Times: Optional, Replies: []Reply{{Body: []any{}}}},
		&Stub{Method: "GET", Path: pp + "/runners", Times: Optional, Fn: lock(func(*Request) Reply {
			if m.Online < 0 {
				return Reply{Status: 403, Body: map[string]string{"message": "403 Forbidden"}}
			}
			out := []any{}
			for i := 0; i < m.Online; i++ {
				out = append(out, map[string]any{"id": i + 1, "online": true, "status": "online"})
			}
			return Reply{Body: out}
		})},
		&Stub{Method: "GET", Path: pp + "/repository/branches", Query: Q("search", "^ws/"), Times: Optional, Fn: lock(func(*Request) Reply {
			out := []any{}
			if m.wsSHA != "" {
				out = append(out, Branch(br, m.wsSHA, m.wsParent))
			}
			return Reply{Body: out}
		})},
		&Stub{Method: "DELETE", Path: pp + "/repository/branches/" + br, Times: Optional, Fn: lock(func(*Request) Reply {
			m.wsSHA = ""
			return Reply{Status: 204}
		})},
	)
}

// Pipelines returns how many pipelines exist on the workspace branch.
func (m *Model) Pipelines() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pipelines)
}

func (m *Model) newPipeline() *mPipeline {
	p := &mPipeline{id: 7 + len(m.pipelines), sha: m.wsSHA, status: "running"}
	if m.Running {
		p.id = 8
	}
	m.pipelines = append(m.pipelines, p)
	return p
}

func (m *Model) pipeline(path string) *mPipeline {
	i := strings.Index(path, "/pipelines/")
	if i < 0 {
		return nil
	}
	idS, _, _ := strings.Cut(path[i+len("/pipelines/"):], "/")
	id, _ := strconv.Atoi(idS)
	for _, p := range m.pipelines {
		if p.id == id {
			return p
		}
	}
	return nil
}

// Active mirrors gitlab.Active for the fake.
func Active(status string) bool {
	switch status {
	case "created", "waiting_for_resource", "preparing", "pending", "running", "scheduled", "canceling":
		return true
	}
	return false
}
