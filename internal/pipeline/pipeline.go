// Package pipeline is the one path from a devfile on disk to generated CI
// YAML: find the file, load it (schema), compile it (compiler), encode it
// (ci). Commands (compile, validate, up, up --local) all go through here.
package pipeline

import (
	"errors"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/plan"
)

// Result is the outcome of compiling one devfile.
type Result struct {
	// Devfile is the path that was read.
	Devfile string
	// YAML is the generated .gitlab-ci.yml; nil when Diags has errors.
	YAML []byte
	// Plan is the agent's plan compiled into YAML; nil when Diags has errors.
	Plan *plan.Plan
	// Diags holds every error and warning, sorted.
	Diags diag.List
}

// ErrNotImplemented is returned until the compile issue lands.
var ErrNotImplemented = errors.New("compile: not implemented yet")

// CompileFile loads the devfile at path (or, when path is empty, the first of
// .devfile.yaml, .devfile.yml, devfile.yaml, devfile.yml in dir) and compiles it.
// An error is returned for I/O problems; devfile problems are in Result.Diags.
func CompileFile(dir, path string, opts compiler.Options) (*Result, error) {
	// TODO(compile issue): implemented by the compile work.
	return nil, ErrNotImplemented
}
