package cmdutil

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/config"
)

// Factory carries the dependencies commands need. Costly or fallible ones
// are functions, built on first use; tests replace any of them.
type Factory struct {
	IO *IOStreams
	// Getenv reads the environment; commands never call os.Getenv.
	Getenv func(string) string
	// Now is the clock; commands never call time.Now.
	Now func() time.Time
	// WorkDir is the directory relative paths are resolved against.
	WorkDir func() (string, error)

	// ConfigFlags are the global --host and --token flags (empty when not
	// given); Config gives them precedence.
	ConfigFlags config.Flags
	// Config resolves the GitLab host, token and gateway URL with their
	// sources (flag → environment → glab config → default).
	Config func() (config.Settings, error)
	// GitLab returns a client for the configured host and token. With debug
	// set, HTTP traffic is dumped to IO.ErrOut with tokens redacted.
	GitLab func(debug bool) (*gitlab.Client, error)
	// Sleep waits between polls and retries; tests make it return at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// PollInterval is the wait between two polls of a pipeline or job log.
	PollInterval time.Duration
}

// New returns the Factory of a real process.
func New() *Factory {
	f := &Factory{
		IO:      System(),  // the process's stdin/stdout/stderr
		Getenv:  os.Getenv, // the process environment
		Now:     time.Now,  // the wall clock
		WorkDir: os.Getwd,  // the current directory
	}
	f.Config = func() (config.Settings, error) { // Getenv, WorkDir's git remotes, glab's config and keyring
		fl := f.ConfigFlags
		if dir, err := f.WorkDir(); err == nil {
			fl.Dir = dir
		}
		return config.Resolve(fl, f.Getenv)
	}
	f.Sleep = gitlab.Sleep                                                             // a real timer
	f.PollInterval = 2 * time.Second                                                   // GitLab job state changes in seconds
	f.GitLab = func(debug bool) (*gitlab.Client, error) { return NewGitLab(f, debug) } // Config, IO, Now, Sleep
	return f
}

// NewGitLab builds the GitLab client from f's settings; Factory.GitLab
// calls it, and tests that replace Factory.GitLab may call it too.
func NewGitLab(f *Factory, debug bool) (*gitlab.Client, error) {
	s, err := f.Config()
	if err != nil {
		return nil, err
	}
	if !s.Token.Set() {
		return nil, &AuthError{
			Err:  errors.New("no GitLab token for " + s.Host.Value),
			Hint: "run 'glab auth login' (ws reads glab's login), or create a personal access token with the api scope at " + s.Host.Value + "/-/user_settings/personal_access_tokens and export GITLAB_TOKEN=<token>",
		}
	}
	opts := gitlab.Options{Host: s.Host.Value, Token: s.Token.Value, TokenSource: s.Token.Source, Now: f.Now, Sleep: f.Sleep}
	if debug {
		opts.Debug = f.IO.ErrOut
	}
	return gitlab.New(opts)
}
