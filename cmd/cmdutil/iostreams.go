package cmdutil

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the process's standard streams plus what is known about them.
// Decorations (colour, live status lines) are used only when the stream is a TTY.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	// noColor is set by NO_COLOR (https://no-color.org) or TERM=dumb.
	noColor bool
}

// System returns streams bound to os.Stdin, os.Stdout and os.Stderr.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		noColor:   os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
	}
}

// Test returns streams backed by buffers, with every TTY flag off.
func Test() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// IsStdinTTY reports whether standard input is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// IsStdoutTTY reports whether standard output is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether standard error is a terminal (progress goes there).
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetTTY sets all three TTY flags; for tests.
func (s *IOStreams) SetTTY(in, out, errOut bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = in, out, errOut
}

// CanPrompt reports whether the user can be asked a question.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stdoutTTY }

// SetNoColor turns colour off (NO_COLOR) or back on; for tests.
func (s *IOStreams) SetNoColor(off bool) { s.noColor = off }

// ColorOut is the colour scheme for standard output: plain unless stdout
// is a terminal and NO_COLOR is unset.
func (s *IOStreams) ColorOut() ColorScheme { return ColorScheme{on: s.stdoutTTY && !s.noColor} }

// ColorErr is the colour scheme for standard error (warnings, errors, progress).
func (s *IOStreams) ColorErr() ColorScheme { return ColorScheme{on: s.stderrTTY && !s.noColor} }

// ColorScheme adds ANSI colour to words where gh would: states, errors,
// warnings. The zero value prints plain text.
type ColorScheme struct{ on bool }

func (c ColorScheme) wrap(code, s string) string {
	if !c.on || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Red is for errors and failed states.
func (c ColorScheme) Red(s string) string { return c.wrap("31", s) }

// Green is for running and success.
func (c ColorScheme) Green(s string) string { return c.wrap("32", s) }

// Yellow is for warnings and states in progress.
func (c ColorScheme) Yellow(s string) string { return c.wrap("33", s) }

// Gray is for stopped states and hints.
func (c ColorScheme) Gray(s string) string { return c.wrap("90", s) }

// Bold is for names.
func (c ColorScheme) Bold(s string) string { return c.wrap("1", s) }

// State colours a workspace or job state word.
func (c ColorScheme) State(s string) string {
	switch s {
	case "running", "success", "connected":
		return c.Green(s)
	case "starting", "pending", "created", "preparing", "waiting_for_resource", "stopping", "waiting":
		return c.Yellow(s)
	case "failed", "canceled":
		return c.Red(s)
	case "stopped", "none", "skipped", "manual":
		return c.Gray(s)
	}
	return s
}
