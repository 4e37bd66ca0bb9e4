// Command ws turns a devfile into a developer workspace running on GitLab CI runners.
//
// Installed (or linked, or mounted) under the name ws-agent, the same binary
// behaves as the slim ws-agent does: generated jobs run "ws-agent inject" and
// "$WS_BIN" agent, so the full ws can stand in for the agent (ws up --local
// mounts it so when no ws-agent binary sits beside it).
package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/ws-dev/ws/agent/cli"
	"github.com/ws-dev/ws/cmd/root"
	"github.com/ws-dev/ws/internal/build"
)

func main() {
	if filepath.Base(os.Args[0]) == "ws-agent" {
		self := []string{"/proc/self/exe", "agent"}
		if exe, err := os.Executable(); err == nil {
			self[0] = exe
		}
		os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Stdio(self, build.Version)))
	}
	os.Exit(root.Main())
}
