package cmdutil

import (
	"os"
	"time"
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
}

// New returns the Factory of a real process.
func New() *Factory {
	return &Factory{
		IO:      System(),  // the process's stdin/stdout/stderr
		Getenv:  os.Getenv, // the process environment
		Now:     time.Now,  // the wall clock
		WorkDir: os.Getwd,  // the current directory
	}
}
