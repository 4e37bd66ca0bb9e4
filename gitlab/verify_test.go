package gitlab

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
)

// TestVerifyBearerToken: a user token travels as "Authorization: Bearer",
// never as PRIVATE-TOKEN, and a rejected one is ErrTokenInvalid.
func TestVerifyBearerToken(t *testing.T) {
	srv := fg.Start(t)
	srv.Stub(&fg.Stub{Method: "GET", Path: "/user", AnyToken: true, Times: 2,
		Check: func(r *fg.Request) string {
			if r.Header.Get("Private-Token") != "" {
				return "PRIVATE-TOKEN sent"
			}
			return ""
		},
		Fn: func(r *fg.Request) fg.Reply {
			if r.Header.Get("Authorization") != "Bearer "+fg.Token {
				return fg.Reply{Status: 401, Body: `{"message":"401 Unauthorized"}`}
			}
			return fg.Reply{Body: map[string]any{"id": 3, "username": "ada", "name": "Ada"}}
		}})
	u, err := VerifyBearerToken(context.Background(), srv.URL, nil, fg.Token)
	require.NoError(t, err)
	assert.Equal(t, &UserIdentity{ID: 3, Username: "ada", Name: "Ada"}, u)
	_, err = VerifyBearerToken(context.Background(), srv.URL, nil, "wrong")
	assert.ErrorIs(t, err, ErrTokenInvalid)
}
