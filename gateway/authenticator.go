package gateway

import (
	"context"
	"net/http"

	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/identity"
)

// Authenticator verifies the credentials agents and users present to the
// gateway. A refused credential is an error wrapping [identity.ErrTokenInvalid]
// (answered 401); any other error means the authority could not be asked
// (answered 502).
//
// [GitLabAuth] asks GitLab; 'ws up --local' plugs in a per-workspace secret
// (package local), so an embedded gateway needs no GitLab at all.
type Authenticator interface {
	// Job returns the job that owns an agent's job token. The gateway
	// accepts the agent only when the job is running on ref ws/<name>.
	Job(ctx context.Context, token string) (*identity.Job, error)
	// User returns the owner of a user token.
	User(ctx context.Context, token string) (*identity.User, error)
	// AccessLevel returns userID's access level in projectID, asked with the
	// user's token (the --allow-maintainers rule); 0 when not a member.
	AccessLevel(ctx context.Context, token string, projectID, userID int64) (int, error)
}

// GitLabAuth is the [Authenticator] of a gateway next to a GitLab: job
// tokens are checked with GET /job, user tokens with GET /user.
type GitLabAuth struct {
	URL  string       // GitLab base URL
	HTTP *http.Client // nil: http.DefaultClient
}

// Job implements [Authenticator].
func (g GitLabAuth) Job(ctx context.Context, token string) (*identity.Job, error) {
	return gitlab.VerifyJobToken(ctx, g.URL, g.HTTP, token)
}

// User implements [Authenticator].
func (g GitLabAuth) User(ctx context.Context, token string) (*identity.User, error) {
	// Sent as "Authorization: Bearer", which GitLab accepts for personal,
	// project and group access tokens and for OAuth access tokens (the web
	// page's GitLab sign-in) alike.
	return gitlab.VerifyBearerToken(ctx, g.URL, g.HTTP, token)
}

// AccessLevel implements [Authenticator].
func (g GitLabAuth) AccessLevel(ctx context.Context, token string, projectID, userID int64) (int, error) {
	return gitlab.ProjectAccessLevel(ctx, g.URL, g.HTTP, token, projectID, userID)
}
