package gitlab

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// Workspace is one workspace as GitLab shows it: its branch, the newest
// pipeline on it and that pipeline's workspace job.
type Workspace struct {
	Name     string
	Branch   string
	Commit   string // head of the branch; "" when the branch is gone
	Pipeline *Pipeline
	Job      *Job
	StopJob  *Job
}

// State is [State] of the workspace.
func (w *Workspace) State() string { return State(w.Pipeline, w.Job) }

// ErrNoWorkspace reports a workspace with neither a branch nor a pipeline.
type ErrNoWorkspace struct{ Name, Project string }

func (e *ErrNoWorkspace) Error() string {
	return fmt.Sprintf("no workspace named %s in %s (no branch %s)", e.Name, e.Project, Branch(e.Name))
}

// Status reads one workspace: two parallel requests (branch, pipelines),
// then the newest pipeline's jobs.
func (c *Client) Status(ctx context.Context, project, name string) (*Workspace, error) {
	w := &Workspace{Name: name, Branch: Branch(name)}
	var (
		b  *gl.Branch
		ps []*Pipeline
	)
	err := parallel(
		func() (err error) { b, err = c.getBranch(ctx, project, w.Branch); return err },
		func() (err error) { ps, err = c.pipelinesOnRef(ctx, project, w.Branch, 1); return err },
	)
	if err != nil {
		return nil, err
	}
	if b == nil && len(ps) == 0 {
		return nil, &Error{Op: "status of " + name, Kind: KindNotFound, Err: &ErrNoWorkspace{Name: name, Project: project},
			Hint: "'ws list' shows the workspaces of the project"}
	}
	if b != nil && b.Commit != nil {
		w.Commit = b.Commit.ID
	}
	if len(ps) > 0 {
		w.Pipeline = ps[0]
		jobs, err := c.pipelineJobs(ctx, project, w.Pipeline.ID)
		if err != nil {
			return nil, err
		}
		w.Job = workspaceJob(jobs)
		w.StopJob = stopJob(jobs)
	}
	return w, nil
}

