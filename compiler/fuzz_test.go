package compiler_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-dev/ws/ci"
	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
	"github.com/ws-dev/ws/schema"
)

// fuzzResult is everything a compilation shows a user.
type fuzzResult struct {
	yaml  []byte
	plan  []byte
	diags string
	list  diag.List
}

// compileBytes runs the pipeline of `ws compile` (schema.LoadBytes,
// compiler.Compile, ci.Encode) on data, with no file system and no network:
// local parents are missing and remote ones need --allow-network.
func compileBytes(t *testing.T, data []byte) fuzzResult {
	noFiles := func(string) ([]byte, error) { return nil, fs.ErrNotExist }
	df, diags := schema.LoadBytes("fuzz.devfile.yaml", "/nonexistent", data, schema.Options{ReadFile: noFiles})
	var r fuzzResult
	if df != nil && !diags.HasErrors() {
		// A name and a tag get past the "name the workspace" and "no runner
		// tags" diagnostics, so more inputs reach the job builder.
		opts := compiler.Options{Name: "fuzz", Tags: []string{"docker"}, SourceFile: "fuzz.devfile.yaml"}
		df.File = opts.SourceFile
		pl, p, cd := compiler.Compile(df, opts)
		diags = append(diags, cd...)
		if pl != nil && !diags.HasErrors() {
			out, err := ci.Encode(pl)
			if err != nil {
				t.Fatalf("ci.Encode: %v", err)
			}
			r.yaml = out
			if r.plan, err = json.Marshal(p); err != nil {
				t.Fatalf("marshal plan: %v", err)
			}
		} else if pl != nil || p != nil {
			t.Fatalf("compiler.Compile returned a pipeline or plan with errors:\n%s", diagText(diags))
		}
	}
	r.list = diags.Sorted()
	r.diags = diagText(r.list)
	return r
}

func diagText(l diag.List) string {
	var b strings.Builder
	_ = l.WriteText(&b)
	return b.String()
}

// FuzzCompile checks, for any input: no panic; the same input gives the same
// bytes and diagnostics twice; output is produced exactly when there is no
// error; every error has a code; and any output validates against GitLab's
// CI schema. Seeds are the devfiles of ../shared/corpus when present.
func FuzzCompile(f *testing.F) {
	f.Add([]byte("schemaVersion: 2.2.0\nmetadata: {name: demo}\ncomponents:\n- name: dev\n  container: {image: golang:1.22}\n"))
	f.Add([]byte("schemaVersion: 2.2.0\nvariables: {v: x}\ncomponents:\n- name: '{{v}}'\n  container: {image: 'a{{v}}', env: [{name: A, value: '$B'}]}\n"))
	f.Add([]byte(""))
	f.Add([]byte("{}"))
	// A plain `go test` runs every seed; to keep it fast it takes every
	// fourth corpus file (internal/corpustest compiles them all). Fuzzing
	// seeds with the whole corpus.
	step := 4
	if fl := flag.Lookup("test.fuzz"); fl != nil && fl.Value.String() != "" {
		step = 1
	}
	shared := filepath.Join(testutil.RepoRoot(), "..", "shared")
	for _, dir := range []string{"valid", "invalid", "fragments"} {
		files, _ := filepath.Glob(filepath.Join(shared, "corpus", "devfiles", dir, "*"))
		for i, name := range files {
			if i%step != 0 {
				continue
			}
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	schemaPath := filepath.Join(shared, cischema.SchemaRel)
	_, statErr := os.Stat(schemaPath)
	haveSchema := statErr == nil

	f.Fuzz(func(t *testing.T, data []byte) {
		a := compileBytes(t, data)
		b := compileBytes(t, data)
		if !bytes.Equal(a.yaml, b.yaml) || a.diags != b.diags || !bytes.Equal(a.plan, b.plan) {
			t.Fatalf("compiling twice differs:\nfirst YAML:\n%s\nsecond YAML:\n%s\nfirst diagnostics:\n%s\nsecond diagnostics:\n%s",
				a.yaml, b.yaml, a.diags, b.diags)
		}
		if a.list.HasErrors() == (a.yaml != nil) {
			t.Fatalf("errors = %v but YAML produced = %v:\n%s", a.list.HasErrors(), a.yaml != nil, a.diags)
		}
		if !a.list.HasErrors() && len(data) == 0 {
			t.Fatal("empty input compiled without errors")
		}
		for _, d := range a.list {
			if d.Code == "" {
				t.Errorf("diagnostic without a code: %s", d)
			}
		}
		if a.yaml != nil && haveSchema {
			if err := cischema.CheckGitLab(schemaPath, a.yaml); err != nil {
				var serr *cischema.Error
				if !errors.As(err, &serr) {
					t.Fatalf("generated YAML does not re-parse: %v\n%s", err, a.yaml)
				}
				t.Fatalf("generated YAML is not schema-valid: %v\n%s", err, a.yaml)
			}
		}
	})
}
