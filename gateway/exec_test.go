package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ws-dev/ws/gwclient"
)

var errDiskFull = errors.New("no space left on device")

// fullWriter fails every write, as a redirect to a full disk does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// TestExecOutputWriteFails: when the caller's Stdout fails, Exec keeps reading
// the command's output, so the command is not blocked on a full stream and
// exits, and Exec returns its exit code with the write error.
func TestExecOutputWriteFails(t *testing.T) {
	g := startGateway(t, nil)
	runAgent(t, g, false)
	s, err := (&gwclient.Client{BaseURL: g.url, Token: "tok-ada"}).Connect(context.Background(), "42", "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A bound for the failure only: a reader that stopped would leave the
	// command blocked, 4 MiB being far more than a stream's window.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, err := s.Exec(ctx, gwclient.ExecOptions{Command: []string{"sh", "-c", "head -c 4194304 /dev/zero; exit 7"}, Stdout: fullWriter{}})
	if code != 7 || !errors.Is(err, errDiskFull) {
		t.Fatalf("Exec = %d, %v; want 7 and the write error", code, err)
	}
}
