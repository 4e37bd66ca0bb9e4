// Package auth implements 'ws auth status': which GitLab host and token ws
// uses, where they came from, who the token belongs to and its scopes. The
// token itself is never printed.
package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// StatusOptions are the inputs of 'ws auth status'.
type StatusOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Debug   bool
	cmdutil.OutputFlags
}

// Result is the JSON shape of 'ws auth status'.
type Result struct {
	Host        string   `json:"host"`
	HostSource  string   `json:"hostSource"`
	TokenSource string   `json:"tokenSource"`
	User        string   `json:"user"`
	TokenName   string   `json:"tokenName,omitempty"`
	Scopes      []string `json:"scopes"` // null when GitLab does not say (not a personal access token)
	ExpiresAt   string   `json:"expiresAt,omitempty"`
	Warnings    []string `json:"warnings"`
}

// NewCmdAuth returns 'ws auth' with its subcommands.
func NewCmdAuth(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "auth <command>",
		Short:   "Check the GitLab token ws uses",
		Args:    cmdutil.UsageArgs("auth", cobra.NoArgs),
		RunE:    func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	opts := &StatusOptions{IO: f.IO, Factory: f}
	st := &cobra.Command{
		Use:   "status",
		Short: "Say which GitLab host and token are used, whose token it is and its scopes",
		Long: `Say which GitLab host and token ws uses and where each came from, whose token
it is and its scopes. The token itself is never printed.

The host comes from --host, GITLAB_HOST (or GITLAB_URI, GL_HOST),
CI_SERVER_URL inside a CI job, the git remote of the current repository
(url.<base>.insteadOf applied), glab's config, else https://gitlab.com. The
token comes from --token, GITLAB_TOKEN (or GITLAB_ACCESS_TOKEN, OAUTH_TOKEN),
else glab's login for that host: its config file or, where 'glab auth login'
put it, the OS keyring.`,
		Args: cmdutil.UsageArgs("auth status", cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return statusRun(c.Context(), opts)
		},
	}
	st.Flags().BoolVar(&opts.Debug, "debug", false, "print HTTP requests and responses to stderr, tokens redacted")
	cmdutil.AddOutputFlags(st, &opts.OutputFlags)
	cmd.AddCommand(st)
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	f := opts.Factory
	s, err := f.Config()
	if err != nil {
		return err
	}
	client, err := f.GitLab(opts.Debug)
	if err != nil {
		return err
	}
	info, err := client.Auth(ctx)
	if err != nil {
		return cmdutil.GitLabError(err)
	}
	out := &Result{Host: s.Host.Value, HostSource: s.Host.Source, TokenSource: s.Token.Source, User: info.Username,
		TokenName: info.TokenName, Scopes: info.Scopes, ExpiresAt: info.ExpiresAt, Warnings: []string{}}
	if !info.HasScope("api") {
		w := "the token lacks the api scope: ws up, restart and down will be refused (403)"
		out.Warnings = append(out.Warnings, w)
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", w)
	}
	if opts.JSON() {
		return opts.Write(opts.IO.Out, out)
	}
	o := opts.IO.Out
	fmt.Fprintf(o, "%s (from %s)\n", out.Host, out.HostSource)
	fmt.Fprintf(o, "  logged in as %s\n", out.User)
	fmt.Fprintf(o, "  token from %s\n", out.TokenSource)
	if out.Scopes != nil {
		fmt.Fprintf(o, "  token scopes: %s\n", strings.Join(out.Scopes, ", "))
	} else {
		fmt.Fprintf(o, "  token scopes: unknown (not a personal access token)\n")
	}
	if out.ExpiresAt != "" {
		fmt.Fprintf(o, "  token expires: %s\n", out.ExpiresAt)
	}
	return nil
}
