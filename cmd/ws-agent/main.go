// Command ws-agent is the slim agent binary: only what runs inside the
// workspace job (the agent, its tunnel, the stop sentinel and the service
// injector), none of ws's GitLab, compiler, devfile or Kubernetes code.
// Every delivery mode puts it in the job as $WS_BIN.
package main

import (
	"context"
	"os"

	"github.com/ws-dev/ws/agent/cli"
	"github.com/ws-dev/ws/internal/build"
)

func main() {
	self := []string{"/proc/self/exe"}
	if exe, err := os.Executable(); err == nil {
		self = []string{exe}
	}
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Stdio(self, build.Version)))
}
