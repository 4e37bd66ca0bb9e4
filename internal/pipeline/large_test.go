package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/schema"
)

// largeEnv is a devfile whose main container has n env entries.
func largeEnv(n int) []byte {
	var b strings.Builder
	b.WriteString("schemaVersion: 2.2.0\nmetadata:\n  name: big\ncomponents:\n  - name: dev\n    container:\n      image: alpine:3\n      env:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {name: V%x,value: v}\n", i)
	}
	return []byte(b.String())
}

// largeEndpoints is a devfile with n endpoints and n exec commands, all
// run at postStart.
func largeEndpoints(n int) []byte {
	var b strings.Builder
	b.WriteString("schemaVersion: 2.2.0\nmetadata:\n  name: big\ncomponents:\n  - name: dev\n    container:\n      image: alpine:3\n      endpoints:\n")
	for i := range n {
		fmt.Fprintf(&b, "        - {name: e%d, targetPort: %d}\n", i, 1024+i)
	}
	b.WriteString("commands:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {id: c%d, exec: {component: dev, commandLine: echo}}\n", i)
	}
	b.WriteString("events:\n  postStart:\n")
	for i := range n {
		fmt.Fprintf(&b, "    - c%d\n", i)
	}
	return []byte(b.String())
}

func writeDevfile(tb testing.TB, data []byte) string {
	tb.Helper()
	if len(data) > schema.MaxSize {
		tb.Fatalf("generated devfile is %d bytes, over the %d-byte cap", len(data), schema.MaxSize)
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func benchLarge(b *testing.B, data []byte) {
	dir := writeDevfile(b, data)
	opts := compiler.Options{Tags: []string{"docker"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		res, err := pipeline.CompileFile(dir, "devfile.yaml", opts)
		if err != nil || res.YAML == nil {
			b.Fatalf("CompileFile: %v %v", err, res.Diags)
		}
	}
}

// BenchmarkCompileLarge compiles generated devfiles near the 3 MiB cap
// (docs/benchmarks.md, "Large devfiles"): 100k env entries; 20k endpoints
// plus 20k commands (all in postStart); and smaller sizes of each, to show
// that time grows linearly with size.
func BenchmarkCompileLarge(b *testing.B) {
	for _, n := range []int{12500, 25000, 50000, 100000} {
		b.Run(fmt.Sprintf("env=%d", n), func(b *testing.B) { benchLarge(b, largeEnv(n)) })
	}
	for _, n := range []int{2500, 5000, 10000, 20000} {
		b.Run(fmt.Sprintf("endpoints+commands=%d", n), func(b *testing.B) { benchLarge(b, largeEndpoints(n)) })
	}
}
