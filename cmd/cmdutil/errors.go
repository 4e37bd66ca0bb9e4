// Package cmdutil holds what every command shares: the Factory with lazy
// dependencies, the IO streams, error types and output helpers.
package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes, documented in 'ws help exit-codes' and README.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	ExitDevfile = 3
	ExitAuth    = 4
	// ExitInterrupted is 128+SIGINT, as shells report a command ended by Ctrl-C.
	ExitInterrupted = 130
)

// ErrSilent ends a command with exit code 1 after it printed its own message.
var ErrSilent = errors.New("silent error")

// ErrDevfileInvalid ends a command with exit code 3; the diagnostics were printed.
var ErrDevfileInvalid = errors.New("devfile is invalid")

// FlagError is a usage error (exit code 2).
type FlagError struct {
	Cmd string // the command path after "ws", e.g. "compile"
	Err error
}

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf returns a FlagError for the command cmd.
func FlagErrorf(cmd, format string, args ...any) error {
	return &FlagError{Cmd: cmd, Err: fmt.Errorf(format, args...)}
}

// AuthError is a missing or rejected credential (exit code 4).
type AuthError struct {
	Err  error
	Hint string
}

func (e *AuthError) Error() string { return e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// HintError is a runtime failure (exit code 1) with a line that says what to do.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// ExitError makes ws exit with a given code without printing anything more;
// for example 'ws shell' passes on the remote command's exit status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }
