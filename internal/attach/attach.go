// Package attach is how the workspace commands (shell, port-forward, open, ssh, config-ssh)
// reach a workspace: their connection flags, the workspace's name and gateway (a local
// workspace's embedded one, else the configured gateway with the user's token), one Dial
// that resolves both, and the gateway's refusals turned into errors with hints.
package attach

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/internal/config"
	"github.com/ws-dev/ws/internal/gwapi"
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
	Client  *gwclient.Client
	Project string // "" lets the gateway pick the user's only workspace of that name
	Name    string
	// Local is set for a workspace started by 'ws up --local': Client
	// talks to its embedded gateway with the token from its state file.
	Local bool
	f     *cmdutil.Factory // for the project of the current checkout
}

// Dial resolves the workspace command cmd names and the gateway that serves it: name, else
// the workspace of the devfile in the current directory, else the user's only workspace
// ([cmdutil.ResolveName]); then [Resolve]. It opens no connection: the Target's Tunnel,
// Status and Link do. Every workspace command starts here.
func Dial(ctx context.Context, f *cmdutil.Factory, cmd string, fl Flags, name string) (*Target, error) {
	name, err := cmdutil.ResolveName(ctx, f, cmd, name, fl.Project)
	if err != nil {
		return nil, err
	}
	return Resolve(f, fl, name)
}

// Resolve builds the client for workspace name: a local workspace of that
// name ('ws up --local') unless -R or --gateway is given, else the gateway
// configured for GitLab workspaces.
func Resolve(f *cmdutil.Factory, fl Flags, name string) (*Target, error) {
	if fl.Project == "" && fl.Gateway == "" {
		gw, tok, err := local.Lookup(f.Getenv, name)
		switch {
		case err == nil:
			return &Target{Client: &gwclient.Client{BaseURL: gw, Token: tok, HTTP: http.DefaultClient}, Project: "-", Name: name, Local: true, f: f}, nil
		case errors.Is(err, local.ErrStopped):
			return nil, &cmdutil.HintError{Err: err, Hint: "start it with 'ws up --local', or name a GitLab workspace with -R group/project"}
		}
	}
	c, _, err := Gateway(f, fl)
	if err != nil {
		return nil, err
	}
	return &Target{Client: c, Project: fl.Project, Name: name, f: f}, nil
}

// Gateway returns a client for the gateway configured for GitLab workspaces (--gateway, else
// WS_GATEWAY_URL or ws's config) with the user's GitLab token, and the settings it came from.
func Gateway(f *cmdutil.Factory, fl Flags) (*gwclient.Client, config.Settings, error) {
	s, err := settings(f, fl)
	if err != nil {
		return nil, s, err
	}
	if !s.Gateway.Set() {
		return nil, s, &cmdutil.HintError{Err: errors.New("no ws gateway configured"),
			Hint: "set WS_GATEWAY_URL or pass --gateway https://ws.example.com (ask whoever runs your gateway)"}
	}
	if !s.Token.Set() {
		return nil, s, &cmdutil.AuthError{Err: errors.New("no GitLab token"), Hint: "set GITLAB_TOKEN (scope read_user or api), or sign in with glab ('glab auth login'), whose config ws reads"}
	}
	return &gwclient.Client{BaseURL: s.Gateway.Value, Token: s.Token.Value, HTTP: http.DefaultClient}, s, nil
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

// Tunnel opens the CLI tunnel.
func (t *Target) Tunnel(ctx context.Context) (*gwclient.Session, error) {
	return retryAmbiguous(t, func(project string) (*gwclient.Session, error) { return t.Client.Connect(ctx, project, t.Name) })
}

// Status returns the workspace's status.
func (t *Target) Status(ctx context.Context) (*gwapi.WorkspaceStatus, error) {
	return retryAmbiguous(t, func(project string) (*gwapi.WorkspaceStatus, error) { return t.Client.Status(ctx, project, t.Name) })
}

// Link mints a single-use sign-in link to the workspace's web terminal.
func (t *Target) Link(ctx context.Context) (string, error) {
	return retryAmbiguous(t, func(project string) (string, error) { return t.Client.Link(ctx, project, t.Name) })
}

// retryAmbiguous calls call with the target's project; when the gateway answers that the
// name is ambiguous among the user's workspaces (409) and no project was named, it tries
// again with the project of the current checkout. Errors come with hints (Explain).
func retryAmbiguous[T any](t *Target, call func(project string) (T, error)) (T, error) {
	v, err := call(t.Project)
	var se *gwclient.StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict && t.Project == "" && t.f != nil {
		if p := detectProject(t.f); p != "" {
			t.Project = p
			v, err = call(t.Project)
		}
	}
	if err != nil {
		var zero T
		return zero, t.Explain(err)
	}
	return v, nil
}

// Explain adds hints to gateway errors.
func (t *Target) Explain(err error) error {
	var se *gwclient.StatusError
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

// CommandArgs makes cmd (the command verb: shell, ssh) take [NAME] [-- COMMAND...]: it checks
// that a command's words come after --, and turns a flag error caused by a command's own
// flags (ws VERB demo ls -l) into a hint saying so.
func CommandArgs(cmd *cobra.Command, verb string) {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if c.ArgsLenAtDash() > 1 || (c.ArgsLenAtDash() == -1 && len(args) > 1) {
			return cmdutil.FlagErrorf(verb, "put the command after --: ws %s %s -- %s", verb, args[0], strings.Join(args[1:], " "))
		}
		return nil
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if args := c.Flags().Args(); len(args) >= 2 && c.ArgsLenAtDash() == -1 {
			return cmdutil.FlagErrorf(verb, "%v\nhint: put the command after --, so ws does not read its flags: ws %s %s -- %s ...", err, verb, args[0], strings.Join(args[1:], " "))
		}
		return &cmdutil.FlagError{Cmd: verb, Err: err}
	})
}

// NameAndCommand splits the arguments of a command set up with CommandArgs.
func NameAndCommand(c *cobra.Command, args []string) (name string, command []string) {
	if c.ArgsLenAtDash() != 0 && len(args) > 0 {
		return args[0], args[1:]
	}
	return "", args
}