// List reads every ws/* workspace: the branches, then the newest pipeline
// of each and its jobs (at most 8 requests at a time).
func (c *Client) List(ctx context.Context, project string) ([]*Workspace, error) {
	var branches []*gl.Branch
	for page := int64(1); ; page++ {
		bs, resp, err := call(ctx, c, "list ws/* branches", func(o ...gl.RequestOptionFunc) ([]*gl.Branch, *gl.Response, error) {
			return c.api.Branches.ListBranches(project, &gl.ListBranchesOptions{
				ListOptions: gl.ListOptions{PerPage: 100, Page: page},
				Search:      gl.Ptr("^" + BranchPrefix),
			}, o...)
		})
		if err != nil {
			return nil, err
		}
		branches = append(branches, bs...)
		if resp == nil || resp.NextPage == 0 {
			break
		}
	}
	var out []*Workspace
	for _, b := range branches {
		if !strings.HasPrefix(b.Name, BranchPrefix) {
			continue
		}
		w := &Workspace{Name: strings.TrimPrefix(b.Name, BranchPrefix), Branch: b.Name}
		if b.Commit != nil {
			w.Commit = b.Commit.ID
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *Workspace) int { return strings.Compare(a.Name, b.Name) })
	sem := make(chan struct{}, 8)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for _, w := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := func() error {
				ps, err := c.pipelinesOnRef(ctx, project, w.Branch, 1)
				if err != nil || len(ps) == 0 {
					return err
				}
				w.Pipeline = ps[0]
				jobs, err := c.pipelineJobs(ctx, project, w.Pipeline.ID)
				if err != nil {
					return err
				}
				w.Job = workspaceJob(jobs)
				w.StopJob = stopJob(jobs)
				return nil
			}()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// StopRequest describes one 'ws down'.
type StopRequest struct {
	Project      string
	Name         string
	DeleteBranch bool
	StopTimeout  time.Duration // 0 means 2m
	PollInterval time.Duration // 0 means 2s
	OnEvent      func(Event)
}

// StopResult is what a stop did.
type StopResult struct {
	Canceled      []int64
	StopJob       *Job // the environment stop job that was played, if any
	BranchDeleted bool
	Warnings      []string
}

// Stop cancels every active pipeline of the workspace, confirms by polling,
// plays the environment stop job of the newest pipeline (a manual job is not
// canceled with its pipeline and can still be played), and deletes the
// branch when asked.
func (c *Client) Stop(ctx context.Context, req StopRequest) (*StopResult, error) {
	branch := Branch(req.Name)
	var (
		b  *gl.Branch
		ps []*Pipeline
	)
	err := parallel(
		func() (err error) { b, err = c.getBranch(ctx, req.Project, branch); return err },
		func() (err error) { ps, err = c.pipelinesOnRef(ctx, req.Project, branch, 20); return err },
	)
	if err != nil {
		return nil, err
	}
	if b == nil && len(ps) == 0 {
		return nil, &Error{Op: "stop " + req.Name, Kind: KindNotFound, Err: &ErrNoWorkspace{Name: req.Name, Project: req.Project},
			Hint: "'ws list' shows the workspaces of the project"}
	}
	res := &StopResult{}
	var ids []int64
	for _, p := range ps {
		if Active(p.Status) {
			ids = append(ids, p.ID)
		}
	}
	var stop *Job
	err = parallel(
		func() error {
			if len(ids) == 0 {
				return nil
			}
			warn, err := c.cancelAndConfirm(ctx, req.Project, ids, req.StopTimeout, req.PollInterval, req.OnEvent)
			res.Warnings = append(res.Warnings, warn...)
			return err
		},
		func() error {
			if len(ps) == 0 {
				return nil
			}
			jobs, err := c.pipelineJobs(ctx, req.Project, ps[0].ID)
			stop = stopJob(jobs)
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	res.Canceled = ids
	if stop != nil && stop.Status == "manual" {
		j, _, err := call(ctx, c, fmt.Sprintf("play stop job %d", stop.ID), func(o ...gl.RequestOptionFunc) (*gl.Job, *gl.Response, error) {
			return c.api.Jobs.PlayJob(req.Project, stop.ID, nil, o...)
		})
		if err != nil {
			return nil, err
		}
		res.StopJob = toJob(j)
		emit(req.OnEvent, Event{Kind: "stop-job", Message: fmt.Sprintf("started stop job %s (%d)", j.Name, j.ID)})
	}
	if req.DeleteBranch && b != nil {
		_, err := callNoRet(ctx, c, "delete branch "+branch, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
			return c.api.Branches.DeleteBranch(req.Project, branch, o...)
		})
		if err != nil {
			return nil, pushError(err, branch)
		}
		res.BranchDeleted = true
	}
	return res, nil
}

// Trace returns the whole log of a job; "" before the job wrote anything
// (GitLab answers 404 then).
func (c *Client) Trace(ctx context.Context, project string, jobID int64) ([]byte, error) {
	r, _, err := call(ctx, c, fmt.Sprintf("read log of job %d", jobID), func(o ...gl.RequestOptionFunc) (*bytes.Reader, *gl.Response, error) {
		return c.api.Jobs.GetTraceFile(project, jobID, o...)
	})
	if IsKind(err, KindNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b := make([]byte, r.Len())
	_, _ = r.Read(b)
	return b, nil
}

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, project string, id int64) (*Job, error) {
	j, _, err := call(ctx, c, fmt.Sprintf("get job %d", id), func(o ...gl.RequestOptionFunc) (*gl.Job, *gl.Response, error) {
		return c.api.Jobs.GetJob(project, id, o...)
	})
	return toJob(j), err
}

// PipelineJob returns the workspace job of a pipeline, nil while there is none.
func (c *Client) PipelineJob(ctx context.Context, project string, pipeline int64) (*Job, error) {
	jobs, err := c.pipelineJobs(ctx, project, pipeline)
	if err != nil {
		return nil, err
	}
	return workspaceJob(jobs), nil
}

// RunnerCheck is the answer to "can any online runner take this job?".
type RunnerCheck struct {
	Checked bool     // false when the token may not list runners (403)
	Online  int      // online, unpaused runners carrying every tag
	Tags    []string // the job's tags
	// Runners are those online runners ('ws doctor' reads their names).
	Runners []RunnerInfo
}

// RunnerInfo is what the project runners API shows of a runner to a
// non-admin: no executor, no tags.
type RunnerInfo struct {
	ID          int64
	Description string
	Type        string // instance_type, group_type or project_type
}

// Warning returns the warning to show, or "".
func (r RunnerCheck) Warning() string {
	if !r.Checked || r.Online > 0 || len(r.Tags) == 0 {
		return ""
	}
	return fmt.Sprintf("no online runner of this project has the tags %s; the job stays pending until one does", strings.Join(r.Tags, ", "))
}

// CheckRunners looks for an online, unpaused runner available to the
// project that has all of tags. Listing runners usually needs Maintainer:
// a 403 means "cannot check", not a failure.
func (c *Client) CheckRunners(ctx context.Context, project string, tags []string) (RunnerCheck, error) {
	res := RunnerCheck{Tags: tags}
	if len(tags) == 0 {
		return res, nil
	}
	rs, _, err := call(ctx, c, "list runners of "+project, func(o ...gl.RequestOptionFunc) ([]*gl.Runner, *gl.Response, error) {
		return c.api.Runners.ListProjectRunners(project, &gl.ListProjectRunnersOptions{
			ListOptions: gl.ListOptions{PerPage: 100},
			Status:      gl.Ptr("online"),
			Paused:      gl.Ptr(false),
			TagList:     &tags,
		}, o...)
	})
	var e *Error
	if err != nil && asError(err, &e) && (e.Status == 403 || e.Status == 401) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Checked = true
	res.Online = len(rs)
	for _, r := range rs {
		res.Runners = append(res.Runners, RunnerInfo{ID: r.ID, Description: r.Description, Type: r.RunnerType})
	}
	return res, nil
}

// AuthInfo is who the token belongs to and what it may do.
type AuthInfo struct {
	ID        int64
	IsAdmin   bool // GitLab shows is_admin to administrators only
	Username  string
	Name      string
	Scopes    []string // nil when unknown (not a personal access token)
	ExpiresAt string   // YYYY-MM-DD, "" when it never expires or is unknown
	TokenName string
}

// HasScope reports whether scope is among the token's scopes; true when unknown.
func (a *AuthInfo) HasScope(s string) bool {
	return a.Scopes == nil || slices.Contains(a.Scopes, s)
}

// Auth checks the token: GET /user and GET /personal_access_tokens/self,
// in parallel. The second one fails for OAuth and job tokens; its scopes
// are then unknown.
func (c *Client) Auth(ctx context.Context) (*AuthInfo, error) {
	var (
		u   *gl.User
		pat *gl.PersonalAccessToken
	)
	err := parallel(
		func() (err error) {
			u, _, err = call(ctx, c, "check token", func(o ...gl.RequestOptionFunc) (*gl.User, *gl.Response, error) {
				return c.api.Users.CurrentUser(o...)
			})
			return err
		},
		func() error {
			pat, _, _ = call(ctx, c, "read token scopes", func(o ...gl.RequestOptionFunc) (*gl.PersonalAccessToken, *gl.Response, error) {
				return c.api.PersonalAccessTokens.GetSinglePersonalAccessToken(o...)
			})
			return nil
		},
	)
	if err != nil {
		return nil, err
	}
	info := &AuthInfo{ID: u.ID, IsAdmin: u.IsAdmin, Username: u.Username, Name: u.Name}
	if pat != nil {
		info.Scopes = pat.Scopes
		if info.Scopes == nil {
			info.Scopes = []string{}
		}
		info.TokenName = pat.Name
		if pat.ExpiresAt != nil {
			info.ExpiresAt = pat.ExpiresAt.String()
		}
	}
	return info, nil
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}
