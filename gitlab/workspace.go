package gitlab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/ws-dev/ws/internal/names"
)

// BranchPrefix starts every workspace branch: workspace NAME lives on ws/NAME.
const BranchPrefix = names.BranchPrefix

// DefaultConfigPath is where GitLab reads CI config unless the project
// sets another path.
const DefaultConfigPath = ".gitlab-ci.yml"

// Branch returns the branch of workspace name.
func Branch(name string) string { return BranchPrefix + name }

// Pipeline is the part of a GitLab pipeline ws reports.
type Pipeline struct {
	ID        int64     `json:"id"`
	Status    string    `json:"status"`
	Ref       string    `json:"ref"`
	SHA       string    `json:"sha"`
	WebURL    string    `json:"url"`
	CreatedAt time.Time `json:"createdAt"`
}

// Job is the part of a GitLab job ws reports.
type Job struct {
	ID            int64      `json:"id"`
	Name          string     `json:"name"`
	Status        string     `json:"status"`
	Stage         string     `json:"stage,omitempty"`
	WebURL        string     `json:"url"`
	Tags          []string   `json:"tags"`
	FailureReason string     `json:"failureReason,omitempty"`
	StartedAt     *time.Time `json:"startedAt,omitempty"`
	Runner        string     `json:"runner,omitempty"`
	// PipelineStatus is the job's pipeline's status when the job was read
	// (GitLab sends it with every job); 'ws up' reports it.
	PipelineStatus string `json:"-"`
}

// Active reports whether a pipeline or job status means it can still run.
func Active(status string) bool {
	switch status {
	case "created", "waiting_for_resource", "preparing", "pending", "running",
		"scheduled", "waiting_for_callback", "canceling":
		return true
	}
	return false
}

// Final reports whether a job or pipeline status will not change any more.
func Final(status string) bool {
	switch status {
	case "success", "failed", "canceled", "skipped":
		return true
	}
	return false
}

// State summarises a workspace from its job status (and the pipeline's
// when no job was found): starting, running, stopping, stopped, failed,
// or none when it was never launched.
func State(p *Pipeline, j *Job) string {
	status := ""
	switch {
	case j != nil:
		status = j.Status
	case p != nil:
		status = p.Status
	default:
		return "none"
	}
	switch status {
	case "running":
		return "running"
	case "canceling":
		return "stopping"
	case "failed":
		return "failed"
	case "success", "canceled", "skipped", "manual":
		return "stopped"
	default:
		return "starting"
	}
}

func toPipeline(p *gl.Pipeline) *Pipeline {
	if p == nil {
		return nil
	}
	out := &Pipeline{ID: p.ID, Status: p.Status, Ref: p.Ref, SHA: p.SHA, WebURL: p.WebURL}
	if p.CreatedAt != nil {
		out.CreatedAt = p.CreatedAt.UTC()
	}
	return out
}

func fromInfo(p *gl.PipelineInfo) *Pipeline {
	out := &Pipeline{ID: p.ID, Status: p.Status, Ref: p.Ref, SHA: p.SHA, WebURL: p.WebURL}
	if p.CreatedAt != nil {
		out.CreatedAt = p.CreatedAt.UTC()
	}
	return out
}

func toJob(j *gl.Job) *Job {
	if j == nil {
		return nil
	}
	out := &Job{ID: j.ID, Name: j.Name, Status: j.Status, Stage: j.Stage, WebURL: j.WebURL,
		Tags: j.TagList, FailureReason: j.FailureReason, StartedAt: j.StartedAt, Runner: j.Runner.Description,
		PipelineStatus: j.Pipeline.Status}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out
}

// IsStopJob reports whether a job is a workspace's environment stop job:
// a manual job whose name says stop (the compiler names it so).
func IsStopJob(j *Job) bool {
	return strings.Contains(strings.ToLower(j.Name), "stop")
}

// WorkspaceJobName is the name the compiler gives the workspace job.
const WorkspaceJobName = names.WorkspaceJob

// workspaceJob picks the workspace job of a pipeline: the job named
// "workspace", else the last job that is not the stop job (helper jobs
// such as ws-agent run in earlier stages).
func workspaceJob(jobs []*gl.Job) *Job {
	var best *Job
	for _, j := range jobs {
		jj := toJob(j)
		if jj.Name == WorkspaceJobName {
			return jj
		}
		if IsStopJob(jj) {
			continue
		}
		if best == nil || jj.ID > best.ID {
			best = jj
		}
	}
	return best
}

func stopJob(jobs []*gl.Job) *Job {
	for _, j := range jobs {
		jj := toJob(j)
		if IsStopJob(jj) {
			return jj
		}
	}
	return nil
}

// parallel runs fns at once and returns the first error in fns order. ws
// uses it so that independent requests cost one round-trip, not several.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pipelinesOnRef lists the newest pipelines of ref, newest first.
func (c *Client) pipelinesOnRef(ctx context.Context, project, ref string, n int64) ([]*Pipeline, error) {
	ps, _, err := call(ctx, c, "list pipelines of "+ref, func(o ...gl.RequestOptionFunc) ([]*gl.PipelineInfo, *gl.Response, error) {
		return c.api.Pipelines.ListProjectPipelines(project, &gl.ListProjectPipelinesOptions{
			ListOptions: gl.ListOptions{PerPage: n},
			Ref:         gl.Ptr(ref),
			OrderBy:     gl.Ptr("id"),
			Sort:        gl.Ptr("desc"),
		}, o...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Pipeline, 0, len(ps))
	for _, p := range ps {
		out = append(out, fromInfo(p))
	}
	return out, nil
}

func (c *Client) pipelineJobs(ctx context.Context, project string, id int64) ([]*gl.Job, error) {
	jobs, _, err := call(ctx, c, fmt.Sprintf("list jobs of pipeline %d", id), func(o ...gl.RequestOptionFunc) ([]*gl.Job, *gl.Response, error) {
		return c.api.Jobs.ListPipelineJobs(project, id, &gl.ListJobsOptions{ListOptions: gl.ListOptions{PerPage: 100}}, o...)
	})
	return jobs, err
}

// getBranch returns the branch, or nil when it does not exist.
func (c *Client) getBranch(ctx context.Context, project, branch string) (*gl.Branch, error) {
	b, _, err := call(ctx, c, "get branch "+branch, func(o ...gl.RequestOptionFunc) (*gl.Branch, *gl.Response, error) {
		return c.api.Branches.GetBranch(project, branch, o...)
	})
	if IsKind(err, KindNotFound) {
		return nil, nil
	}
	return b, err
}
