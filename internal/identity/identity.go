// Package identity holds who a token belongs to, as the authority (GitLab, or the
// embedded gateway of 'ws up --local') answers: the types the gateway, the local
// supervisor and gitlab/ share without importing each other.
package identity

import "errors"

// ErrTokenInvalid means the authority rejected a token (GitLab's 401): missing, expired,
// revoked, or a job token whose job is no longer running.
var ErrTokenInvalid = errors.New("gitlab rejected the token")

// Job is what the authority says about the job that owns a CI job token.
type Job struct {
	JobID       int64
	Status      string
	Ref         string
	PipelineID  int64
	ProjectID   int64
	ProjectPath string // full path, e.g. group/project; empty if unknown
	UserID      int64  // the user who launched the pipeline
	Username    string
}

// User is the owner of a user token.
type User struct {
	ID       int64
	Username string
	Name     string // display name
}
