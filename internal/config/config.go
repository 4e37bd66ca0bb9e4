// Package config resolves where ws talks to: the GitLab host, the token and
// the gateway URL, each with the source it came from so 'ws auth status' can
// say where a value came from without printing it.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultHost is used when no host is configured.
const DefaultHost = "https://gitlab.com"

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
}

// Flags are the values given on the command line (empty when not given).
type Flags struct {
	Host    string
	Token   string
	Gateway string
}

// Resolve applies the precedence flag → environment → glab CLI config file
// (read-only) → default. getenv is the process environment.
func Resolve(f Flags, getenv func(string) string) (Settings, error) {
	var s Settings
	switch {
	case f.Host != "":
		s.Host = Value{f.Host, "--host flag"}
	case getenv("GITLAB_HOST") != "":
		s.Host = Value{getenv("GITLAB_HOST"), "GITLAB_HOST"}
	}
	for _, name := range []string{"GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"} {
		if f.Token != "" {
			s.Token = Value{f.Token, "--token flag"}
			break
		}
		if v := getenv(name); v != "" {
			s.Token = Value{v, name}
			break
		}
	}
	if !s.Host.Set() || !s.Token.Set() {
		if g, path, err := readGlab(getenv); err == nil {
			host := s.Host.Value
			if !s.Host.Set() && g.Host != "" {
				s.Host = Value{g.Host, "glab config " + path}
				host = g.Host
			}
			if !s.Token.Set() {
				if tok := g.token(host); tok != "" {
					s.Token = Value{tok, "glab config " + path}
				}
			}
		}
	}
	if !s.Host.Set() {
		s.Host = Value{DefaultHost, "default"}
	}
	h, err := NormalizeHost(s.Host.Value)
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.Host.Source, err)
	}
	s.Host.Value = h
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
	return s, nil
}

// NormalizeHost turns "gitlab.example.com" or "https://gitlab.example.com/"
// into "https://gitlab.example.com".
func NormalizeHost(h string) (string, error) {
	h = strings.TrimSpace(h)
	if !strings.Contains(h, "://") {
		h = "https://" + h
	}
	u, err := url.Parse(h)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("GitLab host %q is not a URL like https://gitlab.example.com", h)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

type glabConfig struct {
	Host  string `yaml:"host"`
	Hosts map[string]struct {
		Token       string `yaml:"token"`
		APIHost     string `yaml:"api_host"`
		APIProtocol string `yaml:"api_protocol"`
	} `yaml:"hosts"`
}

func (g *glabConfig) token(host string) string {
	name := host
	if u, err := url.Parse(host); err == nil && u.Host != "" {
		name = u.Host
	}
	if name == "" {
		name = "gitlab.com"
	}
	return g.Hosts[name].Token
}

// readGlab reads the glab CLI's config file, if there is one.
func readGlab(getenv func(string) string) (*glabConfig, string, error) {
	var dirs []string
	if d := getenv("GLAB_CONFIG_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		dirs = append(dirs, filepath.Join(d, "glab-cli"))
	}
	if h := getenv("HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, ".config", "glab-cli"))
	}
	for _, d := range dirs {
		path := filepath.Join(d, "config.yml")
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var g glabConfig
		if err := yaml.Unmarshal(data, &g); err != nil {
			return nil, path, fmt.Errorf("read %s: %w", path, err)
		}
		return &g, path, nil
	}
	return nil, "", errors.New("no glab config")
}
