// Package config resolves where ws talks to: the GitLab host, the token and
// the gateway URL, each with the source it came from so 'ws auth status' can
// say where a value came from without printing it. It reads glab's login
// (its config file and, as glab does, the OS keyring) and the git remotes of
// the repository ws runs in.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/internal/gitrepo"
)

// DefaultHost is used when no host is configured.
const DefaultHost = "https://gitlab.com"

// HostEnv are the variables that name the GitLab host, in glab's order.
var HostEnv = []string{"GITLAB_HOST", "GITLAB_URI", "GL_HOST"}

// TokenEnv are the variables that hold the token, in glab's order.
var TokenEnv = []string{"GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"}

// Value is a resolved setting and where it came from ("--token flag",
// "GITLAB_TOKEN", "glab config ~/.config/glab-cli/config.yml", "default").
type Value struct {
	Value  string
	Source string
}

// Set reports whether the value is non-empty.
func (v Value) Set() bool { return v.Value != "" }

// Settings are the resolved connection settings.
type Settings struct {
	Host    Value // normalised base URL, e.g. https://gitlab.example.com
	Token   Value // never print Token.Value
	Gateway Value // base URL of the ws gateway; may be unset
	// Dotfiles is the user's default dotfiles repository (ws's own config
	// file); the --dotfiles flag and the ws/dotfiles attribute win.
	Dotfiles Value

	// Repo is the git work tree around Flags.Dir, nil outside one (RepoErr says why).
	Repo    *gitrepo.Repo
	RepoErr error
	// Remotes are Repo's remotes in the order ws considers them.
	Remotes []gitrepo.NamedRemote
}

// Flags are the values given on the command line (empty when not given),
// plus the directory ws runs in.
type Flags struct {
	Host    string
	Token   string
	Gateway string
	// Dir is the directory whose git remotes may name the host; empty
	// skips reading them.
	Dir string
}

// KeyringGet reads a secret from the OS keyring (zalando/go-keyring, as
// glab does); tests call keyring.MockInit instead of replacing it.
var KeyringGet = keyring.Get

// keyringTimeout bounds a keyring read: a locked keyring may wait for a
// password prompt that never comes.
const keyringTimeout = 5 * time.Second

// Resolve applies the precedence:
//
//	host:  --host → GITLAB_HOST, GITLAB_URI, GL_HOST → CI_SERVER_URL (inside a CI
//	       job) → the git remote → glab's config 'host' → https://gitlab.com
//	token: --token → GITLAB_TOKEN, GITLAB_ACCESS_TOKEN, OAUTH_TOKEN → glab's config
//	       for that host → glab's keyring entry for that host
//
// glab's per-host api_protocol (http) and api_host are honoured. getenv is
// the process environment.
func Resolve(f Flags, getenv func(string) string) (Settings, error) {
	var s Settings
	g, gpath, gerr := readGlab(getenv)
	if gerr != nil && !errors.Is(gerr, errNoGlab) {
		return s, gerr
	}
	if f.Dir != "" {
		s.Repo, s.RepoErr = gitrepo.Find(f.Dir)
		if s.RepoErr == nil {
			s.Remotes, s.RepoErr = s.Repo.Remotes()
		}
	}
	switch {
	case f.Host != "":
		s.Host = Value{f.Host, "--host flag"}
	case firstEnv(getenv, HostEnv...).Set():
		s.Host = firstEnv(getenv, HostEnv...)
	case getenv("GITLAB_CI") == "true" && getenv("CI_SERVER_URL") != "":
		s.Host = Value{getenv("CI_SERVER_URL"), "CI_SERVER_URL"}
	default:
		if r, ok := hostRemote(s.Remotes, g); ok {
			s.Host = Value{r.Remote.BaseURL, "git remote " + r.Name}
			if !strings.HasPrefix(r.URL, "http") && g != nil { // ssh: glab may know the API's protocol
				s.Host.Value = r.Remote.Host
			}
		} else if g != nil && g.Host != "" {
			s.Host = Value{g.Host, "glab config " + gpath}
		} else {
			s.Host = Value{DefaultHost, "default"}
		}
	}
	h, err := normalizeHost(s.Host.Value, g)
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.Host.Source, err)
	}
	s.Host.Value = h

	if f.Token != "" {
		s.Token = Value{f.Token, "--token flag"}
	} else if v := firstEnv(getenv, TokenEnv...); v.Set() {
		s.Token = v
	} else if g != nil {
		s.Token = g.token(h, gpath)
	}

	switch {
	case f.Gateway != "":
		s.Gateway = Value{f.Gateway, "--gateway flag"}
	case getenv("WS_GATEWAY_URL") != "":
		s.Gateway = Value{getenv("WS_GATEWAY_URL"), "WS_GATEWAY_URL"}
	}
	if s.Gateway.Set() {
		u, err := url.Parse(s.Gateway.Value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return s, fmt.Errorf("%s: gateway URL %q must look like https://ws.example.com", s.Gateway.Source, s.Gateway.Value)
		}
		s.Gateway.Value = strings.TrimRight(s.Gateway.Value, "/")
	}
	w, wpath, err := ReadWS(getenv)
	if err != nil {
		return s, err
	}
	if w.Dotfiles != "" {
		s.Dotfiles = Value{w.Dotfiles, "ws config " + wpath}
	}
	return s, nil
}

func firstEnv(getenv func(string) string, names ...string) Value {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return Value{v, n}
		}
	}
	return Value{}
}

