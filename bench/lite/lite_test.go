package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/devfile/library/v2/pkg/devfile"
	"github.com/devfile/library/v2/pkg/devfile/parser"

	"github.com/ws-dev/ws/internal/testutil"
)

// TestLiteMatchesLibrary runs every corpus devfile through the library's
// ParseDevfileAndValidate (as bench/floor does) and through parse, and wants
// the same verdict, the same decoded devfile and the same variable warnings.
func TestLiteMatchesLibrary(t *testing.T) {
	shared := testutil.SharedDir(t)
	var files []string
	for _, dir := range []string{"valid", "invalid"} {
		m, _ := filepath.Glob(filepath.Join(shared, "corpus", "devfiles", dir, "*"))
		files = append(files, m...)
	}
	if len(files) < 300 {
		t.Fatalf("found %d corpus devfiles, want about 390", len(files))
	}
	f := false
	var ok, rejected int
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		lib, libWarn, libErr := devfile.ParseDevfileAndValidate(parser.ParserArgs{
			Data: b, FlattenedDevfile: &f, ConvertKubernetesContentInUri: &f,
			SetBooleanDefaults: &f, DownloadGitResources: &f,
		})
		lite, liteWarn, liteErr := parse(b)
		if (libErr == nil) != (liteErr == nil) {
			t.Errorf("%s: library error %v, lite error %v", name, libErr, liteErr)
			continue
		}
		if libErr != nil {
			rejected++
			continue
		}
		ok++
		lj, _ := json.Marshal(lib.Data)
		tj, _ := json.Marshal(lite)
		if string(lj) != string(tj) {
			t.Errorf("%s: lite decodes differently:\nlibrary %s\nlite    %s", name, lj, tj)
		}
		if !reflect.DeepEqual(libWarn, liteWarn) {
			t.Errorf("%s: variable warnings differ: library %+v, lite %+v", name, libWarn, liteWarn)
		}
	}
	t.Logf("%d devfiles: %d accepted and %d rejected by both", len(files), ok, rejected)
}
