package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/oauth2"

	"github.com/ws-dev/ws/internal/identity"
)

// ErrTokenInvalid means GitLab rejected a token (401): missing, expired,
// revoked, or a job token whose job is no longer running. It is
// [identity.ErrTokenInvalid], so callers outside gitlab/ need not import it.
var ErrTokenInvalid = identity.ErrTokenInvalid

// JobIdentity is what GitLab says about the job that owns a CI job token.
type JobIdentity = identity.Job

// UserIdentity is the owner of a user token.
type UserIdentity = identity.User

// VerifyJobToken asks GitLab which job owns token (GET /api/v4/job with the
// JOB-TOKEN header). A job token is valid only while its job runs.
// baseURL is the GitLab host, e.g. https://gitlab.example.com.
func VerifyJobToken(ctx context.Context, baseURL string, hc *http.Client, token string) (*JobIdentity, error) {
	c, err := gl.NewJobClient(token, clientOptions(baseURL, hc)...)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	job, resp, err := c.Jobs.GetJobTokensJob(&gl.GetJobTokensJobOptions{}, gl.WithContext(ctx))
	if err != nil {
		return nil, classify("GET /job", resp, err)
	}
	id := &JobIdentity{
		JobID:      job.ID,
		Status:     job.Status,
		Ref:        job.Ref,
		PipelineID: job.Pipeline.ID,
		ProjectID:  job.Pipeline.ProjectID,
	}
	if job.Project != nil {
		if job.Project.ID != 0 && id.ProjectID == 0 {
			id.ProjectID = job.Project.ID
		}
		id.ProjectPath = job.Project.PathWithNamespace
	}
	if id.ProjectPath == "" {
		id.ProjectPath = projectPathFromJobURL(job.WebURL)
	}
	if job.User != nil {
		id.UserID, id.Username = job.User.ID, job.User.Username
	}
	if id.ProjectID == 0 || id.UserID == 0 {
		return nil, fmt.Errorf("GET /job: GitLab's answer lacks the project or user")
	}
	return id, nil
}

// VerifyBearerToken returns the owner of a user token, sent as "Authorization: Bearer", which
// GitLab accepts for OAuth access tokens as well as personal, project and group access tokens.
func VerifyBearerToken(ctx context.Context, baseURL string, hc *http.Client, token string) (*UserIdentity, error) {
	bearer := gl.OAuthTokenSource{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}
	c, err := gl.NewAuthSourceClient(bearer, clientOptions(baseURL, hc)...)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	u, resp, err := c.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		return nil, classify("GET /user", resp, err)
	}
	return &UserIdentity{ID: u.ID, Username: u.Username, Name: u.Name}, nil
}

// ProjectAccessLevel returns the access level (30 developer, 40 maintainer,
// 50 owner) that userID has in projectID, including inherited membership,
// asked with the user's own token; 0 when not a member.
func ProjectAccessLevel(ctx context.Context, baseURL string, hc *http.Client, token string, projectID, userID int64) (int, error) {
	c, err := gl.NewClient(token, clientOptions(baseURL, hc)...)
	if err != nil {
		return 0, fmt.Errorf("gitlab client: %w", err)
	}
	m, resp, err := c.ProjectMembers.GetInheritedProjectMember(projectID, userID, gl.WithContext(ctx))
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return 0, nil
		}
		return 0, classify("GET /projects/:id/members/all/:user_id", resp, err)
	}
	return int(m.AccessLevel), nil
}

func clientOptions(baseURL string, hc *http.Client) []gl.ClientOptionFunc {
	opts := []gl.ClientOptionFunc{gl.WithBaseURL(strings.TrimRight(baseURL, "/") + "/api/v4"), gl.WithoutRetries()}
	if hc != nil {
		opts = append(opts, gl.WithHTTPClient(hc))
	}
	return opts
}

// classify turns a client-go error into ErrTokenInvalid for 401 and a
// short error otherwise. client-go's error text can include the request
// URL but never the token (tokens travel in headers).
func classify(what string, resp *gl.Response, err error) error {
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return ErrTokenInvalid
		}
		return fmt.Errorf("%s: GitLab answered %d", what, resp.StatusCode)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// projectPathFromJobURL turns https://host/group/proj/-/jobs/7 into group/proj.
func projectPathFromJobURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	p, _, ok := strings.Cut(strings.Trim(u.Path, "/"), "/-/jobs/")
	if !ok {
		return ""
	}
	return p
}
