package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/ws-dev/ws/internal/identity"
	"github.com/ws-dev/ws/tunnel"
)

// fakeAuth accepts one job token and one user token.
type fakeAuth struct{ job, user, ref string }

func (f fakeAuth) Job(_ context.Context, tok string) (*identity.Job, error) {
	if tok != f.job {
		return nil, fmt.Errorf("job: %w", identity.ErrTokenInvalid)
	}
	return &identity.Job{JobID: 1, Status: "running", Ref: f.ref, ProjectID: 1, ProjectPath: "local", UserID: 7, Username: "ada"}, nil
}

func (f fakeAuth) User(_ context.Context, tok string) (*identity.User, error) {
	if tok != f.user {
		return nil, fmt.Errorf("user: %w", identity.ErrTokenInvalid)
	}
	return &identity.User{ID: 7, Username: "ada"}, nil
}

func (fakeAuth) AccessLevel(context.Context, string, int64, int64) (int, error) { return 0, nil }

func TestAuthenticatorReplacesGitLab(t *testing.T) {
	// No GitLab URL: every check goes to the Authenticator.
	s, err := New(Config{PublicURL: "http://127.0.0.1:1", Auth: fakeAuth{job: "j", user: "u", ref: "main"}})
	if err != nil {
		t.Fatalf("New with Auth and no GitLab URL: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	get := func(path string, h map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, string(buf[:n])
	}
	ver := strconv.Itoa(tunnel.Version)
	for _, tc := range []struct {
		name, path string
		h          map[string]string
		want       int
		body       string
	}{
		{"user token accepted", "/api/v1/workspaces", map[string]string{"Authorization": "Bearer u"}, 200, `"user":"ada"`},
		{"user token refused", "/api/v1/workspaces", map[string]string{"Authorization": "Bearer x"}, 401, ""},
		{"no agent yet", "/api/v1/workspaces/-/demo", map[string]string{"Authorization": "Bearer u"}, 404, ""},
		{"job token refused", tunnel.AgentPath, map[string]string{tunnel.VersionHeader: ver, tunnel.JobTokenHeader: "x"}, 401, ""},
		{"job not on ws/ ref", tunnel.AgentPath, map[string]string{tunnel.VersionHeader: ver, tunnel.JobTokenHeader: "j"}, 403, ""},
	} {
		code, body := get(tc.path, tc.h)
		if code != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s: GET %s = %d %q, want %d containing %q", tc.name, tc.path, code, body, tc.want, tc.body)
		}
	}
}

func TestNewNeedsGitLabOrAuth(t *testing.T) {
	if _, err := New(Config{PublicURL: "http://gw.test"}); err == nil {
		t.Fatal("New without GitLab URL and Auth: no error")
	}
}

// The web page's sign-in goes through the same Authenticator, so a local
// gateway (ws up --local) needs no GitLab for the browser either.
func TestWebSignInUsesAuthenticator(t *testing.T) {
	s, err := New(Config{PublicURL: "http://127.0.0.1:1", Auth: fakeAuth{job: "j", user: "u", ref: "main"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := webBackend{s}.UserFromToken(context.Background(), "u")
	if err != nil || u.Username != "ada" {
		t.Fatalf("UserFromToken(local user token) = %+v, %v; want ada", u, err)
	}
	if _, err := (webBackend{s}).UserFromToken(context.Background(), "x"); err == nil {
		t.Fatal("UserFromToken(wrong token) succeeded")
	}
}
