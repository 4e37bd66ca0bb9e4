package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRemote(t *testing.T) {
	for _, tc := range []struct{ in, host, path, base string }{
		{"https://gitlab.com/group/proj.git", "gitlab.com", "group/proj", "https://gitlab.com"},
		{"https://oauth2:tok@gitlab.example.com/a/b/c", "gitlab.example.com", "a/b/c", "https://gitlab.example.com"},
		{"git@gitlab.com:group/sub/proj.git", "gitlab.com", "group/sub/proj", "https://gitlab.com"},
		{"ssh://git@GitLab.Example.com:2222/group/proj.git", "gitlab.example.com", "group/proj", "https://gitlab.example.com"},
		{"http://127.0.0.1:8080/g/p.git", "127.0.0.1", "g/p", "http://127.0.0.1:8080"},
	} {
		r, err := ParseRemote(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, Remote{tc.host, tc.path, tc.base}, r, tc.in)
	}
	for _, bad := range []string{"/local/path", "https://gitlab.com/onlyone", "nonsense"} {
		_, err := ParseRemote(bad)
		assert.Error(t, err, bad)
	}
	_, err := ParseRemote("https://gitlab-ci-token:SECRET@gitlab.com/x")
	assert.NotContains(t, err.Error(), "SECRET", "a job token in a remote URL is never printed")
}

// gitCmd runs git in dir with a neutral configuration.
func gitCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+filepath.Join(os.TempDir(), "ws-test-no-gitconfig"), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
}

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is required")
		}
		t.Skip("git not installed")
	}
}

// A real repository: branch, remotes in ws's order, insteadOf applied,
// and a linked worktree reading its main repository's config.
func TestRepoWithGit(t *testing.T) {
	requireGit(t)
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(t.TempDir(), "gitconfig"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q", "-b", "feature/x")
	gitCmd(t, dir, "remote", "add", "zeta", "git@gitlab.com:z/z.git")
	gitCmd(t, dir, "remote", "add", "upstream", "https://gitlab.com/other/thing.git")
	gitCmd(t, dir, "remote", "add", "origin", "gl:group/proj.git")
	gitCmd(t, dir, "config", "url.git@gitlab.example.com:.insteadOf", "gl:")
	sub := filepath.Join(dir, "a", "b")
	require.NoError(t, os.MkdirAll(sub, 0o755))

	r, err := Find(sub)
	require.NoError(t, err)
	b, err := r.Branch()
	require.NoError(t, err)
	assert.Equal(t, "feature/x", b)
	rems, err := r.Remotes()
	require.NoError(t, err)
	require.Len(t, rems, 3)
	assert.Equal(t, []string{"origin", "upstream", "zeta"}, []string{rems[0].Name, rems[1].Name, rems[2].Name})
	assert.Equal(t, "git@gitlab.example.com:group/proj.git", rems[0].URL, "insteadOf is applied")
	assert.Equal(t, Remote{"gitlab.example.com", "group/proj", "https://gitlab.example.com"}, rems[0].Remote)

	gitCmd(t, dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x")
	wt := filepath.Join(t.TempDir(), "wt")
	gitCmd(t, dir, "worktree", "add", "-q", "--detach", wt)
	r, err = Find(wt)
	require.NoError(t, err)
	b, err = r.Branch()
	require.NoError(t, err)
	assert.Equal(t, "", b, "detached HEAD")
	rems, err = r.Remotes()
	require.NoError(t, err)
	assert.Equal(t, "group/proj", rems[0].Remote.Path)

	_, err = Find(t.TempDir())
	assert.ErrorIs(t, err, ErrNotRepo)
}
