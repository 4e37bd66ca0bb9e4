package archtest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ws-dev/ws/internal/testutil"
)

const mod = "github.com/ws-dev/ws/"

// imports returns each package's direct imports (non-test files).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", "./...")
	cmd.Dir = testutil.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		m[strings.TrimPrefix(pkg, mod)] = strings.Fields(deps)
	}
	return m
}

func TestPackageBoundaries(t *testing.T) {
	all := imports(t)
	forbidden := map[string][]string{
		// compiler/ is pure: no I/O, environment, clock, network or CLI.
		"compiler": {"os", "os/exec", "net", "net/http", "time", "syscall", "github.com/spf13/cobra", mod + "gitlab", mod + "cmd/"},
		// schema/ reads files only through what the caller passes in.
		"schema": {"net", "net/http", "os/exec", "github.com/spf13/cobra", mod + "gitlab", mod + "cmd/"},
		"ci":     {"os", "net", "net/http", "time", "github.com/spf13/cobra", mod},
		"diag":   {"os", "net", "time", mod},
		"plan":   {"os", "net", "time", mod},
		// The names every area shares; importable from anywhere.
		"internal/names": {"os", "net", "time", mod},
		// Only gitlab/ talks to GitLab's REST API.
		"agent":  {"gitlab.com/gitlab-org/api/client-go", mod + "gitlab"},
		"tunnel": {"gitlab.com/gitlab-org/api/client-go", mod + "gitlab", "github.com/spf13/cobra"},
		"webui":  {"gitlab.com/gitlab-org/api/client-go", mod + "gitlab", mod + "gateway", mod + "tunnel"},
		// ws up --local needs no GitLab: its embedded gateway authenticates with a local
		// secret, and the identity types live in internal/identity.
		"local": {"gitlab.com/gitlab-org/api/client-go", mod + "gitlab", "github.com/spf13/cobra", mod + "cmd/"},
		// The gateway is a server: no command line, no client side, no local supervisor;
		// GitLab only through gitlab/ (GitLabAuth).
		// Its shared state is a kv.Store: which one (memory, Redis) the command decides.
		"gateway":           {"gitlab.com/gitlab-org/api/client-go", "github.com/spf13/cobra", mod + "cmd/", mod + "local", mod + "gwclient", mod + "internal/attach", mod + "internal/config", "github.com/redis/go-redis/v9", mod + "internal/kv/rediskv"},
		"internal/identity": {"os", "net", "time", mod},
		// The store the replicas share knows nothing of ws; Redis only in internal/kv/rediskv.
		"internal/kv": {"github.com/redis/go-redis/v9", mod},
		// The API shapes the gateway and its client share import neither.
		"internal/gwapi": {"net", "net/http", mod},
	}
	for pkg, bad := range forbidden {
		deps, ok := all[pkg]
		if !ok {
			t.Errorf("package %s not found", pkg)
			continue
		}
		for _, d := range deps {
			for _, b := range bad {
				// A rule ending in "/" forbids a whole tree (mod: every ws package).
				if d == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(d, b)) {
					t.Errorf("%s imports %s (docs/architecture.md: it must not)", pkg, d)
				}
			}
		}
	}
	for pkg, deps := range all {
		if strings.HasPrefix(pkg, "internal/testutil") || strings.HasPrefix(pkg, "bench/") || strings.HasPrefix(pkg, "internal/e2e") || strings.Contains(pkg, "/internal/devserver") {
			continue
		}
		for _, d := range deps {
			if strings.HasPrefix(d, mod+"internal/testutil") {
				t.Errorf("production package %s imports test helper %s", pkg, d)
			}
		}
	}
	for pkg, deps := range all {
		if pkg == "gitlab" || strings.HasPrefix(pkg, "internal/testutil") || strings.HasPrefix(pkg, "bench/") {
			continue
		}
		for _, d := range deps {
			if strings.HasPrefix(d, "gitlab.com/gitlab-org/api/client-go") {
				t.Errorf("%s imports client-go; GitLab access belongs in gitlab/", pkg)
			}
		}
	}
}

// clientServerApart: the gateway's client and its server share only the wire (tunnel) and the
// API shapes (internal/gwapi); neither links the other, however indirectly (issue 15).
var clientServerApart = map[string][]string{
	"gwclient": {mod + "gateway", mod + "local", mod + "webui", mod + "gitlab", mod + "cmd/", "github.com/spf13/cobra"},
	"gateway":  {mod + "gwclient", mod + "internal/attach", mod + "cmd/"},
}

func TestClientServerApart(t *testing.T) {
	for pkg, bad := range clientServerApart {
		cmd := exec.Command("go", "list", "-deps", "./"+pkg)
		cmd.Dir = testutil.RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps ./%s listed %d packages", pkg, len(deps))
		}
		for _, d := range deps {
			for _, b := range bad {
				if d == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(d, b)) {
					t.Errorf("%s links %s (docs/architecture.md: client and server stay apart)", pkg, d)
				}
			}
		}
	}
}
