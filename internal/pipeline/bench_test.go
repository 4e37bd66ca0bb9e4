package pipeline_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/devfile/library/v2/pkg/devfile"
	"github.com/devfile/library/v2/pkg/devfile/parser"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/internal/testutil"
)

// BenchmarkCompileCorpus compiles every valid corpus devfile through
// pipeline.CompileFile (read, load, compile, encode) once per iteration;
// ns/op is per corpus pass. Figures: docs/benchmarks.md, "Compile".
func BenchmarkCompileCorpus(b *testing.B) {
	dir := filepath.Join(testutil.SharedDir(b), "corpus", "devfiles", "valid")
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	opts := compiler.Options{Name: "bench", Tags: []string{"docker"}}
	var compiled int
	for _, e := range entries {
		res, err := pipeline.CompileFile(dir, e.Name(), opts)
		if err != nil {
			b.Fatalf("CompileFile(%s): %v", e.Name(), err)
		}
		if res.YAML != nil {
			compiled++
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, e := range entries {
			if _, err := pipeline.CompileFile(dir, e.Name(), opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(entries)), "ns/file")
	b.ReportMetric(float64(compiled), "compiled")
}

// BenchmarkFloorCorpus is the in-process floor of BenchmarkCompileCorpus:
// the devfile library's ParseDevfileAndValidate alone, with the ParserArgs
// switches schema.LoadBytes uses, on the same files (cf. bench/floor).
func BenchmarkFloorCorpus(b *testing.B) {
	dir := filepath.Join(testutil.SharedDir(b), "corpus", "devfiles", "valid")
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var files [][]byte
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
	}
	f := false
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, data := range files {
			// Errors are expected for some files; the floor only parses.
			_, _, _ = devfile.ParseDevfileAndValidate(parser.ParserArgs{
				Data: data, FlattenedDevfile: &f, ConvertKubernetesContentInUri: &f,
				SetBooleanDefaults: &f, DownloadGitResources: &f,
			})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(files)), "ns/file")
}
