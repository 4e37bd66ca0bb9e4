package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestResolvePrecedence(t *testing.T) {
	s, err := Resolve(Flags{}, env(map[string]string{"GITLAB_ACCESS_TOKEN": "a", "OAUTH_TOKEN": "o"}))
	require.NoError(t, err)
	assert.Equal(t, Value{"https://gitlab.com", "default"}, s.Host)
	assert.Equal(t, Value{"a", "GITLAB_ACCESS_TOKEN"}, s.Token)

	s, err = Resolve(Flags{Token: "f", Host: "gl.example.com/"}, env(map[string]string{"GITLAB_TOKEN": "e", "GITLAB_HOST": "x"}))
	require.NoError(t, err)
	assert.Equal(t, Value{"https://gl.example.com", "--host flag"}, s.Host)
	assert.Equal(t, Value{"f", "--token flag"}, s.Token)
}

func TestResolveGlabConfig(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "glab-cli"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "glab-cli", "config.yml"), []byte("host: gl.example.com\nhosts:\n  gl.example.com:\n    token: glpat-x\n"), 0o600))
	s, err := Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir}))
	require.NoError(t, err)
	assert.Equal(t, "https://gl.example.com", s.Host.Value)
	assert.Equal(t, "glpat-x", s.Token.Value)
	assert.Contains(t, s.Token.Source, "glab config")
}

func TestResolveBadGateway(t *testing.T) {
	_, err := Resolve(Flags{}, env(map[string]string{"WS_GATEWAY_URL": "ftp://x"}))
	assert.ErrorContains(t, err, "WS_GATEWAY_URL")
	s, err := Resolve(Flags{Gateway: "https://ws.example.com/"}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, Value{"https://ws.example.com", "--gateway flag"}, s.Gateway)
}
