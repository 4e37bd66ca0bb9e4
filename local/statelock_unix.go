//go:build unix

package local

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// stateLockFile is the file update() holds an exclusive flock on while it changes the state.
const stateLockFile = "state.lock"

// lockState takes the state directory's lock (waiting for another process that holds it)
// and returns its release.
func lockState(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, stateLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock local state: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock local state: %w", err)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}
