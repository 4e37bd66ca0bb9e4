package gitlab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// LaunchRequest describes one 'ws up' (or 'ws restart').
type LaunchRequest struct {
	Project string // group/name or numeric ID
	Name    string // workspace name; the branch is ws/<Name>
	Ref     string // branch ws/<Name> is created from
	Config  []byte // the generated CI config
	// Recreate cancels the workspace's active pipelines (and waits until
	// GitLab reports them stopped) before launching.
	Recreate bool
	// StopTimeout bounds the wait for canceled pipelines; 0 means 2m.
	StopTimeout time.Duration
	// PollInterval is the wait between two polls; 0 means 2s.
	PollInterval time.Duration
	// OnEvent, when set, is told about steps as they happen.
	OnEvent func(Event)
}

// Event is a step of a launch or stop, for progress output.
type Event struct {
	Kind     string // "canceling", "canceled", "still-canceling", "committed", "unchanged"
	Pipeline int64
	Message  string
}

// Launch outcomes.
const (
	ActionCreated        = "created"         // a new pipeline was created
	ActionAlreadyRunning = "already-running" // the same config runs already; nothing was created
	ActionRecreated      = "recreated"       // active pipelines were canceled, then a new one created
)

// LaunchResult is what a launch did.
type LaunchResult struct {
	Action     string
	Branch     string
	ConfigPath string
	Committed  bool
	Commit     string // head of the workspace branch
	Pipeline   *Pipeline
	Canceled   []int64 // pipelines canceled first (Recreate)
	Warnings   []string
}

// ErrRunningOtherConfig means the workspace runs from an older config and
// the caller did not ask to recreate it.
var ErrRunningOtherConfig = errors.New("workspace runs from another config")

// RunningError says which pipeline blocks a launch.
type RunningError struct {
	Name     string
	Pipeline *Pipeline
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("workspace %s is already running (pipeline %d, %s) from a different config", e.Name, e.Pipeline.ID, e.Pipeline.Status)
}

func (e *RunningError) Unwrap() error { return ErrRunningOtherConfig }

// launchState is what ws reads before deciding anything: one round of
// parallel requests.
type launchState struct {
	configPath string
	startHead  string
	ws         *gl.Branch // nil when ws/<name> does not exist
	wsFileSHA  string     // sha256 of the config on ws/<name>; "" when absent
	startHas   bool       // the config file exists on the start ref
	pipelines  []*Pipeline
}

// Launch commits req.Config to ws/<name> (only when it changed) and
// creates a pipeline there, unless the same config already runs.
//
// Sequential round-trips before the pipeline exists, for a fresh launch:
// (1) read state: project, start branch, workspace branch, the config file
// on both branches, recent pipelines — in parallel; (2) commit; (3) create
// the pipeline. A project with a custom CI config path adds one round to
// re-read the files. Recreate adds cancel and at least one poll.
func (c *Client) Launch(ctx context.Context, req LaunchRequest) (*LaunchResult, error) {
	branch := Branch(req.Name)
	st, err := c.readLaunchState(ctx, req.Project, req.Ref, branch)
	if err != nil {
		return nil, err
	}
	res := &LaunchResult{Branch: branch, ConfigPath: st.configPath, Action: ActionCreated}
	want := sha256Hex(req.Config)
	unchanged := st.ws != nil && st.wsFileSHA == want && st.ws.Commit != nil &&
		slices.Equal(st.ws.Commit.ParentIDs, []string{st.startHead})

	var active []*Pipeline
	for _, p := range st.pipelines {
		if Active(p.Status) {
			active = append(active, p)
		}
	}
	if len(active) > 0 && !req.Recreate {
		if unchanged && active[0].SHA == st.ws.Commit.ID {
			res.Action = ActionAlreadyRunning
			res.Commit = st.ws.Commit.ID
			res.Pipeline = active[0]
			return res, nil
		}
		return nil, &RunningError{Name: req.Name, Pipeline: active[0]}
	}
	if req.Recreate && len(active) > 0 {
		res.Action = ActionRecreated
		ids := make([]int64, len(active))
		for i, p := range active {
			ids[i] = p.ID
		}
		warn, err := c.cancelAndConfirm(ctx, req.Project, ids, req.StopTimeout, req.PollInterval, req.OnEvent)
		if err != nil {
			return nil, err
		}
		res.Canceled = ids
		res.Warnings = append(res.Warnings, warn...)
	}

	head := ""
	if unchanged {
		head = st.ws.Commit.ID
		emit(req.OnEvent, Event{Kind: "unchanged", Message: fmt.Sprintf("%s on %s is unchanged; no commit", st.configPath, branch)})
	} else {
		action := gl.FileCreate
		if st.startHas {
			action = gl.FileUpdate
		}
		commit, _, err := call(ctx, c, "commit "+st.configPath+" to "+branch, func(o ...gl.RequestOptionFunc) (*gl.Commit, *gl.Response, error) {
			return c.api.Commits.CreateCommit(req.Project, &gl.CreateCommitOptions{
				Branch:        gl.Ptr(branch),
				CommitMessage: gl.Ptr(CommitMessage(req.Name, req.Ref)),
				StartBranch:   gl.Ptr(req.Ref),
				Force:         gl.Ptr(true), // rewrite ws/<name> as one commit on top of --ref
				Stats:         gl.Ptr(false),
				Actions: []*gl.CommitActionOptions{{
					Action:   gl.Ptr(action),
					FilePath: gl.Ptr(st.configPath),
					Content:  gl.Ptr(string(req.Config)),
				}},
			}, o...)
		})
		if err != nil {
			return nil, pushError(err, branch)
		}
		head = commit.ID
		res.Committed = true
		emit(req.OnEvent, Event{Kind: "committed", Message: fmt.Sprintf("committed %s to %s (%s)", st.configPath, branch, short(head))})
	}
	res.Commit = head

	seen := make(map[int64]bool, len(st.pipelines))
	for _, p := range st.pipelines {
		seen[p.ID] = true
	}
	p, err := c.createPipeline(ctx, req.Project, branch, head, seen)
	if err != nil {
		return nil, err
	}
	res.Pipeline = p
	return res, nil
}

