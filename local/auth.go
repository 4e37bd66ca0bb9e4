package local

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/ws-dev/ws/internal/identity"
	"github.com/ws-dev/ws/internal/names"
)

// Identity of every local workspace in the embedded gateway: one project,
// one user. They appear in URLs (/w/1/NAME/PORT/) but mean nothing else.
const (
	ProjectID   = 1
	ProjectPath = "local"
	userID      = 1
)

// Auth is the embedded gateway's [gateway.Authenticator]: the agent proves
// itself with the workspace's agent token (its CI_JOB_TOKEN), users with the
// user token from the 0600 state file. No GitLab is asked.
type Auth struct {
	Name       string
	AgentToken string
	UserToken  string
	Username   string
}

func same(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Job implements gateway.Authenticator.
func (a *Auth) Job(_ context.Context, tok string) (*identity.Job, error) {
	if !same(tok, a.AgentToken) {
		return nil, fmt.Errorf("local agent token: %w", identity.ErrTokenInvalid)
	}
	return &identity.Job{JobID: 1, Status: "running", Ref: names.Branch(a.Name), PipelineID: 1,
		ProjectID: ProjectID, ProjectPath: ProjectPath, UserID: userID, Username: a.Username}, nil
}

// User implements gateway.Authenticator.
func (a *Auth) User(_ context.Context, tok string) (*identity.User, error) {
	if !same(tok, a.UserToken) {
		return nil, fmt.Errorf("local user token: %w", identity.ErrTokenInvalid)
	}
	return &identity.User{ID: userID, Username: a.Username}, nil
}

// AccessLevel implements gateway.Authenticator; only the owner attaches.
func (a *Auth) AccessLevel(context.Context, string, int64, int64) (int, error) { return 0, nil }
