package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/plan"
)

// gitRepo makes a bare repository at dir/name.git holding files, and
// returns its file:// URL.
func gitRepo(t *testing.T, dir, name string, files map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is required")
		}
		t.Skip("git not installed")
	}
	work := filepath.Join(dir, name+"-work")
	for path, body := range files {
		p := filepath.Join(work, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	bare := filepath.Join(dir, name+".git")
	for _, args := range [][]string{
		{"-C", work, "init", "-q", "-b", "main"},
		{"-C", work, "add", "."},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "dotfiles"},
		{"clone", "-q", "--bare", work, bare},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+filepath.Join(os.TempDir(), "ws-test-no-gitconfig"), "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return "file://" + bare
}

// runUntilPostStart runs a real agent whose postStart writes what `probe`
// prints into a FIFO; reading the FIFO waits for postStart, which runs
// after the dotfiles are installed, so no sleep or poll is needed.
func runUntilPostStart(t *testing.T, home, repo, probe string) (string, string) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	p := &plan.Plan{Version: plan.Version, Workspace: "x", Dotfiles: &plan.Dotfiles{Repository: repo},
		PostStart: []plan.Step{{Commands: []plan.Command{{ID: "probe", CommandLine: "{ " + probe + "; } > " + fifo}}}}}
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_GLOBAL=" + filepath.Join(os.TempDir(), "ws-test-no-gitconfig"), "GIT_CONFIG_NOSYSTEM=1"}
	a := New(Config{Plan: p, Out: out, Env: env, StopTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _, _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until postStart opens the FIFO, ends when it closes it
		got <- string(b)
	}()
	select {
	case s := <-got:
		return s, out.String()
	case <-time.After(60 * time.Second): // a failure bound, not synchronisation
		t.Fatalf("postStart never ran; agent log:\n%s", out.String())
		return "", ""
	}
}

// A repository with install.sh: the agent clones it into ~/dotfiles (not
// the project checkout) and runs the script there, before postStart.
func TestDotfilesInstallScript(t *testing.T) {
	dir := t.TempDir()
	repo := gitRepo(t, dir, "dotfiles", map[string]string{
		"install.sh": "#!/bin/sh\nset -e\necho \"installed from $(pwd)\" > \"$HOME/.installed\"\necho hello from install\n",
		"setup.sh":   "#!/bin/sh\necho wrong script > \"$HOME/.installed\"\n",
	})
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	got, log := runUntilPostStart(t, home, repo, "cat \"$HOME/.installed\"")
	if want := "installed from " + filepath.Join(home, "dotfiles") + "\n"; got != want {
		t.Errorf("postStart saw %q, want %q; log:\n%s", got, want, log)
	}
	if !strings.Contains(log, "dotfiles: install.sh: hello from install") || !strings.Contains(log, "dotfiles: installed with install.sh") {
		t.Errorf("log does not show the install script:\n%s", log)
	}
}

// Without an install script, dotfiles are linked into $HOME; an existing
// file is left alone.
func TestDotfilesSymlinks(t *testing.T) {
	dir := t.TempDir()
	repo := gitRepo(t, dir, "dotfiles", map[string]string{
		".bashrc":    "alias ll='ls -l'\n",
		".gitconfig": "[user]\n\tname = Ada\n",
		".profile":   "from dotfiles\n",
		"README.md":  "not a dotfile\n",
	})
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".profile"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, log := runUntilPostStart(t, home, repo, "cat \"$HOME/.bashrc\" \"$HOME/.profile\"; ls -A \"$HOME\"")
	want := "alias ll='ls -l'\nmine\n.bashrc\n.gitconfig\n.profile\ndotfiles\n"
	if got != want {
		t.Errorf("postStart saw %q, want %q; log:\n%s", got, want, log)
	}
	if !strings.Contains(log, "linked 2 dotfile(s)") {
		t.Errorf("log:\n%s", log)
	}
}

// A repository that cannot be cloned is logged; the workspace still starts.
func TestDotfilesCloneFailureIsNotFatal(t *testing.T) {
	dir := t.TempDir()
	gitRepo(t, dir, "unused", map[string]string{"x": "y"}) // skips without git
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	got, log := runUntilPostStart(t, home, "file://"+filepath.Join(dir, "missing.git"), "echo started")
	if got != "started\n" || !strings.Contains(log, "dotfiles: git clone file://") {
		t.Errorf("postStart saw %q; log:\n%s", got, log)
	}
}
