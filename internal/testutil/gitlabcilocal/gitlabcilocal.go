// Package gitlabcilocal runs gitlab-ci-local (npm, pinned in package.json
// and package-lock.json beside this file), an independent implementation of
// GitLab CI's YAML rules, over generated pipelines. The bundled JSON schema
// (internal/testutil/cischema) is looser than GitLab; gitlab-ci-local checks
// GitLab's semantics too (for example that services[].variables are plain
// strings), so a second, independent judge looks at everything ws generates.
//
// scripts/install-gitlab-ci-local.sh installs it (make test runs the script
// when npm is available or CI is set). Tests call [Bin], which skips when it
// is missing outside CI and fails under CI=true.
package gitlabcilocal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/internal/testutil"
)

// Version is the pinned gitlab-ci-local release (package.json).
const Version = "4.73.0"

// EnvBin overrides where [Bin] looks for the executable.
const EnvBin = "WS_GITLAB_CI_LOCAL"

// Bin returns the gitlab-ci-local executable: $WS_GITLAB_CI_LOCAL, else
// node_modules/.bin/gitlab-ci-local beside this package. When neither
// exists, t is skipped outside CI and fails when CI is set, because CI must
// install it (scripts/install-gitlab-ci-local.sh, called by make test).
func Bin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" {
		bin = filepath.Join(testutil.RepoRoot(), "internal", "testutil", "gitlabcilocal", "node_modules", ".bin", "gitlab-ci-local")
	}
	_, err := os.Stat(bin)
	_, nodeErr := exec.LookPath("node")
	if err == nil && nodeErr == nil {
		return bin
	}
	msg := fmt.Sprintf("gitlab-ci-local %s is not installed (%s); run bash scripts/install-gitlab-ci-local.sh", Version, bin)
	if nodeErr != nil {
		msg = "node is not on PATH; run bash scripts/install-gitlab-ci-local.sh"
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this test must run)", msg)
	}
	t.Skip(msg)
	return ""
}

// Repo makes dir a git repository with one commit and an origin remote, as
// gitlab-ci-local expects of the directory it runs in (otherwise it prints
// a page of git errors before every run). Subdirectories may hold the
// pipelines: git finds the repository from them.
func Repo(dir string) error {
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "ws"},
		{"config", "user.email", "ws@example.invalid"},
		{"commit", "-q", "--allow-empty", "-m", "init"},
		{"remote", "add", "origin", "https://gitlab.example.invalid/group/project.git"},
		{"update-ref", "refs/remotes/origin/main", "HEAD"},
		{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// Command returns gitlab-ci-local with args, run in dir (a directory holding
// .gitlab-ci.yml inside a [Repo]) with HOME set to home, so that no
// variables file of the user's leaks in. For example, to run the workspace
// job of a pipeline compiled with --agent-source local on this machine
// (ws on PATH; gitlab-ci-local copies the checkout with rsync):
//
//	Command(ctx, bin, dir, home, "--force-shell-executor", "workspace")
func Command(ctx context.Context, bin, dir, home string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--no-color"}, args...)...)
	cmd.Dir = dir
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		// Variables of the CI run itself would reach the pipeline.
		return strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "CI_") || strings.HasPrefix(kv, "GITLAB_")
	})
	cmd.Env = append(env, "HOME="+home, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	return cmd
}

// Pipeline is one generated .gitlab-ci.yml to check.
type Pipeline struct {
	Name string // shown in failures
	YAML []byte
}

// Check runs `gitlab-ci-local --list` over pipes and returns, for each
// pipeline it refuses, its output. To stay fast (each run spends about a
// second compiling GitLab's JSON schema), pipelines are checked in batches:
// [Merge] puts a batch into one file with each pipeline's jobs prefixed. A
// batch that fails is split in halves until the refused pipelines are
// found, and each is reported from a run of that pipeline alone, unmerged.
// Batches run on GOMAXPROCS workers.
func Check(ctx context.Context, bin, workDir string, pipes []Pipeline, batchSize int) (map[string]string, error) {
	if err := Repo(workDir); err != nil {
		return nil, err
	}
	c := &checker{ctx: ctx, bin: bin, workDir: workDir, home: filepath.Join(workDir, "home"), refused: map[string]string{}}
	if err := os.MkdirAll(c.home, 0o755); err != nil {
		return nil, err
	}
	batches := chunk(pipes, max(batchSize, 1))
	var (
		wg   sync.WaitGroup
		next = make(chan []Pipeline)
	)
	for range min(runtime.GOMAXPROCS(0), len(batches)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				c.check(b)
			}
		}()
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	if c.err != nil {
		return c.refused, fmt.Errorf("run gitlab-ci-local: %w", c.err)
	}
	return c.refused, nil
}

type checker struct {
	ctx                context.Context
	bin, workDir, home string

	mu      sync.Mutex
	runs    int
	refused map[string]string
	err     error
}

