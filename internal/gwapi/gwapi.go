// Package gwapi holds the JSON shapes of the ws gateway's HTTP API, shared by
// the server (gateway) and its client (gwclient) so that neither imports the
// other. docs/gateway.md ("API") describes each.
package gwapi

import "time"

// WorkspaceStatus is the JSON of GET /api/v1/workspaces/{project}/{name}.
type WorkspaceStatus struct {
	ID          string           `json:"id"` // <project-id>/<name>
	ProjectID   int64            `json:"project_id"`
	Project     string           `json:"project"`
	Name        string           `json:"name"`
	User        string           `json:"user"`
	Connected   bool             `json:"connected"`
	ConnectedAt time.Time        `json:"connected_at"`
	JobID       int64            `json:"job_id"`
	PipelineID  int64            `json:"pipeline_id"`
	Phase       string           `json:"phase,omitempty"`
	Error       string           `json:"error,omitempty"`
	Agent       string           `json:"agent_version,omitempty"`
	TerminalURL string           `json:"terminal_url"`
	Endpoints   []EndpointStatus `json:"endpoints"`
	// SSHHostKey is the host key of the workspace's SSH server (authorized_keys form), as
	// its agent announced it; empty when it has none.
	SSHHostKey string `json:"ssh_host_key,omitempty"`
	// WorkingDir is where its shells start: the project's checkout in the job.
	WorkingDir string `json:"working_dir,omitempty"`
}

// EndpointStatus is one endpoint in a WorkspaceStatus.
type EndpointStatus struct {
	Name     string `json:"name"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol,omitempty"`
	Exposure string `json:"exposure,omitempty"`
	URL      string `json:"url"`      // the advertised form
	HostURL  string `json:"host_url"` // https://<port>-<name>--<project-id>.<domain>/
	PathURL  string `json:"path_url"` // https://<gateway>/w/<project-id>/<name>/<port>/
}

// LinkRequest is the body of POST /api/v1/links (or its query or form fields).
type LinkRequest struct {
	Project string `json:"project"` // id, full path, or empty for your only workspace of that name
	Name    string `json:"name"`
}

// Link is the answer of POST /api/v1/links.
type Link struct {
	URL string `json:"url"` // single-use sign-in link to the workspace's terminal page
}

// Error is the body of every refusal: a code (the status text in snake case) and, where it
// helps, a message for the user.
type Error struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}
