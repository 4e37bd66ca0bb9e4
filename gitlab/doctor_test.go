package gitlab

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
)

func TestBranchRuleMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, branch string
		want, mayWS     bool
	}{
		{"ws/*", "ws/demo", true, true},
		{"*", "ws/demo", true, true},
		{"w*", "ws/demo", true, true},
		{"*/demo", "ws/demo", true, true},
		{"ws/demo", "ws/demo", true, true},
		{"ws/other", "ws/demo", false, true},
		{"main", "ws/demo", false, false},
		{"release/*", "ws/demo", false, false},
		{"ws.*", "ws/demo", false, false}, // "." is literal
	} {
		r := BranchRule{Pattern: tc.pattern}
		assert.Equal(t, tc.want, r.Matches(tc.branch), "%q matches %q", tc.pattern, tc.branch)
		if tc.pattern != "*/demo" {
			assert.Equal(t, tc.mayWS, r.MayMatchWorkspaces(), "%q may match ws/*", tc.pattern)
		}
	}
}

func TestBranchRuleAllowsPush(t *testing.T) {
	r := BranchRule{PushLevels: []int{AccessMaintainer}, PushUsers: []int64{7}}
	ok, unknown := r.AllowsPush(AccessDeveloper, 1)
	assert.False(t, ok)
	assert.False(t, unknown)
	ok, _ = r.AllowsPush(AccessDeveloper, 7)
	assert.True(t, ok, "a named user may push")
	ok, _ = BranchRule{PushLevels: []int{0}}.AllowsPush(AccessOwner, 1)
	assert.False(t, ok, "No one means no one")
	_, unknown = BranchRule{PushGroups: []int64{3}}.AllowsPush(AccessDeveloper, 1)
	assert.True(t, unknown)
}

func TestProtectedBranchesPages(t *testing.T) {
	srv := fg.Start(t)
	srv.Stub(
		&fg.Stub{Method: "GET", Path: "/projects/g/p/protected_branches", Query: fg.Q("page", "1", "per_page", "100"),
			Replies: []fg.Reply{{Body: []any{fg.ProtectedBranch("main", false, 40)}, Header: map[string]string{"X-Next-Page": "2"}}}},
		&fg.Stub{Method: "GET", Path: "/projects/g/p/protected_branches", Query: fg.Q("page", "2", "per_page", "100"),
			Replies: []fg.Reply{{Body: []any{fg.ProtectedBranch("ws/*", true, 30, 0)}}}},
	)
	c, _ := newClient(t, srv)
	rules, err := c.ProtectedBranches(context.Background(), proj)
	require.NoError(t, err)
	assert.Equal(t, []BranchRule{
		{Pattern: "main", PushLevels: []int{40}},
		{Pattern: "ws/*", PushLevels: []int{30, 0}, AllowForcePush: true},
	}, rules)
}

func TestVersionRetriesServerErrors(t *testing.T) {
	srv := fg.Start(t)
	srv.Stub(&fg.Stub{Method: "GET", Path: "/version", Replies: []fg.Reply{{Status: 502, Body: "bad gateway"}, {Body: map[string]string{"version": "18.2.1-ee"}}}})
	c, sl := newClient(t, srv)
	v, err := c.Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "18.2.1-ee", v)
	assert.Len(t, sl.d, 1, "one backoff before the retry")
}
