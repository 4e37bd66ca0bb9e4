package pipeline

import (
	"bytes"
	"testing"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

func TestCompileExample(t *testing.T) {
	opts := compiler.Options{Name: "demo"}
	a, err := CompileFile("../../examples/go-web", "devfile.yaml", opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.Diags.HasErrors() || a.YAML == nil || a.Plan == nil {
		t.Fatalf("CompileFile(example) diagnostics: %v", a.Diags)
	}
	b, _ := CompileFile("../../examples/go-web", "devfile.yaml", opts)
	if !bytes.Equal(a.YAML, b.YAML) {
		t.Error("two compilations differ")
	}
	cischema.Validate(t, a.YAML)
}
