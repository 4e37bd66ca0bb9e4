// Package pipeline is the one path from a devfile on disk to generated CI
// YAML: find the file, load it (schema), compile it (compiler), encode it
// (ci). Commands (compile, validate, up, up --local) all go through here.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/internal/build"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/schema"
)

// Result is the outcome of compiling one devfile.
type Result struct {
	// Devfile is the path that was read, relative to dir when it is inside
	// it, with forward slashes.
	Devfile string
	// YAML is the generated .gitlab-ci.yml; nil when Diags has errors.
	YAML []byte
	// Plan is the agent's plan compiled into YAML; nil when Diags has errors.
	Plan *plan.Plan
	// Pipeline is the typed model YAML was encoded from ('ws up --local'
	// runs its workspace job); nil when Diags has errors.
	Pipeline *ci.Pipeline
	// Diags holds every error and warning, sorted.
	Diags diag.List
}

// ErrNoDevfile is returned when no devfile was given and none is found.
var ErrNoDevfile = errors.New("no devfile found (looked for " + strings.Join(DevfileNames, ", ") + ")")

// DevfileNames are the files looked for, in order, when no path is given
// (GitLab's and odo's conventions).
var DevfileNames = []string{".devfile.yaml", ".devfile.yml", "devfile.yaml", "devfile.yml"}

// Option changes how CompileFile loads a devfile.
type Option func(*settings)

type settings struct {
	fetch func(url string) ([]byte, error)
}

// WithNetwork lets parents and plugins given by URL or registry id be
// fetched over HTTP(S), each request bounded by timeout (--allow-network).
func WithNetwork(timeout time.Duration) Option {
	client := &http.Client{Timeout: timeout}
	return func(s *settings) {
		s.fetch = func(url string) ([]byte, error) { return httpGet(client, url) }
	}
}

// WithFetcher sets the function that fetches remote parents; tests use it.
func WithFetcher(fetch func(url string) ([]byte, error)) Option {
	return func(s *settings) { s.fetch = fetch }
}

// Find returns the devfile path: path joined to dir, or the first of
// DevfileNames in dir.
func Find(dir, path string) (string, error) {
	if path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return path, nil
	}
	for _, n := range DevfileNames {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", ErrNoDevfile
}

// CompileFile loads the devfile at path (or, when path is empty, the first of
// .devfile.yaml, .devfile.yml, devfile.yaml, devfile.yml in dir) and compiles it.
// An error is returned for I/O problems; devfile problems are in Result.Diags.
func CompileFile(dir, path string, opts compiler.Options, options ...Option) (*Result, error) {
	var s settings
	for _, o := range options {
		o(&s)
	}
	full, err := Find(dir, path)
	if err != nil {
		return nil, err
	}
	display := displayPath(dir, full)
	fi, err := os.Stat(full)
	if err != nil {
		return nil, fmt.Errorf("read devfile %s: %w", display, unwrapPath(err))
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("read devfile %s: is a directory", display)
	}
	res := &Result{Devfile: display}
	data, err := readLimited(full)
	if err != nil {
		return nil, fmt.Errorf("read devfile %s: %w", display, unwrapPath(err))
	}
	if opts.SourceFile == "" {
		opts.SourceFile = display
	}
	if opts.Version == "" {
		// The agent image is pinned to this ws's release (issue 17 item 6).
		opts.Version = build.Version
	}
	if opts.DefaultName == "" {
		// The directory holding the devfile is usually the repository.
		opts.DefaultName = filepath.Base(filepath.Dir(full))
	}
	lo := schema.Options{Vars: opts.Vars, ReadFile: readLimited, Fetch: s.fetch}
	df, diags := schema.LoadBytes(display, filepath.Dir(full), data, lo)
	res.Diags = diags
	if df == nil || diags.HasErrors() {
		res.Diags = diags.Sorted()
		return res, nil
	}
	df.File = opts.SourceFile
	pl, p, cdiags := compiler.Compile(df, opts)
	res.Diags = append(res.Diags, cdiags...).Sorted()
	if pl == nil || res.Diags.HasErrors() {
		return res, nil
	}
	out, err := ci.Encode(pl)
	if err != nil {
		return nil, err
	}
	res.YAML, res.Plan, res.Pipeline = out, p, pl
	return res, nil
}

// readLimited reads a file but never more than one byte past schema.MaxSize,
// so a huge file costs no memory; the loader reports it as too large.
func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, schema.MaxSize+1))
}

func displayPath(dir, full string) string {
	if rel, err := filepath.Rel(dir, full); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(full)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func httpGet(client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-yaml, text/yaml, */*")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, schema.MaxSize+1))
}
