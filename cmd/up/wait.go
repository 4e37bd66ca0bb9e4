package up

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/config"
)

// AgentProbe tells whether a workspace's agent has connected to the
// gateway. The gateway is another component; NewAgentProbe can be
// replaced (tests, other gateways).
type AgentProbe interface {
	// Connected reports whether the agent of workspace name is connected.
	// ErrProbeUnsupported means the gateway cannot tell: the step is skipped.
	Connected(ctx context.Context, project, name string) (bool, error)
}

// ErrProbeUnsupported means the gateway has no workspace status endpoint.
var ErrProbeUnsupported = errors.New("gateway has no workspace status endpoint")

// NewAgentProbe returns the probe for a gateway; nil when none is configured.
var NewAgentProbe = func(s config.Settings) AgentProbe {
	if !s.Gateway.Set() {
		return nil
	}
	return &httpProbe{base: s.Gateway.Value, token: s.Token.Value, hc: &http.Client{Timeout: 10 * time.Second}}
}

// httpProbe asks GET <gateway>/api/v1/workspaces/<project>/<name>, which
// answers {"connected": true|false, ...} once the agent is connected and
// 404 {"error":"not_found"} before; a 404 without that body or a 405
// means the gateway has no such endpoint.
type httpProbe struct {
	base, token string
	hc          *http.Client
}

func (h *httpProbe) Connected(ctx context.Context, project, name string) (bool, error) {
	u := fmt.Sprintf("%s/api/v1/workspaces/%s/%s", h.base, url.PathEscape(project), url.PathEscape(name))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("PRIVATE-TOKEN", h.token)
	resp, err := h.hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("ask gateway %s: %w", h.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		// The ws gateway answers 404 with a JSON error body while no agent
		// of this workspace is connected yet; anything else without that
		// body has no such endpoint.
		var e struct {
			Error string `json:"error"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e) == nil && e.Error == "not_found" {
			return false, nil
		}
		return false, ErrProbeUnsupported
	}
	if resp.StatusCode == http.StatusMethodNotAllowed {
		return false, ErrProbeUnsupported
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("ask gateway %s: %s", h.base, resp.Status)
	}
	var v struct {
		Connected bool `json:"connected"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v); err != nil {
		return false, fmt.Errorf("ask gateway %s: %w", h.base, err)
	}
	return v.Connected, nil
}

type waiter struct {
	opts     *UpOptions
	client   *gitlab.Client
	project  string
	name     string
	settings config.Settings
	p        *progress
	out      *Result
}

// wait polls the workspace job until it runs (and, with a gateway, until
// the agent connected), fails, or the wait times out.
func (w *waiter) wait(ctx context.Context) error {
	f := w.opts.Factory
	deadline := f.Now().Add(w.opts.WaitTimeout)
	probe := NewAgentProbe(w.settings)
	last := ""
	runnersChecked, resourceNoted := false, false
	for {
		job, err := w.client.PipelineJob(ctx, w.project, w.out.Pipeline.ID)
		if err != nil {
			return cmdutil.GitLabError(err)
		}
		if job != nil {
			w.out.Job = job
			w.out.State = gitlab.State(w.out.Pipeline, job)
			if job.Status != last {
				last = job.Status
				w.p.status(fmt.Sprintf("job %d (%s) %s", job.ID, job.Name, job.Status))
			}
			switch {
			case job.Status == "waiting_for_resource" && !resourceNoted:
				resourceNoted = true
				w.p.line(ResourceWait(w.name))
			case job.Status == "pending" && !runnersChecked:
				runnersChecked = true
				rc, err := w.client.CheckRunners(ctx, w.project, job.Tags)
				if err != nil {
					return cmdutil.GitLabError(err)
				}
				if warn := rc.Warning(); warn != "" {
					w.out.Warnings = append(w.out.Warnings, warn)
					w.p.warn(warn)
				}
			case job.Status == "running":
				if probe == nil {
					w.p.done()
					return nil
				}
				ok, err := probe.Connected(ctx, w.project, w.name)
				switch {
				case errors.Is(err, ErrProbeUnsupported):
					w.p.done()
					return nil
				case err != nil:
					w.p.warn(err.Error())
				case ok:
					w.out.Agent = "connected"
					w.p.status("agent connected")
					w.p.done()
					return nil
				default:
					w.out.Agent = "waiting"
					if last != "agent" {
						last = "agent"
						w.p.status("waiting for the agent to connect to the gateway")
					}
				}
			case gitlab.Final(job.Status) || job.Status == "manual":
				w.p.done()
				why := job.Status
				if job.FailureReason != "" {
					why += " (" + job.FailureReason + ")"
				}
				return &cmdutil.HintError{
					Err:  fmt.Errorf("workspace %s did not start: job %d %s", w.name, job.ID, why),
					Hint: fmt.Sprintf("read the job log with 'ws logs %s', or open %s", w.name, job.WebURL),
				}
			}
		}
		if !f.Now().Before(deadline) {
			w.p.done()
			return &cmdutil.HintError{
				Err:  fmt.Errorf("workspace %s is still %s after %s", w.name, w.out.State, w.opts.WaitTimeout),
				Hint: fmt.Sprintf("the pipeline keeps going; follow it with 'ws status %s' or raise --wait-timeout", w.name),
			}
		}
		if err := f.Sleep(ctx, f.PollInterval); err != nil {
			return err
		}
	}
}

// ResourceWait says why a workspace job waits for its resource group: the
// previous job of the workspace (a restart's canceled one) holds it until
// its after_script and uploads end (docs/launching.md, "Restart").
func ResourceWait(name string) string {
	return fmt.Sprintf("waiting for resource group ws/%s: the previous job of %s holds it until its after_script "+
		"(postStop; up to 5 min, RUNNER_AFTER_SCRIPT_TIMEOUT) and its cache and artifact uploads end", name, name)
}

// progress prints steps to stderr: one live, rewritten line on a TTY,
// plain lines otherwise. In JSON mode only warnings are printed.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	live  bool
}

func newProgress(ios *cmdutil.IOStreams, jsonOut bool) *progress {
	return &progress{w: ios.ErrOut, tty: ios.IsStderrTTY(), quiet: jsonOut}
}

func (p *progress) line(s string) {
	if p.quiet {
		return
	}
	p.done()
	fmt.Fprintln(p.w, s)
}

func (p *progress) status(s string) {
	if p.quiet {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K• %s", s)
		p.live = true
		return
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) warn(s string) {
	p.done()
	fmt.Fprintf(p.w, "warning: %s\n", s)
}

func (p *progress) done() {
	if p.live {
		fmt.Fprintln(p.w)
		p.live = false
	}
}
