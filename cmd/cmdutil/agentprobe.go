package cmdutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

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

// EndpointLister is an AgentProbe that also names the workspace's
// endpoints as its gateway serves them ('ws status' attach lines).
type EndpointLister interface {
	Endpoints(ctx context.Context, project, name string) ([]string, error)
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
	st, err := h.status(ctx, project, name)
	return st.Connected, err
}

// Endpoints returns the names of the endpoints the connected agent offers.
func (h *httpProbe) Endpoints(ctx context.Context, project, name string) ([]string, error) {
	st, err := h.status(ctx, project, name)
	var names []string
	for _, e := range st.Endpoints {
		if e.Exposure != "none" {
			names = append(names, e.Name)
		}
	}
	return names, err
}

type probeStatus struct {
	Connected bool `json:"connected"`
	Endpoints []struct {
		Name     string `json:"name"`
		Exposure string `json:"exposure"`
	} `json:"endpoints"`
}

func (h *httpProbe) status(ctx context.Context, project, name string) (probeStatus, error) {
	var st probeStatus
	u := fmt.Sprintf("%s/api/v1/workspaces/%s/%s", h.base, url.PathEscape(project), url.PathEscape(name))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("PRIVATE-TOKEN", h.token)
	resp, err := h.hc.Do(req)
	if err != nil {
		return st, fmt.Errorf("ask gateway %s: %w", h.base, errors.Unwrap(err))
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
			return st, nil
		}
		return st, ErrProbeUnsupported
	}
	if resp.StatusCode == http.StatusMethodNotAllowed {
		return st, ErrProbeUnsupported
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("ask gateway %s: %s", h.base, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return st, fmt.Errorf("ask gateway %s: %w", h.base, err)
	}
	return st, nil
}

// Attach says how to reach a workspace: the JSON 'attach' object of 'ws
// up', 'ws restart', 'ws status' and 'ws list' (docs/json.md).
type Attach struct {
	Shell string   `json:"shell"`
	Open  []string `json:"open"`
	URLs  []string `json:"urls"`
}

// NewAttach lists the commands and URLs that reach workspace name: its
// shell, 'ws open' for each endpoint, then the pipeline and job pages.
func NewAttach(name string, endpoints []string, p *gitlab.Pipeline, j *gitlab.Job) Attach {
	a := Attach{Shell: "ws shell " + name, Open: []string{}, URLs: []string{}}
	for _, e := range endpoints {
		a.Open = append(a.Open, fmt.Sprintf("ws open %s %s", name, e))
	}
	if p != nil && p.WebURL != "" {
		a.URLs = append(a.URLs, p.WebURL)
	}
	if j != nil && j.WebURL != "" {
		a.URLs = append(a.URLs, j.WebURL)
	}
	return a
}
