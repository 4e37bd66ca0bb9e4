package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"
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

// glab's host variables, in glab's order; CI_SERVER_URL only inside a CI job.
func TestResolveHostVariables(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want Value
	}{
		{map[string]string{"GITLAB_URI": "https://uri.example.com", "GL_HOST": "gl.example.com"}, Value{"https://uri.example.com", "GITLAB_URI"}},
		{map[string]string{"GL_HOST": "gl.example.com"}, Value{"https://gl.example.com", "GL_HOST"}},
		{map[string]string{"CI_SERVER_URL": "https://ci.example.com"}, Value{"https://gitlab.com", "default"}},
		{map[string]string{"CI_SERVER_URL": "https://ci.example.com", "GITLAB_CI": "true"}, Value{"https://ci.example.com", "CI_SERVER_URL"}},
		{map[string]string{"CI_SERVER_URL": "https://ci.example.com", "GITLAB_CI": "true", "GL_HOST": "gl.example.com"}, Value{"https://gl.example.com", "GL_HOST"}},
	} {
		s, err := Resolve(Flags{}, env(tc.env))
		require.NoError(t, err)
		assert.Equal(t, tc.want, s.Host, "%v", tc.env)
	}
}

func writeGlab(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "glab-cli"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "glab-cli", "config.yml"), []byte(body), 0o600))
	return dir
}

func TestResolveGlabConfig(t *testing.T) {
	dir := writeGlab(t, "host: gl.example.com\nhosts:\n  gl.example.com:\n    token: glpat-x\n")
	s, err := Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir}))
	require.NoError(t, err)
	assert.Equal(t, "https://gl.example.com", s.Host.Value)
	assert.Equal(t, "glpat-x", s.Token.Value)
	assert.Contains(t, s.Token.Source, "glab config")
}

// api_protocol: http in glab's config makes ws speak http to that host.
func TestResolveGlabAPIProtocol(t *testing.T) {
	dir := writeGlab(t, "host: gl.example.com:8080\nhosts:\n  gl.example.com:8080:\n    token: glpat-x\n    api_protocol: http\n")
	s, err := Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir}))
	require.NoError(t, err)
	assert.Equal(t, "http://gl.example.com:8080", s.Host.Value)
	assert.Equal(t, "glpat-x", s.Token.Value)
	// GITLAB_HOST without a scheme is read the same way; with one it wins.
	s, err = Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir, "GITLAB_HOST": "gl.example.com:8080"}))
	require.NoError(t, err)
	assert.Equal(t, "http://gl.example.com:8080", s.Host.Value)
	s, err = Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir, "GITLAB_HOST": "https://gl.example.com:8080"}))
	require.NoError(t, err)
	assert.Equal(t, "https://gl.example.com:8080", s.Host.Value)
}

// 'glab auth login' keeps the token in the OS keyring by default and
// leaves the host's entry in config.yml without one; ws reads it the way
// glab does (service "glab:<host>", empty user).
func TestResolveGlabKeyring(t *testing.T) {
	keyring.MockInit()
	require.NoError(t, keyring.Set("glab:gl.example.com", "", "glpat-from-keyring"))
	dir := writeGlab(t, "host: gl.example.com\nhosts:\n  gl.example.com:\n    api_protocol: https\n    user: ada\n")
	s, err := Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir}))
	require.NoError(t, err)
	assert.Equal(t, Value{"glpat-from-keyring", "glab keyring (glab:gl.example.com)"}, s.Token)

	// The environment still wins, and a host glab has no entry for reads no keyring.
	s, err = Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir, "GITLAB_TOKEN": "e"}))
	require.NoError(t, err)
	assert.Equal(t, Value{"e", "GITLAB_TOKEN"}, s.Token)
	s, err = Resolve(Flags{Host: "other.example.com"}, env(map[string]string{"XDG_CONFIG_HOME": dir}))
	require.NoError(t, err)
	assert.False(t, s.Token.Set())
}

func TestResolveBadGateway(t *testing.T) {
	_, err := Resolve(Flags{}, env(map[string]string{"WS_GATEWAY_URL": "ftp://x"}))
	assert.ErrorContains(t, err, "WS_GATEWAY_URL")
	s, err := Resolve(Flags{Gateway: "https://ws.example.com/"}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, Value{"https://ws.example.com", "--gateway flag"}, s.Gateway)
}

// The host comes from the repository's remote, with insteadOf applied,
// when no flag or variable names one; glab's api_protocol applies to it.
func TestResolveHostFromRemote(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(t.TempDir(), "gitconfig"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	repo := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q"},
		{"remote", "add", "origin", "corp:g/p.git"},
		{"config", "url.git@gitlab.corp.example:.insteadOf", "corp:"},
	} {
		out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	s, err := Resolve(Flags{Dir: repo}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, Value{"https://gitlab.corp.example", "git remote origin"}, s.Host)
	require.Len(t, s.Remotes, 1)
	assert.Equal(t, "g/p", s.Remotes[0].Remote.Path)

	dir := writeGlab(t, "hosts:\n  gitlab.corp.example:\n    token: glpat-corp\n    api_protocol: http\n")
	s, err = Resolve(Flags{Dir: repo}, env(map[string]string{"XDG_CONFIG_HOME": dir}))
	require.NoError(t, err)
	assert.Equal(t, "http://gitlab.corp.example", s.Host.Value)
	assert.Equal(t, "glpat-corp", s.Token.Value)

	s, err = Resolve(Flags{Dir: repo}, env(map[string]string{"GITLAB_HOST": "https://gitlab.com"}))
	require.NoError(t, err)
	assert.Equal(t, Value{"https://gitlab.com", "GITLAB_HOST"}, s.Host, "the environment wins over the remote")
}

func TestReadWSConfig(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "ws"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ws", "config.yml"), []byte("dotfiles: https://gitlab.com/me/dotfiles.git\n"), 0o600))
	s, err := Resolve(Flags{}, env(map[string]string{"XDG_CONFIG_HOME": dir}))
	require.NoError(t, err)
	assert.Equal(t, "https://gitlab.com/me/dotfiles.git", s.Dotfiles.Value)
	assert.Contains(t, s.Dotfiles.Source, filepath.Join("ws", "config.yml"))
}
