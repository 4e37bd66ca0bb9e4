package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DotfilesInstallScripts are the scripts looked for at the top of a
// dotfiles repository, in order: the devcontainer CLI's (and Codespaces')
// convention. The first that exists runs; without one, the repository's
// dotfiles are linked into $HOME.
var DotfilesInstallScripts = []string{
	"install.sh", "install", "bootstrap.sh", "bootstrap", "script/bootstrap",
	"setup.sh", "setup", "script/setup",
}

// dotfilesTimeout bounds cloning and installing the dotfiles.
const dotfilesTimeout = 5 * time.Minute

// dotfilesDir is where the repository is cloned, under $HOME (the
// devcontainer CLI's default target path), never in the project checkout.
const dotfilesDir = "dotfiles"

// installDotfiles clones the plan's dotfiles repository into ~/dotfiles and
// installs it. Failures are logged, not fatal: a workspace without your
// aliases is still a workspace.
func (a *Agent) installDotfiles(ctx context.Context) {
	d := a.cfg.Plan.Dotfiles
	if d == nil || d.Repository == "" {
		return
	}
	env := a.env()
	if envValue(env, "WS_LOCAL_SHELL") == "1" { // set by 'ws up --local' in shell mode (local.ShellModeEnv)
		a.logf("dotfiles: not installed: this local workspace runs on your own machine, whose home already has your dotfiles")
		return
	}
	home := envValue(env, "HOME")
	if home == "" {
		a.logf("dotfiles: not installed: HOME is not set")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, dotfilesTimeout)
	defer cancel()
	if err := a.dotfiles(ctx, d.Repository, home, env); err != nil {
		a.logf("dotfiles: %v", err)
	}
}

func (a *Agent) dotfiles(ctx context.Context, repo, home string, env []string) error {
	target := filepath.Join(home, dotfilesDir)
	if _, err := os.Stat(filepath.Join(target, ".git")); err == nil {
		a.logf("dotfiles: %s already cloned", target)
	} else {
		a.logf("dotfiles: cloning %s into %s", repo, target)
		clone := exec.CommandContext(ctx, "git", "clone", "--depth", "1", "--quiet", repo, target)
		clone.Env = append(slices.Clone(env), "GIT_TERMINAL_PROMPT=0")
		if out, err := clone.CombinedOutput(); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				return errors.New("not installed: the image has no git")
			}
			return fmt.Errorf("git clone %s: %v: %s", repo, err, strings.TrimSpace(string(out)))
		}
	}
	for _, name := range DotfilesInstallScripts {
		script := filepath.Join(target, filepath.FromSlash(name))
		fi, err := os.Stat(script)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		a.logf("dotfiles: running %s", name)
		argv := []string{script}
		if fi.Mode()&0o111 == 0 {
			argv = []string{"/bin/sh", script}
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = target, env
		w := &lineLogger{a: a, prefix: "dotfiles: " + name + ": "}
		cmd.Stdout, cmd.Stderr = w, w
		err = cmd.Run()
		w.flush()
		if err != nil {
			return fmt.Errorf("%s failed: %v", name, err)
		}
		a.logf("dotfiles: installed with %s", name)
		return nil
	}
	n, err := linkDotfiles(target, home)
	if err != nil {
		return err
	}
	a.logf("dotfiles: no install script; linked %d dotfile(s) into %s", n, home)
	return nil
}

// linkDotfiles links each top-level entry of dir whose name starts with a
// dot (except .git and its kin) into home, leaving existing files alone.
func linkDotfiles(dir, home string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || name == ".git" || name == ".github" || name == ".gitlab" ||
			name == ".gitignore" || name == ".gitmodules" || name == ".gitlab-ci.yml" {
			continue
		}
		dst := filepath.Join(home, name)
		if _, err := os.Lstat(dst); err == nil {
			continue // never replace what is there
		} else if !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		if err := os.Symlink(filepath.Join(dir, name), dst); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val // the last one wins, as for exec
		}
	}
	return v
}

// lineLogger sends a command's output to the agent's log, line by line.
type lineLogger struct {
	a      *Agent
	prefix string
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.a.writeLog(l.prefix + string(l.buf[:i]) + "\n")
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) flush() {
	if len(l.buf) > 0 {
		l.a.writeLog(l.prefix + string(l.buf) + "\n")
		l.buf = nil
	}
}
