// Package gwclient builds the gateway client for the workspace commands
// (shell, port-forward, open) from flags, environment and config, and turns
// the gateway's refusals into errors with hints.
package gwclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/internal/config"
	"github.com/ws-dev/ws/local"
)

// Flags are the connection flags every workspace command takes.
type Flags struct {
	Project string
	Gateway string
}

// Add registers -R/--project and --gateway on cmd.
func (fl *Flags) Add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&fl.Project, "project", "R", "", "GitLab project (group/project or id); default: your only workspace of that name")
	cmd.Flags().StringVar(&fl.Gateway, "gateway", "", "ws gateway URL (default $WS_GATEWAY_URL)")
}

// Target is a resolved workspace and a client for its gateway.
type Target struct {
	Client  *gateway.Client
	Project string // "" lets the gateway pick the user's only workspace of that name
	Name    string
	// Local is set for a workspace started by 'ws up --local': Client
	// talks to its embedded gateway with the token from its state file.
	Local bool
}

// Resolve builds the client for workspace name: a local workspace of that
// name ('ws up --local') unless -R or --gateway is given, else the gateway
// configured for GitLab workspaces.
func Resolve(f *cmdutil.Factory, fl Flags, name string) (*Target, error) {
	if fl.Project == "" && fl.Gateway == "" {
		gw, tok, err := local.Lookup(f.Getenv, name)
		switch {
		case err == nil:
			return &Target{Client: &gateway.Client{BaseURL: gw, Token: tok, HTTP: http.DefaultClient}, Project: "-", Name: name, Local: true}, nil
		case errors.Is(err, local.ErrStopped):
			return nil, &cmdutil.HintError{Err: err, Hint: "start it with 'ws up --local', or name a GitLab workspace with -R group/project"}
		}
	}
	s, err := settings(f, fl)
	if err != nil {
		return nil, err
	}
	if !s.Gateway.Set() {
		return nil, &cmdutil.HintError{Err: errors.New("no ws gateway configured"),
			Hint: "set WS_GATEWAY_URL or pass --gateway https://ws.example.com (ask whoever runs your gateway)"}
	}
	if !s.Token.Set() {
		return nil, &cmdutil.AuthError{Err: errors.New("no GitLab token"), Hint: "set GITLAB_TOKEN (scope read_user or api), or sign in with glab ('glab auth login'), whose config ws reads"}
	}
	return &Target{Client: &gateway.Client{BaseURL: s.Gateway.Value, Token: s.Token.Value, HTTP: http.DefaultClient}, Project: fl.Project, Name: name}, nil
}

// detectProject names the project of the current git checkout, if any.
func detectProject(f *cmdutil.Factory) string {
	s, err := settings(f, Flags{})
	if err != nil {
		return ""
	}
	p, err := cmdutil.ResolveProject("", s)
	if err != nil {
		return ""
	}
	return p
}

// settings resolves the connection settings with the command's --gateway
// and the git remotes of the current directory.
func settings(f *cmdutil.Factory, fl Flags) (config.Settings, error) {
	cf := config.Flags{Host: f.ConfigFlags.Host, Token: f.ConfigFlags.Token, Gateway: fl.Gateway}
	if f.WorkDir != nil {
		if dir, err := f.WorkDir(); err == nil {
			cf.Dir = dir
		}
	}
	return config.Resolve(cf, f.Getenv)
}

// Connect opens a tunnel; when the name is ambiguous among the user's
// workspaces it retries with the project of the current checkout.
func (t *Target) Connect(ctx context.Context, f *cmdutil.Factory) (*gateway.Session, error) {
	s, err := t.Client.Connect(ctx, t.Project, t.Name)
	var se *gateway.StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict && t.Project == "" {
		if p := detectProject(f); p != "" {
			t.Project = p
			s, err = t.Client.Connect(ctx, t.Project, t.Name)
		}
	}
	if err != nil {
		return nil, t.Explain(err)
	}
	return s, nil
}

// Status returns the workspace's status, like Connect for ambiguity.
func (t *Target) Status(ctx context.Context, f *cmdutil.Factory) (*gateway.WorkspaceStatus, error) {
	st, err := t.Client.Status(ctx, t.Project, t.Name)
	var se *gateway.StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict && t.Project == "" {
		if p := detectProject(f); p != "" {
			t.Project = p
			st, err = t.Client.Status(ctx, t.Project, t.Name)
		}
	}
	if err != nil {
		return nil, t.Explain(err)
	}
	return st, nil
}

// Link mints a single-use sign-in link to the workspace's web terminal, like Connect for
// ambiguity.
func (t *Target) Link(ctx context.Context, f *cmdutil.Factory) (string, error) {
	l, err := t.Client.Link(ctx, t.Project, t.Name)
	var se *gateway.StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict && t.Project == "" {
		if p := detectProject(f); p != "" {
			t.Project = p
			l, err = t.Client.Link(ctx, t.Project, t.Name)
		}
	}
	if err != nil {
		return "", t.Explain(err)
	}
	return l, nil
}

// Explain adds hints to gateway errors.
func (t *Target) Explain(err error) error {
	var se *gateway.StatusError
	if t.Local {
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			return &cmdutil.HintError{Err: fmt.Errorf("local workspace %q: %w", t.Name, err), Hint: "its agent is not connected; see 'ws logs " + t.Name + "'"}
		}
		return &cmdutil.HintError{Err: fmt.Errorf("local workspace %q: %w", t.Name, err), Hint: "its supervisor may have stopped; see 'ws list' and 'ws logs " + t.Name + "'"}
	}
	if !errors.As(err, &se) {
		return &cmdutil.HintError{Err: err, Hint: "check WS_GATEWAY_URL and that the gateway is up (" + t.Client.BaseURL + "/healthz)"}
	}
	switch se.Status {
	case http.StatusUnauthorized:
		return &cmdutil.AuthError{Err: err, Hint: "set GITLAB_TOKEN to a valid token of the GitLab the gateway uses; 'ws auth status' shows which token ws sends"}
	case http.StatusForbidden:
		return &cmdutil.AuthError{Err: err, Hint: "ask the workspace's owner, or launch your own with 'ws up'"}
	case http.StatusNotFound:
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %q: %w", t.Name, err), Hint: "check 'ws status " + t.Name + "'; the job may still be starting, or launch it with 'ws up --name " + t.Name + "'"}
	case http.StatusConflict:
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %q exists in several projects", t.Name), Hint: "name the project with -R group/project"}
	}
	return err
}
