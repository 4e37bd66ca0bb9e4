package cmdutil

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/internal/config"
)

// The probe is tested against the real gateway handler: before an agent
// connects, `ws up` must keep waiting, not skip the "agent connected" step.
func TestProbeAgainstGatewayWaitsForAgent(t *testing.T) {
	gl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v4/user" && (r.Header.Get("PRIVATE-TOKEN") == "glpat-user" || r.Header.Get("Authorization") == "Bearer glpat-user") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":7,"username":"alice","name":"Alice"}`))
			return
		}
		http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
	}))
	defer gl.Close()
	gw, err := gateway.New(gateway.Config{GitLabURL: gl.URL, PublicURL: "http://gw.example.test"})
	require.NoError(t, err)
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()

	probe := NewAgentProbe(config.Settings{
		Gateway: config.Value{Value: srv.URL, Source: "test"},
		Token:   config.Value{Value: "glpat-user", Source: "test"},
	})
	require.NotNil(t, probe)
	ok, err := probe.Connected(context.Background(), "42", "demo")
	require.NoError(t, err, "a 404 from the ws gateway means 'not connected yet'")
	assert.False(t, ok)
}

func TestProbeWithoutStatusEndpointIsUnsupported(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	probe := NewAgentProbe(config.Settings{Gateway: config.Value{Value: srv.URL}, Token: config.Value{Value: "x"}})
	_, err := probe.Connected(context.Background(), "42", "demo")
	assert.ErrorIs(t, err, ErrProbeUnsupported)
}

func TestProbeConnected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/v1/workspaces/group%2Fapp/demo", r.URL.EscapedPath())
		_, _ = w.Write([]byte(`{"connected":true,"phase":"running"}`))
	}))
	defer srv.Close()
	probe := NewAgentProbe(config.Settings{Gateway: config.Value{Value: srv.URL}, Token: config.Value{Value: "x"}})
	ok, err := probe.Connected(context.Background(), "group/app", "demo")
	require.NoError(t, err)
	assert.True(t, ok)
}
