package cmdutil

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFileAtomicReplacesRegularFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "out.yml")
	require.NoError(t, os.WriteFile(name, []byte("old contents, longer\n"), 0o600))
	require.NoError(t, WriteFileAtomic(name, []byte("new\n")))
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, "new\n", string(got))
	fi, err := os.Stat(name)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

// `ws compile -o /dev/null` (or a named pipe) must write into the file, not
// rename a temporary file over it: as root that replaced /dev/null itself.
func TestWriteFileAtomicWritesNonRegularFileInPlace(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until the writer opens and closes
		got <- b
	}()
	require.NoError(t, WriteFileAtomic(fifo, []byte("through the pipe\n")))
	fi, err := os.Lstat(fifo)
	require.NoError(t, err)
	require.Equal(t, os.ModeNamedPipe, fi.Mode().Type(), "the pipe was replaced")
	require.Equal(t, "through the pipe\n", string(<-got))
}

func TestWriteFileAtomicFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.yml")
	link := filepath.Join(dir, "link.yml")
	require.NoError(t, os.WriteFile(target, []byte("old\n"), 0o644))
	require.NoError(t, os.Symlink(target, link))
	require.NoError(t, WriteFileAtomic(link, []byte("new\n")))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	require.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the link was replaced by a file")
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "new\n", string(got))
}

func TestWriteFileAtomicRefusesDirectory(t *testing.T) {
	require.ErrorContains(t, WriteFileAtomic(t.TempDir(), []byte("x")), "is a directory")
}
