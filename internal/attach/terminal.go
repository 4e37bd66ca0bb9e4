package attach

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

// Terminal is the user's terminal, put in raw mode for a remote PTY (ws shell, ws ssh).
type Terminal struct {
	Term       string // $TERM, else xterm-256color
	Cols, Rows int    // its size when it was taken
	// Resize receives its new size (cols, rows) after each SIGWINCH; only the latest counts.
	Resize <-chan [2]int
	// Restore puts the terminal back as it was and stops watching its size.
	Restore func()
}

// RawTerminal takes the terminal of ios for a remote PTY, or returns nil when stdin or stdout
// is not one.
func RawTerminal(ios *cmdutil.IOStreams, getenv func(string) string) *Terminal {
	inFile, _ := ios.In.(*os.File)
	outFile, _ := ios.Out.(*os.File)
	if !ios.IsStdinTTY() || !ios.IsStdoutTTY() || inFile == nil || outFile == nil {
		return nil
	}
	t := &Terminal{Term: getenv("TERM")}
	if t.Term == "" {
		t.Term = "xterm-256color"
	}
	if w, h, err := term.GetSize(int(outFile.Fd())); err == nil {
		t.Cols, t.Rows = w, h
	}
	old, err := term.MakeRaw(int(inFile.Fd()))
	resize := make(chan [2]int, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for range winch {
			if w, h, err := term.GetSize(int(outFile.Fd())); err == nil {
				select {
				case <-resize: // drop a size not yet sent: only the latest counts
				default:
				}
				resize <- [2]int{w, h}
			}
		}
	}()
	t.Resize = resize
	t.Restore = func() {
		signal.Stop(winch)
		close(winch)
		if err == nil {
			_ = term.Restore(int(inFile.Fd()), old)
		}
	}
	return t
}
