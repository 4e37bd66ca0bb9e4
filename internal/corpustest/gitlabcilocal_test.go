package corpustest

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/gitlabcilocal"
)

// TestGitLabCILocalAcceptsEverything runs gitlab-ci-local, an independent
// implementation of GitLab CI's YAML rules, over every pipeline ws
// generates from the corpus (valid/, default options), from examples/, and
// the golden outputs of testdata/compile/ (every option ws has): each must
// be accepted. The bundled
// JSON schema accepted {value, expand} under services[].variables, which
// GitLab refuses; this judge does not.
func TestGitLabCILocalAcceptsEverything(t *testing.T) {
	bin := gitlabcilocal.Bin(t)
	var pipes []gitlabcilocal.Pipeline
	add := func(name string, res *pipeline.Result, err error) {
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if res.YAML != nil {
			pipes = append(pipes, gitlabcilocal.Pipeline{Name: name, YAML: res.YAML})
		}
	}
	validDir := filepath.Join(testutil.SharedDir(t), "corpus", "devfiles", "valid")
	// Default options; the other job shapes (service delivery, a gateway's
	// environment url, local agents, tags) are in the golden outputs below.
	for _, name := range corpusFiles(t, validDir) {
		res, err := compiledDefault(validDir, name)
		add("valid/"+name, res, err)
	}
	root := testutil.RepoRoot()
	examples, _ := filepath.Glob(filepath.Join(root, "examples", "*", "devfile.yaml"))
	for _, ex := range examples {
		rel, _ := filepath.Rel(root, ex)
		res, err := pipeline.CompileFile(filepath.Dir(ex), "devfile.yaml", compiler.Options{})
		add(filepath.ToSlash(rel), res, err)
	}
	goldens, _ := filepath.Glob(filepath.Join(root, "testdata", "compile", "*.txtar"))
	for _, g := range goldens {
		ar, err := txtar.ParseFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			if f.Name == "want/.gitlab-ci.yml" {
				pipes = append(pipes, gitlabcilocal.Pipeline{Name: "testdata/compile/" + filepath.Base(g), YAML: f.Data})
			}
		}
	}
	if len(pipes) < 300 {
		t.Fatalf("only %d pipelines to check; the corpus or the compiler is broken", len(pipes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	refused, err := gitlabcilocal.Check(ctx, bin, t.TempDir(), pipes, 80)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gitlab-ci-local %s checked %d pipelines in %s", gitlabcilocal.Version, len(pipes), time.Since(start).Round(time.Millisecond))
	names := make([]string, 0, len(refused))
	for n := range refused {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("gitlab-ci-local refuses the pipeline compiled from %s:\n%s", n, lastLines(refused[n], 5))
	}
}

// lastLines keeps the end of gitlab-ci-local's output, where its verdict is.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
