// Package launch measures 'ws up' against the fake GitLab with 50 ms added
// to every request: the time until the pipeline exists, and the number of
// sequential round-trips that took.
//
//	go test ./bench/launch -run '^$' -bench . -benchtime 10x
package launch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/root"
	fg "github.com/ws-dev/ws/internal/testutil/fakegitlab"
)

const devfile = `schemaVersion: 2.2.0
metadata:
  name: demo
attributes:
  ws/tags: [ws]
components:
  - name: dev
    container:
      image: golang:1.23
`

// up runs 'ws up --no-wait' (or restart) in-process against a fresh fake
// and returns the time from the first request to the end of POST /pipeline
// and the number of sequential requests until then.
func up(tb testing.TB, latency time.Duration, args ...string) (time.Duration, int) {
	srv := fg.New()
	defer srv.Close()
	srv.Latency = latency
	m := &fg.Model{Jobs: []string{"running"}, Tags: []string{"ws"}, Online: 1}
	if args[0] == "restart" {
		m.Running, m.Content = true, "old: config\n"
	}
	m.Install(srv)
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(devfile), 0o644); err != nil {
		tb.Fatal(err)
	}
	ios, _, _, errOut := cmdutil.Test()
	f := cmdutil.New()
	f.IO = ios
	f.WorkDir = func() (string, error) { return dir, nil }
	f.Getenv = func(k string) string {
		switch k {
		case "GITLAB_HOST":
			return srv.URL
		case "GITLAB_TOKEN":
			return fg.Token
		}
		return ""
	}
	f.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	if code := root.Run(f, append(args, "-R", "g/p", "--ref", "main", "--no-wait")); code != 0 {
		tb.Fatalf("ws %v: exit %d\n%s", args, code, errOut)
	}
	for _, p := range srv.Problems() {
		tb.Error(p)
	}
	reqs := fg.Until(srv.Requests(), "POST", "/pipeline")
	last := reqs[len(reqs)-1]
	return last.End.Sub(reqs[0].Start), fg.Rounds(reqs)
}

// TestRoundTrips asserts the documented budgets through the whole CLI.
func TestRoundTrips(t *testing.T) {
	_, rounds := up(t, 20*time.Millisecond, "up")
	if rounds > 4 {
		t.Errorf("ws up: %d sequential requests before the pipeline exists, want at most 4", rounds)
	}
	_, rounds = up(t, 20*time.Millisecond, "restart", "demo")
	if rounds > 5 {
		t.Errorf("ws restart: %d sequential requests before the pipeline exists, want at most 5", rounds)
	}
}

func BenchmarkUpTimeToPipeline(b *testing.B) {
	bench(b, "up")
}

func BenchmarkRestartTimeToPipeline(b *testing.B) {
	bench(b, "restart", "demo")
}

func bench(b *testing.B, args ...string) {
	var total time.Duration
	rounds := 0
	for b.Loop() {
		d, r := up(b, 50*time.Millisecond, args...)
		total += d
		rounds = r
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-pipeline")
	b.ReportMetric(float64(rounds), "round-trips")
}
