package compiler_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

const (
	wantYAML  = "want/.gitlab-ci.yml"
	wantDiags = "want/diagnostics"
	argsFile  = "args"
)

// TestGolden compiles every testdata/compile/*.txtar case: the devfile in
// section .devfile.yaml (other sections are extra files, e.g. parents; an
// "args" section holds options as key=value lines) against want/.gitlab-ci.yml
// and want/diagnostics. WS_UPDATE=1 rewrites the want sections.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "compile", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var args []string
			for _, f := range ar.Files {
				switch {
				case f.Name == argsFile:
					for _, l := range strings.Split(strings.TrimSpace(string(f.Data)), "\n") {
						if l = strings.TrimSpace(l); l != "" {
							args = append(args, l)
						}
					}
				case strings.HasPrefix(f.Name, "want/"):
				default:
					p := filepath.Join(dir, filepath.FromSlash(f.Name))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			opts := options(t, args)
			res, err := pipeline.CompileFile(dir, "", opts)
			if err != nil {
				t.Fatalf("CompileFile(%s): %v", name, err)
			}
			var diags bytes.Buffer
			if err := res.Diags.WriteText(&diags); err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{wantDiags: diags.Bytes()}
			if res.YAML != nil {
				got[wantYAML] = res.YAML
				checkOutput(t, dir, opts, res.YAML)
			}
			if testutil.Update() {
				update(t, file, ar, got)
				return
			}
			for _, f := range ar.Files {
				if !strings.HasPrefix(f.Name, "want/") {
					continue
				}
				if g, ok := got[f.Name]; !ok {
					t.Errorf("Compile(%s) produced no %s, want:\n%s", name, f.Name, f.Data)
				} else if string(g) != string(f.Data) {
					t.Errorf("Compile(%s): %s differs (WS_UPDATE=1 rewrites it):\n%s", name, f.Name, testutil.LineDiff(string(f.Data), string(g)))
				}
				delete(got, f.Name)
			}
			for n, g := range got {
				if len(g) > 0 {
					t.Errorf("Compile(%s) produced %s but the case has no such section:\n%s", name, n, g)
				}
			}
		})
	}
}

// checkOutput: compiling twice gives the same bytes, the output re-parses
// and re-encodes unchanged, and it validates against GitLab's CI schema.
func checkOutput(t *testing.T, dir string, opts compiler.Options, out []byte) {
	t.Helper()
	again, err := pipeline.CompileFile(dir, "", opts)
	if err != nil || !bytes.Equal(again.YAML, out) {
		t.Errorf("second compilation differs (err %v)", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(out, &n); err != nil {
		t.Fatalf("output does not re-parse: %v", err)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), out) {
		t.Errorf("output changes when re-encoded:\n%s", testutil.LineDiff(string(out), b.String()))
	}
	cischema.Validate(t, out)
}

func options(t *testing.T, args []string) compiler.Options {
	opts := compiler.Options{Name: "demo", Tags: []string{"ws"}}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "name":
			opts.Name = v
		case "tags":
			opts.Tags = nil
			if v != "" {
				opts.Tags = strings.Split(v, ",")
			}
		case "timeout":
			opts.Timeout = v
		case "idle-timeout":
			opts.IdleTimeout = v
		case "profile":
			opts.Profile = compiler.Profile(v)
		case "gateway":
			opts.Gateway = v
		case "agent-source":
			opts.AgentSource = v
		case "var":
			if opts.Vars == nil {
				opts.Vars = map[string]string{}
			}
			kk, vv, _ := strings.Cut(v, "=")
			opts.Vars[kk] = vv
		default:
			t.Fatalf("unknown option %q in args section", k)
		}
	}
	return opts
}

func update(t *testing.T, file string, ar *txtar.Archive, got map[string][]byte) {
	var files []txtar.File
	for _, f := range ar.Files {
		if !strings.HasPrefix(f.Name, "want/") {
			files = append(files, f)
		}
	}
	for _, n := range []string{wantYAML, wantDiags} {
		if g, ok := got[n]; ok && (len(g) > 0 || n == wantDiags) {
			files = append(files, txtar.File{Name: n, Data: g})
		}
	}
	ar.Files = slices.Clip(files)
	if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
}
