package schema

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/devfile/api/v2/pkg/validation/variables"
	"github.com/devfile/library/v2/pkg/devfile"
	"github.com/devfile/library/v2/pkg/devfile/parser"
	"github.com/devfile/library/v2/pkg/devfile/parser/data"
	errPkg "github.com/devfile/library/v2/pkg/devfile/parser/errors"
	"github.com/devfile/library/v2/pkg/devfile/validate"

	"github.com/ws-dev/ws/internal/testutil"
)

// libraryParse is what schema/ called before parseDevfile: the library's
// parser with every side-effecting switch off.
func libraryParse(b []byte) (data.DevfileData, error) {
	f := false
	obj, err := parser.ParseDevfile(parser.ParserArgs{
		Data: b, FlattenedDevfile: &f, ConvertKubernetesContentInUri: &f,
		SetBooleanDefaults: &f, DownloadGitResources: &f,
	})
	return obj.Data, err
}

// parseOutcome runs parse and describes its result: the error (type and
// text) or the decoded devfile as JSON, or the panic.
func parseOutcome(parse func([]byte) (data.DevfileData, error), b []byte) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = fmt.Sprintf("panic: %v", r)
		}
	}()
	d, err := parse(b)
	if err != nil {
		return fmt.Sprintf("error %T: %s", err, sortedLines(err))
	}
	j, err := json.Marshal(d)
	if err != nil {
		return fmt.Sprintf("marshal: %v", err)
	}
	return string(j)
}