// hostRemote picks the remote that names the GitLab host: the first (in
// ws's order) on a host glab knows, else the first that reads as a GitLab
// project URL.
func hostRemote(remotes []gitrepo.NamedRemote, g *glabConfig) (gitrepo.NamedRemote, bool) {
	if g != nil {
		for _, r := range remotes {
			if r.Err == nil && g.knows(r.Remote.Host) {
				return r, true
			}
		}
	}
	for _, r := range remotes {
		if r.Err == nil {
			return r, true
		}
	}
	return gitrepo.NamedRemote{}, false
}

// NormalizeHost turns "gitlab.example.com" or "https://gitlab.example.com/"
// into "https://gitlab.example.com".
func NormalizeHost(h string) (string, error) { return normalizeHost(h, nil) }

// normalizeHost is NormalizeHost where, without a scheme, glab's
// api_protocol for that host (g may be nil) decides between http and
// https, and its api_host, when set, replaces the host.
func normalizeHost(h string, g *glabConfig) (string, error) {
	h = strings.TrimSpace(h)
	if !strings.Contains(h, "://") {
		scheme := "https"
		if hc, ok := g.host(h); ok {
			if hc.APIProtocol == "http" {
				scheme = "http"
			}
			if hc.APIHost != "" {
				h = hc.APIHost
			}
		}
		h = scheme + "://" + h
	}
	u, err := url.Parse(h)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("GitLab host %q is not a URL like https://gitlab.example.com", h)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// glabHost is one entry under 'hosts:' in glab's config.yml.
type glabHost struct {
	Token       string `yaml:"token"`
	APIHost     string `yaml:"api_host"`
	APIProtocol string `yaml:"api_protocol"`
}

type glabConfig struct {
	Host  string              `yaml:"host"`
	Hosts map[string]glabHost `yaml:"hosts"`
}

// host returns the entry for a host name (with or without port).
func (g *glabConfig) host(name string) (glabHost, bool) {
	if g == nil {
		return glabHost{}, false
	}
	name = strings.ToLower(strings.TrimRight(name, "/"))
	if hc, ok := g.Hosts[name]; ok {
		return hc, true
	}
	if u, err := url.Parse("x://" + name); err == nil {
		if hc, ok := g.Hosts[u.Hostname()]; ok {
			return hc, true
		}
	}
	return glabHost{}, false
}

func (g *glabConfig) knows(host string) bool {
	_, ok := g.host(host)
	return ok || strings.EqualFold(strings.TrimPrefix(strings.TrimPrefix(g.Host, "https://"), "http://"), host)
}

// token returns glab's token for the base URL base: from the config file,
// else from the OS keyring where 'glab auth login' stores it by default
// (service "glab:<host>", empty user, as glab reads it).
func (g *glabConfig) token(base, path string) Value {
	u, err := url.Parse(base)
	if err != nil {
		return Value{}
	}
	for _, name := range []string{u.Host, u.Hostname()} {
		hc, ok := g.Hosts[name]
		if !ok {
			continue
		}
		if hc.Token != "" {
			return Value{hc.Token, "glab config " + path}
		}
		if tok := keyringToken("glab:" + name); tok != "" {
			return Value{tok, "glab keyring (glab:" + name + ")"}
		}
	}
	return Value{}
}

// keyringToken reads the keyring, giving up after keyringTimeout.
func keyringToken(service string) string {
	ch := make(chan string, 1)
	go func() {
		tok, err := KeyringGet(service, "")
		if err != nil {
			tok = ""
		}
		ch <- tok
	}()
	select {
	case tok := <-ch:
		return tok
	case <-time.After(keyringTimeout):
		return ""
	}
}

var errNoGlab = errors.New("no glab config")

// readGlab reads the glab CLI's config file, if there is one.
func readGlab(getenv func(string) string) (*glabConfig, string, error) {
	var g glabConfig
	path, err := readYAML(getenv, "GLAB_CONFIG_DIR", "glab-cli", &g)
	if err != nil {
		return nil, path, err
	}
	if path == "" {
		return nil, "", errNoGlab
	}
	lower := map[string]glabHost{}
	for k, v := range g.Hosts {
		lower[strings.ToLower(k)] = v
	}
	g.Hosts = lower
	return &g, path, nil
}

// WSConfig is ws's own config file, $XDG_CONFIG_HOME/ws/config.yml (or
// $WS_CONFIG_DIR/config.yml); every key is optional.
type WSConfig struct {
	// Dotfiles is the dotfiles repository cloned into every workspace
	// (docs/dotfiles.md); --dotfiles and ws/dotfiles win.
	Dotfiles string `yaml:"dotfiles"`
}

// ReadWS reads ws's config file; a missing file is an empty config.
func ReadWS(getenv func(string) string) (WSConfig, string, error) {
	var c WSConfig
	path, err := readYAML(getenv, "WS_CONFIG_DIR", "ws", &c)
	return c, path, err
}

// readYAML decodes the first config.yml found in $envDir, $XDG_CONFIG_HOME/name
// or ~/.config/name into v; path is "" when there is none.
func readYAML(getenv func(string) string, envDir, name string, v any) (string, error) {
	var dirs []string
	if d := getenv(envDir); d != "" {
		dirs = append(dirs, d)
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		dirs = append(dirs, filepath.Join(d, name))
	}
	if h := getenv("HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, ".config", name))
	}
	for _, d := range dirs {
		path := filepath.Join(d, "config.yml")
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if err := yaml.Unmarshal(data, v); err != nil {
			return path, fmt.Errorf("read %s: %w", path, err)
		}
		return path, nil
	}
	return "", nil
}