// check runs one batch, and bisects it when it fails.
func (c *checker) check(b []Pipeline) {
	data := b[0].YAML
	if len(b) > 1 {
		var err error
		if data, err = Merge(b); err != nil {
			c.fail(err)
			return
		}
	}
	out, ok, err := c.run(data)
	switch {
	case err != nil:
		c.fail(err)
	case ok:
	case len(b) == 1:
		c.mu.Lock()
		c.refused[b[0].Name] = out
		c.mu.Unlock()
	default:
		c.check(b[:len(b)/2])
		c.check(b[len(b)/2:])
	}
}

func (c *checker) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// run checks one file in a directory of its own; ok is false when
// gitlab-ci-local exits non-zero, and out holds what it printed.
func (c *checker) run(data []byte) (out string, ok bool, err error) {
	c.mu.Lock()
	c.runs++
	dir := filepath.Join(c.workDir, fmt.Sprintf("run%04d", c.runs))
	c.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), data, 0o644); err != nil {
		return "", false, err
	}
	cmd := Command(c.ctx, c.bin, dir, c.home, "--list")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	if c.ctx.Err() != nil {
		return "", false, c.ctx.Err()
	}
	if _, exit := err.(*exec.ExitError); exit {
		return buf.String(), false, nil
	}
	return buf.String(), err == nil, err
}

func chunk(pipes []Pipeline, n int) [][]Pipeline {
	var out [][]Pipeline
	for len(pipes) > 0 {
		k := min(n, len(pipes))
		out = append(out, pipes[:k])
		pipes = pipes[k:]
	}
	return out
}

// pipelineKeys are the top-level keys that are not jobs.
var pipelineKeys = []string{"stages", "workflow", "variables", "default", "include", "image", "services", "cache", "before_script", "after_script"}

// Merge joins pipelines into one file: the jobs of pipeline i are renamed
// p<i>-<name>, and so are the references to them (needs[].job,
// needs: [name], dependencies, environment.on_stop). Stages are joined in
// order; every pipeline must have the same workflow and no other top-level
// keywords, which holds for what ws generates. The merged file has the
// same jobs with the same contents, so the job-level rules GitLab applies
// are checked exactly; pipeline-level ones (needs, on_stop, stages) are
// checked within each pipeline's renamed jobs.
func Merge(pipes []Pipeline) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	var stages []string
	var workflow *yaml.Node
	var jobs []*yaml.Node
	for i, p := range pipes {
		var doc yaml.Node
		if err := yaml.Unmarshal(p.YAML, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: not a mapping", p.Name)
		}
		m := doc.Content[0]
		prefix := fmt.Sprintf("p%d-", i)
		for k := 0; k+1 < len(m.Content); k += 2 {
			key, val := m.Content[k], m.Content[k+1]
			switch key.Value {
			case "stages":
				for _, s := range val.Content {
					if !slices.Contains(stages, s.Value) {
						stages = append(stages, s.Value)
					}
				}
			case "workflow":
				if workflow != nil && !nodeEqual(workflow, val) {
					return nil, fmt.Errorf("%s: its workflow differs from the batch's; check it alone", p.Name)
				}
				workflow = val
			default:
				if slices.Contains(pipelineKeys, key.Value) {
					return nil, fmt.Errorf("%s: top-level %s cannot be merged; check it alone", p.Name, key.Value)
				}
				renameRefs(val, prefix)
				jobs = append(jobs, &yaml.Node{Kind: yaml.ScalarNode, Value: prefix + key.Value}, val)
			}
		}
	}
	if len(stages) > 0 {
		sn := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range stages {
			sn.Content = append(sn.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s})
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "stages"}, sn)
	}
	if workflow != nil {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "workflow"}, workflow)
	}
	root.Content = append(root.Content, jobs...)
	return yaml.Marshal(root)
}

// renameRefs prefixes the job names a job refers to.
func renameRefs(job *yaml.Node, prefix string) {
	if job.Kind != yaml.MappingNode {
		return
	}
	for k := 0; k+1 < len(job.Content); k += 2 {
		key, val := job.Content[k].Value, job.Content[k+1]
		switch key {
		case "needs", "dependencies":
			for _, n := range val.Content {
				switch n.Kind {
				case yaml.ScalarNode:
					n.Value = prefix + n.Value
				case yaml.MappingNode:
					for j := 0; j+1 < len(n.Content); j += 2 {
						if n.Content[j].Value == "job" {
							n.Content[j+1].Value = prefix + n.Content[j+1].Value
						}
					}
				}
			}
		case "environment":
			for j := 0; val.Kind == yaml.MappingNode && j+1 < len(val.Content); j += 2 {
				if val.Content[j].Value == "on_stop" {
					val.Content[j+1].Value = prefix + val.Content[j+1].Value
				}
			}
		}
	}
}

func nodeEqual(a, b *yaml.Node) bool {
	x, err1 := yaml.Marshal(a)
	y, err2 := yaml.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