// CommitMessage is the message of a workspace commit. [skip ci] keeps the
// push itself from starting a pipeline; POST /pipeline ignores it.
func CommitMessage(name, ref string) string {
	return fmt.Sprintf("ws: workspace %s from %s [skip ci]", name, ref)
}

func (c *Client) readLaunchState(ctx context.Context, project, ref, branch string) (*launchState, error) {
	st := &launchState{configPath: DefaultConfigPath}
	var proj *gl.Project
	err := parallel(
		func() (err error) {
			proj, _, err = call(ctx, c, "get project "+project, func(o ...gl.RequestOptionFunc) (*gl.Project, *gl.Response, error) {
				return c.api.Projects.GetProject(project, nil, o...)
			})
			return err
		},
		func() error {
			b, err := c.getBranch(ctx, project, ref)
			if err != nil {
				return err
			}
			if b == nil || b.Commit == nil {
				return &Error{Op: "read --ref " + ref, Status: 404, Kind: KindNotFound,
					Message: fmt.Sprintf("branch %s not found in %s", ref, project),
					Hint:    "push the branch first, or pass --ref with an existing branch"}
			}
			st.startHead = b.Commit.ID
			return nil
		},
		func() (err error) { st.ws, err = c.getBranch(ctx, project, branch); return err },
		func() (err error) { st.wsFileSHA, err = c.fileSHA(ctx, project, st.configPath, branch); return err },
		func() (err error) {
			sha, err := c.fileSHA(ctx, project, st.configPath, ref)
			st.startHas = sha != ""
			return err
		},
		func() (err error) { st.pipelines, err = c.pipelinesOnRef(ctx, project, branch, 20); return err },
	)
	if err != nil {
		return nil, err
	}
	if p := strings.TrimPrefix(proj.CIConfigPath, "/"); p != "" && p != DefaultConfigPath {
		if strings.Contains(p, "@") || strings.Contains(p, "://") {
			return nil, &Error{Op: "launch in " + project, Kind: KindInvalid,
				Message: fmt.Sprintf("the project's CI/CD configuration file is %q, outside the repository", proj.CIConfigPath),
				Hint:    "ws commits its job to the repository's CI config file; set Settings > CI/CD > CI/CD configuration file to a path in the repository (or empty)"}
		}
		st.configPath = p
		err := parallel(
			func() (err error) { st.wsFileSHA, err = c.fileSHA(ctx, project, p, branch); return err },
			func() error {
				sha, err := c.fileSHA(ctx, project, p, ref)
				st.startHas = sha != ""
				return err
			},
		)
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// fileSHA returns the sha256 of path at ref, or "" when the file or the
// ref does not exist. It is a HEAD request: no content is transferred.
func (c *Client) fileSHA(ctx context.Context, project, path, ref string) (string, error) {
	f, _, err := call(ctx, c, "read "+path+" on "+ref, func(o ...gl.RequestOptionFunc) (*gl.File, *gl.Response, error) {
		return c.api.RepositoryFiles.GetFileMetaData(project, path, &gl.GetFileMetaDataOptions{Ref: gl.Ptr(ref)}, o...)
	})
	if IsKind(err, KindNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return f.SHA256, nil
}

// createPipeline creates one pipeline on branch. It never re-sends the
// POST after an ambiguous failure (5xx, no answer) before listing the
// pipelines of branch at sha: a pipeline not in seen is the one GitLab
// created, and it is adopted.
func (c *Client) createPipeline(ctx context.Context, project, branch, sha string, seen map[int64]bool) (*Pipeline, error) {
	op := "create pipeline on " + branch
	r := c.newRetrier()
	for {
		p, resp, err := c.api.Pipelines.CreatePipeline(project, &gl.CreatePipelineOptions{Ref: gl.Ptr(branch)}, gl.WithContext(ctx))
		if err == nil {
			return toPipeline(p), nil
		}
		if !transient(ctx, resp, err) {
			return nil, c.wrap(op, resp, err)
		}
		rateLimited := resp != nil && resp.Response != nil && resp.StatusCode == 429
		if !rateLimited {
			// The request may have been processed: look before re-sending.
			found, lerr := c.findNewPipeline(ctx, project, branch, sha, seen)
			if lerr == nil && found != nil {
				return found, nil
			}
		}
		if !r.next(ctx, resp) {
			return nil, c.wrap(op, resp, err)
		}
	}
}

func (c *Client) findNewPipeline(ctx context.Context, project, branch, sha string, seen map[int64]bool) (*Pipeline, error) {
	ps, _, err := call(ctx, c, "list pipelines of "+branch, func(o ...gl.RequestOptionFunc) ([]*gl.PipelineInfo, *gl.Response, error) {
		return c.api.Pipelines.ListProjectPipelines(project, &gl.ListProjectPipelinesOptions{
			ListOptions: gl.ListOptions{PerPage: 20},
			Ref:         gl.Ptr(branch),
			SHA:         gl.Ptr(sha),
			OrderBy:     gl.Ptr("id"),
			Sort:        gl.Ptr("desc"),
		}, o...)
	})
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if !seen[p.ID] {
			return fromInfo(p), nil
		}
	}
	return nil, nil
}

// cancelAndConfirm cancels pipelines and polls until GitLab reports each
// one final, because cancel answers 200 even when nothing was canceled.
// When they are still active after timeout it returns a warning: the new
// job then waits for the resource group.
func (c *Client) cancelAndConfirm(ctx context.Context, project string, ids []int64, timeout, interval time.Duration, on func(Event)) ([]string, error) {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	fns := make([]func() error, len(ids))
	for i, id := range ids {
		emit(on, Event{Kind: "canceling", Pipeline: id, Message: fmt.Sprintf("canceling pipeline %d", id)})
		fns[i] = func() error {
			_, _, err := call(ctx, c, fmt.Sprintf("cancel pipeline %d", id), func(o ...gl.RequestOptionFunc) (*gl.Pipeline, *gl.Response, error) {
				return c.api.Pipelines.CancelPipelineBuild(project, id, o...)
			})
			return err
		}
	}
	if err := parallel(fns...); err != nil {
		return nil, err
	}
	start := c.now()
	pending := slices.Clone(ids)
	for {
		statuses := make([]string, len(pending))
		fns := make([]func() error, len(pending))
		for i, id := range pending {
			fns[i] = func() error {
				p, _, err := call(ctx, c, fmt.Sprintf("get pipeline %d", id), func(o ...gl.RequestOptionFunc) (*gl.Pipeline, *gl.Response, error) {
					return c.api.Pipelines.GetPipeline(project, id, o...)
				})
				if err == nil {
					statuses[i] = p.Status
				}
				return err
			}
		}
		if err := parallel(fns...); err != nil {
			return nil, err
		}
		var still []int64
		for i, id := range pending {
			if Active(statuses[i]) {
				still = append(still, id)
			} else {
				emit(on, Event{Kind: "canceled", Pipeline: id, Message: fmt.Sprintf("pipeline %d %s", id, statuses[i])})
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil, nil
		}
		if c.now().Sub(start)+interval > timeout {
			var warns []string
			for _, id := range pending {
				w := fmt.Sprintf("pipeline %d is still stopping after %s", id, timeout)
				emit(on, Event{Kind: "still-canceling", Pipeline: id, Message: w})
				warns = append(warns, w)
			}
			return warns, nil
		}
		if err := c.sleep(ctx, interval); err != nil {
			return nil, err
		}
	}
}

// pushError explains a refused commit: a protected ws/* branch or missing
// push rights answer 403, or 400 with "not allowed to push".
func pushError(err error, branch string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	msg := strings.ToLower(e.Message)
	if strings.Contains(msg, "insufficient_scope") {
		return e // the token, not the branch: keep the auth hint
	}
	if e.Status == 403 || (e.Kind == KindInvalid && (strings.Contains(msg, "not allowed to") || strings.Contains(msg, "protected"))) {
		e.Kind = KindPushDenied
		e.Hint = fmt.Sprintf("ws pushes (and force-pushes) branch %s: you need at least the Developer role, and no protected-branch rule may match ws/* (or *) unless it allows your role to push and force-push", branch)
	}
	return e
}

func emit(on func(Event), e Event) {
	if on != nil {
		on(e)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}
