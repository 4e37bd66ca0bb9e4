package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-dev/ws/internal/testutil"
)

// agentForbidden is what must never be linked into the slim agent binary
// (cmd/ws-agent) that every workspace job downloads and runs: Kubernetes
// and devfile code, the GitLab client, the CLI, and ws's own packages that
// only the user's or the gateway's side needs.
var agentForbidden = []string{
	"k8s.io/", "sigs.k8s.io/", "github.com/devfile/", "gitlab.com/gitlab-org/api/client-go",
	"github.com/spf13/cobra", "go.yaml.in/yaml", "gopkg.in/yaml", "github.com/prometheus/",
	mod + "compiler", mod + "schema", mod + "gitlab", mod + "gateway", mod + "webui",
	mod + "local", mod + "cmd/root", mod + "cmd/cmdutil", mod + "internal/pipeline", mod + "internal/config",
}

// TestAgentBinaryImports: the whole import graph of cmd/ws-agent (not only
// its direct imports) stays free of agentForbidden.
func TestAgentBinaryImports(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/ws-agent")
	cmd.Dir = testutil.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps ./cmd/ws-agent listed %d packages", len(deps))
	}
	for _, d := range deps {
		for _, bad := range agentForbidden {
			if d == bad || strings.HasPrefix(d, bad) {
				t.Errorf("cmd/ws-agent links %s; the in-job agent must not (issue 15: a slim agent)", d)
			}
		}
	}
}

// agentMaxBytes is the size budget of the released agent binary.
const agentMaxBytes = 8 << 20

// TestAgentBinarySize builds ws-agent as the release does (-trimpath,
// -s -w, CGO_ENABLED=0) and checks it fits the 8 MiB budget.
func TestAgentBinarySize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent binary")
	}
	bin := filepath.Join(t.TempDir(), "ws-agent")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/ws-agent")
	cmd.Dir = testutil.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > agentMaxBytes {
		t.Errorf("ws-agent is %d bytes, over the %d-byte budget", fi.Size(), agentMaxBytes)
	}
	t.Logf("ws-agent (linux/amd64, -s -w): %d bytes", fi.Size())
}
