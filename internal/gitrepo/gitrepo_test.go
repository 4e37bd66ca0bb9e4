package gitrepo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRemote(t *testing.T) {
	for _, tc := range []struct{ in, host, path string }{
		{"https://gitlab.com/group/proj.git", "gitlab.com", "group/proj"},
		{"https://oauth2:tok@gitlab.example.com/a/b/c", "gitlab.example.com", "a/b/c"},
		{"git@gitlab.com:group/sub/proj.git", "gitlab.com", "group/sub/proj"},
		{"ssh://git@GitLab.Example.com:2222/group/proj.git", "gitlab.example.com", "group/proj"},
		{"http://127.0.0.1:8080/g/p.git", "127.0.0.1", "g/p"},
	} {
		r, err := ParseRemote(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, Remote{tc.host, tc.path}, r, tc.in)
	}
	for _, bad := range []string{"/local/path", "https://gitlab.com/onlyone", "nonsense"} {
		_, err := ParseRemote(bad)
		assert.Error(t, err, bad)
	}
}

func TestFindBranchRemote(t *testing.T) {
	dir := t.TempDir()
	git := filepath.Join(dir, ".git")
	require.NoError(t, os.MkdirAll(git, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(git, "HEAD"), []byte("ref: refs/heads/feature/x\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(git, "config"), []byte(`[core]
	bare = false
[remote "upstream"]
	url = https://gitlab.com/other/thing.git
[remote "origin"]
	url = git@gitlab.com:group/proj.git
	fetch = +refs/heads/*:refs/remotes/origin/*
`), 0o644))
	sub := filepath.Join(dir, "a", "b")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	r, err := Find(sub)
	require.NoError(t, err)
	b, err := r.Branch()
	require.NoError(t, err)
	assert.Equal(t, "feature/x", b)
	u, err := r.RemoteURL("origin")
	require.NoError(t, err)
	assert.Equal(t, "git@gitlab.com:group/proj.git", u)
	_, err = r.RemoteURL("nope")
	assert.Error(t, err)

	// A linked worktree: .git is a file, config lives in the common dir.
	wt := filepath.Join(t.TempDir(), "wt")
	wtGit := filepath.Join(git, "worktrees", "wt")
	require.NoError(t, os.MkdirAll(wtGit, 0o755))
	require.NoError(t, os.MkdirAll(wt, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(wt, ".git"), []byte("gitdir: "+wtGit+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(wtGit, "commondir"), []byte("../..\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(wtGit, "HEAD"), []byte("0123456789012345678901234567890123456789\n"), 0o644))
	r, err = Find(wt)
	require.NoError(t, err)
	b, err = r.Branch()
	require.NoError(t, err)
	assert.Equal(t, "", b, "detached HEAD")
	u, err = r.RemoteURL("origin")
	require.NoError(t, err)
	assert.Equal(t, "git@gitlab.com:group/proj.git", u)
}
