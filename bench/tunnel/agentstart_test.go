package tunnel

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/plan"
)

// TestAgentStart compares the slim agent (cmd/ws-agent) with the full ws
// as the in-job agent, each a separate process built as the release builds
// it: binary size, and the time from exec'ing the agent to the first
// command's exit through a gateway (the agent dials, registers, and serves
// an exec session), alternating the two binaries in one run (WS_BENCH=1).
// Figures: docs/benchmarks.md ("Agent").
func TestAgentStart(t *testing.T) {
	if os.Getenv("WS_BENCH") == "" {
		t.Skip("set WS_BENCH=1 to measure")
	}
	dir := t.TempDir()
	bins := map[string][]string{}
	for name, pkg := range map[string]string{"ws": "./cmd/ws", "ws-agent": "./cmd/ws-agent"} {
		bin := filepath.Join(dir, name)
		b := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg)
		b.Dir = testutil.RepoRoot()
		b.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := b.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
		fi, _ := os.Stat(bin)
		t.Logf("%s: %d bytes (%.1f MiB)", name, fi.Size(), float64(fi.Size())/(1<<20))
		bins[name] = []string{bin, "agent"}
	}
	g, err := gateway.New(gateway.Config{GitLabURL: fakeGitLab(t), PublicURL: "http://gw.test"})
	if err != nil {
		t.Fatal(err)
	}
	gurl := serve(t, g.Handler())
	const rounds = 15
	times := map[string][]float64{}
	rss := map[string][]float64{}
	for i := range rounds {
		for _, name := range []string{"ws", "ws-agent"} {
			ws := fmt.Sprintf("start%d-%s", i, strings.ReplaceAll(name, "-", ""))
			d, kb := firstShell(t, gurl, bins[name], ws, dir)
			times[name] = append(times[name], float64(d.Microseconds())/1000)
			rss[name] = append(rss[name], kb/1024)
		}
	}
	var ratios []float64
	for i := range rounds {
		ratios = append(ratios, times["ws-agent"][i]/times["ws"][i])
	}
	for _, name := range []string{"ws", "ws-agent"} {
		t.Logf("%s agent: start to first command exit, %d runs: median %.1f ms (min %.1f, max %.1f); RSS after it median %.1f MiB",
			name, rounds, median(times[name]), minOf(times[name]), maxOf(times[name]), median(rss[name]))
	}
	sort.Float64s(ratios)
	t.Logf("ws-agent / ws per round: median %.2f (min %.2f, max %.2f)", median(ratios), ratios[0], ratios[len(ratios)-1])
}

// firstShell starts argv as the agent of workspace name and returns the
// time until 'true' ran through the gateway, and the agent's RSS then (KiB).
func firstShell(t *testing.T, gurl string, argv []string, name, dir string) (time.Duration, float64) {
	p, _ := json.Marshal(&plan.Plan{Version: plan.Version, Workspace: name, WorkingDir: dir})
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WS_PLAN=" + string(p),
		"CI_JOB_TOKEN=" + jobTok + "-" + name, "WS_AGENT_GATEWAY=" + gurl, "WS_AGENT_LOG=" + filepath.Join(dir, name+".log")}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	c := &gwclient.Client{BaseURL: gurl, Token: userTok}
	var s *gwclient.Session
	for {
		var err error
		if s, err = c.Connect(context.Background(), "7", name); err == nil {
			break
		}
		if time.Since(t0) > 30*time.Second {
			log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			t.Fatalf("agent %s did not register:\n%s", argv[0], log)
		}
		time.Sleep(200 * time.Microsecond) // a measurement's resolution, not synchronisation
	}
	defer s.Close()
	code, err := s.Exec(context.Background(), gwclient.ExecOptions{Command: []string{"true"}})
	d := time.Since(t0)
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	return d, vmRSS(cmd.Process.Pid)
}

func vmRSS(pid int) float64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb
		}
	}
	return 0
}

func minOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[0]
}

func maxOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)-1]
}
