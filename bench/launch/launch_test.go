// Package launch measures 'ws up' against the fake GitLab: the time until
// the pipeline exists with 50 ms added to every request (benchmarks), and
// the exact number of sequential round trips that takes (TestRoundTrips).
//
//	go test ./bench/launch -run '^$' -bench . -benchtime 10x
//	go test ./bench/launch -run TestRoundTrips -v
package launch

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/root"
	"github.com/ws-dev/ws/gitlab"
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

// fake starts a fake GitLab project for 'ws up' or 'ws restart' (args[0]).
func fake(args ...string) *fg.Server {
	srv := fg.New()
	m := &fg.Model{Jobs: []string{"running"}, Tags: []string{"ws"}, Online: 1}
	if args[0] == "restart" {
		m.Running, m.Content = true, "old: config\n"
	}
	m.Install(srv)
	return srv
}

// run runs 'ws <args> --no-wait' in-process against srv; transport, when
// set, carries the GitLab requests instead of TCP.
func run(tb testing.TB, srv *fg.Server, transport http.RoundTripper, args ...string) {
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
	if transport != nil {
		f.GitLab = func(bool) (*gitlab.Client, error) {
			return gitlab.New(gitlab.Options{Host: srv.URL, Token: fg.Token, Transport: transport, Now: f.Now, Sleep: f.Sleep})
		}
	}
	if code := root.Run(f, append(args, "-R", "g/p", "--ref", "main", "--no-wait")); code != 0 {
		tb.Fatalf("ws %v: exit %d\n%s", args, code, errOut)
	}
	for _, p := range srv.Problems() {
		tb.Error(p)
	}
}

// rounds returns the sequential round trips 'ws <args>' takes before the
// pipeline exists, counted exactly (fakegitlab.InRounds).
func rounds(t *testing.T, args ...string) int {
	srv := fake(args...)
	defer srv.Close()
	srv.InRounds(t, func(t *testing.T) { run(t, srv, srv.Transport(), args...) })
	reqs := fg.Until(srv.Requests(), "POST", "/pipeline")
	t.Logf("ws %s: %d sequential round trips before the pipeline exists:\n%s", args[0], fg.Rounds(reqs), srv.Log())
	return fg.Rounds(reqs)
}

// TestRoundTrips asserts the documented round trips through the whole CLI
// (docs/launching.md, docs/benchmarks.md): a regression that adds one fails.
func TestRoundTrips(t *testing.T) {
	if n := rounds(t, "up"); n != 3 {
		t.Errorf("ws up: %d sequential requests before the pipeline exists, want 3", n)
	}
	if n := rounds(t, "restart", "demo"); n != 5 {
		t.Errorf("ws restart: %d sequential requests before the pipeline exists, want 5", n)
	}
}

func BenchmarkUpTimeToPipeline(b *testing.B) {
	bench(b, "up")
}

func BenchmarkRestartTimeToPipeline(b *testing.B) {
	bench(b, "restart", "demo")
}

// bench reports the time from the first request to the end of POST
// /pipeline over loopback TCP with 50 ms of simulated latency per request.
func bench(b *testing.B, args ...string) {
	var total time.Duration
	for b.Loop() {
		srv := fake(args...)
		srv.Latency = 50 * time.Millisecond
		run(b, srv, nil, args...)
		srv.Close()
		reqs := fg.Until(srv.Requests(), "POST", "/pipeline")
		total += reqs[len(reqs)-1].End.Sub(reqs[0].Start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-pipeline")
}