// sortedLines is err's text with its lines sorted: gojsonschema and the
// library's validation list some errors in map order, which differs
// between runs of the library itself (translate's diagnostics are sorted).
func sortedLines(err error) string {
	if err == nil {
		return "<nil>"
	}
	lines := strings.Split(err.Error(), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestParseMatchesLibrary holds parseDevfile to the library's
// parser.ParseDevfile, with the switches schema used to pass it, on every
// corpus devfile and on inputs for each early exit: the same error (type
// and text, which translate reads) or the same decoded devfile.
func TestParseMatchesLibrary(t *testing.T) {
	inputs := map[string][]byte{
		"empty":              nil,
		"not yaml":           []byte("a: [\n"),
		"yaml list":          []byte("- a\n"),
		"json":               []byte(` {"schemaVersion": "2.2.0", "metadata": {"name": "j"}}`),
		"json after nbsp":    []byte("\u00a0{\"schemaVersion\": \"2.2.0\"}"),
		"bad json":           []byte(`{"schemaVersion": `),
		"null":               []byte("null\n"),
		"no schemaVersion":   []byte("metadata:\n  name: x\n"),
		"empty version":      []byte("schemaVersion: ''\n"),
		"number version":     []byte("schemaVersion: 2.2\n"),
		"unknown version":    []byte("schemaVersion: 9.9.9\n"),
		"version suffix":     []byte("schemaVersion: 2.2.0-latest\n"),
		"schema violation":   []byte("schemaVersion: 2.2.0\ncomponents:\n  - name: a\n    container: {}\n    bogus: 1\n"),
		"parent kept":        []byte("schemaVersion: 2.2.0\nparent:\n  uri: ../base.yaml\n"),
		"plugin kept":        []byte("schemaVersion: 2.0.0\ncomponents:\n  - name: p\n    plugin:\n      id: x\n"),
		"duplicate key":      []byte("schemaVersion: 2.2.0\nmetadata:\n  name: a\n  name: b\n"),
		"variables verbatim": []byte("schemaVersion: 2.2.0\nvariables:\n  img: x\ncomponents:\n  - name: a\n    container:\n      image: '{{img}}'\n"),
	}
	shared := testutil.SharedDir(t)
	var files []string
	for _, dir := range []string{"valid", "invalid"} {
		m, _ := filepath.Glob(filepath.Join(shared, "corpus", "devfiles", dir, "*"))
		files = append(files, m...)
	}
	if len(files) < 300 {
		t.Fatalf("found %d corpus devfiles, want about 390", len(files))
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(path)] = b
	}
	var accepted, rejected int
	for name, b := range inputs {
		lib, ws := parseOutcome(libraryParse, b), parseOutcome(parseDevfile, b)
		if lib != ws {
			t.Errorf("parseDevfile(%s) differs from parser.ParseDevfile:\nlibrary %s\nws      %s", name, lib, ws)
		}
		if strings.HasPrefix(lib, "error ") || strings.HasPrefix(lib, "panic: ") {
			rejected++
		} else {
			accepted++
		}
	}
	t.Logf("%d inputs (%d corpus devfiles): %d decoded and %d rejected alike", len(inputs), len(files), accepted, rejected)
}

// TestParseAndValidateMatchesLibrary is the comparison bench/floor stands
// for: the library's devfile.ParseDevfileAndValidate against parseDevfile
// followed by the variables and validation steps LoadBytes runs, on every
// corpus devfile: same verdict and error, same devfile, same warnings.
func TestParseAndValidateMatchesLibrary(t *testing.T) {
	shared := testutil.SharedDir(t)
	var files []string
	for _, dir := range []string{"valid", "invalid"} {
		m, _ := filepath.Glob(filepath.Join(shared, "corpus", "devfiles", dir, "*"))
		files = append(files, m...)
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
		var wsWarn variables.VariableWarning
		ws, wsErr := parseDevfile(b)
		if wsErr == nil {
			if ws.GetSchemaVersion() != "2.0.0" {
				spec := ws.GetDevfileWorkspaceSpec()
				if spec.Variables == nil {
					spec.Variables = map[string]string{}
				}
				wsWarn = variables.ValidateAndReplaceGlobalVariable(spec)
			}
			if err := validate.ValidateDevfileData(ws); err != nil {
				wsErr = &errPkg.NonCompliantDevfile{Err: err.Error()} // as ParseDevfileAndValidate wraps it
			}
		}
		if sortedLines(libErr) != sortedLines(wsErr) {
			t.Errorf("%s: library error %v, ws error %v", name, libErr, wsErr)
			continue
		}
		if libErr != nil {
			rejected++
			continue
		}
		ok++
		lj, _ := json.Marshal(lib.Data)
		wj, _ := json.Marshal(ws)
		if string(lj) != string(wj) {
			t.Errorf("%s: ws decodes differently:\nlibrary %s\nws      %s", name, lj, wj)
		}
		if !reflect.DeepEqual(libWarn, wsWarn) {
			t.Errorf("%s: variable warnings differ: library %+v, ws %+v", name, libWarn, wsWarn)
		}
	}
	t.Logf("%d devfiles: %d accepted and %d rejected by both", len(files), ok, rejected)
}

// heavyDeps are the packages the library's parser links for features ws
// turns off (URLs, registries, Kubernetes clusters, Git). controller-runtime's
// pkg/scheme stays: devfile/api's v1alpha2 types register with it.
var heavyDeps = regexp.MustCompile(`^github\.com/devfile/library/v2/pkg/(devfile|devfile/parser|devfile/parser/context|util)$|` +
	`^(sigs\.k8s\.io/controller-runtime/pkg/(client|cache|manager)|k8s\.io/client-go|github\.com/go-git|` +
	`github\.com/devfile/registry-support|oras\.land)(/|$)`)

// TestNoHeavyDependencies keeps ws off the library's parser package:
// `go list -deps` of schema and of the ws command must not name heavyDeps.
func TestNoHeavyDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	for _, pkg := range []string{"github.com/ws-dev/ws/schema", "github.com/ws-dev/ws/cmd/ws"} {
		// -e: list what resolves even while another package is mid-change.
		out, err := exec.Command(goTool, "list", "-e", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed %d packages", pkg, len(deps))
		}
		for _, d := range deps {
			if heavyDeps.MatchString(d) {
				t.Errorf("%s depends on %s; load devfiles with parseDevfile, not the library's parser", pkg, d)
			}
		}
	}
}
