package corpustest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/devfile/api/v2/pkg/validation"
	"github.com/devfile/library/v2/pkg/devfile/parser"
	"github.com/devfile/library/v2/pkg/devfile/validate"
	"github.com/hashicorp/go-multierror"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/diag"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

// supportDoc is where diagnostic codes are documented and where the corpus
// counts are written (WS_UPDATE=1 rewrites the section).
const (
	supportDoc     = "docs/devfile-support.md"
	resultsHeading = "## Corpus results"
)

// compile runs pipeline.CompileFile on one corpus file and turns a panic
// into an error, so one bad file names itself instead of killing the run.
func compile(dir, name string, opts compiler.Options) (res *pipeline.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return pipeline.CompileFile(dir, name, opts)
}

// compiledDefault compiles a corpus file with default options once per
// test binary: three tests read the same results, and the corpus is most
// of this package's time.
func compiledDefault(dir, name string) (*pipeline.Result, error) {
	key := filepath.Join(dir, name)
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if r, ok := cache[key]; ok {
		return r.res, r.err
	}
	res, err := compile(dir, name, compiler.Options{})
	cache[key] = cached{res, err}
	return res, err
}

type cached struct {
	res *pipeline.Result
	err error
}

var (
	cacheMu sync.Mutex
	cache   = map[string]cached{}
)

func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// documentedCodes returns the diagnostic codes documented in
// docs/devfile-support.md: the codes in backquotes in the first cell of its
// table rows, as in "| `parent-not-found` / `parent-cycle` | error | …".
func documentedCodes(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), supportDoc))
	codes := map[string]bool{}
	if err != nil {
		t.Errorf("diagnostic codes must be documented in %s: %v", supportDoc, err)
		return codes
	}
	doc := string(b)
	// The corpus results below are counts, not documentation.
	if i := strings.Index(doc, "\n"+resultsHeading+"\n"); i >= 0 {
		rest := doc[i+len(resultsHeading)+2:]
		if j := strings.Index(rest, "\n## "); j >= 0 {
			doc = doc[:i] + rest[j:]
		} else {
			doc = doc[:i]
		}
	}
	code := regexp.MustCompile("`([a-z][a-z0-9]*(?:-[a-z0-9]+)*)`")
	for _, line := range strings.Split(doc, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			codes[m[1]] = true
		}
	}
	return codes
}

// tally counts files per outcome.
type tally map[string]int

func (c tally) lines(indent string) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s| `%s` | %d |\n", indent, k, c[k])
	}
	return b.String()
}

// errorCodes returns the distinct codes of the errors in l, sorted.
func errorCodes(l diag.List) []string {
	seen := map[string]bool{}
	var codes []string
	for _, d := range l {
		if d.Severity == diag.Error && !seen[d.Code] {
			seen[d.Code] = true
			codes = append(codes, d.Code)
		}
	}
	sort.Strings(codes)
	return codes
}

func TestCorpus(t *testing.T) {
	shared := testutil.SharedDir(t)
	schemaPath := filepath.Join(shared, cischema.SchemaRel)
	validDir := filepath.Join(shared, "corpus", "devfiles", "valid")
	invalidDir := filepath.Join(shared, "corpus", "devfiles", "invalid")
	valid, invalid := corpusFiles(t, validDir), corpusFiles(t, invalidDir)
	if len(valid) < 250 || len(invalid) < 100 {
		t.Fatalf("corpus has %d valid and %d invalid devfiles, want about 286 and 107", len(valid), len(invalid))
	}
	documented := documentedCodes(t)

	var compiled, withWarnings, refused int
	refusedBy, warnedBy, rejectedBy := tally{}, tally{}, tally{}
	for _, name := range valid {
		res, err := compiledDefault(validDir, name)
		if err != nil {
			t.Errorf("valid/%s: CompileFile error: %v", name, err)
			continue
		}
		if !res.Diags.HasErrors() {
			compiled++
			if len(res.Diags) > 0 {
				withWarnings++
			}
			for _, d := range res.Diags {
				warnedBy[d.Code]++
			}
			if len(res.YAML) == 0 {
				t.Errorf("valid/%s: no errors but no YAML", name)
				continue
			}
			if err := cischema.CheckGitLab(schemaPath, res.YAML); err != nil {
				t.Errorf("valid/%s: generated CI YAML breaks GitLab's schema or rules: %v\n%s", name, err, res.YAML)
			}
			continue
		}
		refused++
		if res.YAML != nil {
			t.Errorf("valid/%s: refused with errors but YAML was produced", name)
		}
		for _, code := range errorCodes(res.Diags) {
			refusedBy[code]++
			if !documented[code] {
				t.Errorf("valid/%s: refused with code %q, which %s does not document:\n%s", name, code, supportDoc, text(res.Diags))
			}
		}
	}

	for _, name := range invalid {
		res, err := compile(invalidDir, name, compiler.Options{})
		if err != nil {
			t.Errorf("invalid/%s: CompileFile error: %v", name, err)
			continue
		}
		if !res.Diags.HasErrors() {
			t.Errorf("invalid/%s: accepted, want an error diagnostic (exit 3); diagnostics:\n%s", name, text(res.Diags))
			continue
		}
		positioned := false
		for _, d := range res.Diags {
			if d.Severity == diag.Error && d.Pos.Line > 0 {
				positioned = true
			}
		}
		if !positioned {
			t.Errorf("invalid/%s: no error has a line number:\n%s", name, text(res.Diags))
		}
		for _, code := range errorCodes(res.Diags) {
			rejectedBy[code]++
			if !documented[code] {
				t.Errorf("invalid/%s: rejected with code %q, which %s does not document", name, code, supportDoc)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Generated by `internal/corpustest` (`WS_UPDATE=1 go test ./internal/corpustest` rewrites this\n")
	fmt.Fprintf(&b, "section) from `../shared/corpus/devfiles/`, with default options (no flags, no network).\n\n")
	fmt.Fprintf(&b, "**valid/** (%d files): %d compile to a pipeline that passes GitLab's CI schema and the GitLab rules\n", len(valid), compiled)
	fmt.Fprintf(&b, "of `internal/testutil/cischema`, and that gitlab-ci-local accepts (`TestGitLabCILocalAcceptsEverything`)")
	fmt.Fprintf(&b, " (%d of them with warnings); %d are refused. Each refused file needs the network (or a cluster)\n", withWarnings, refused)
	fmt.Fprintf(&b, "for its parent, or the devfile library refuses it offline too (`TestLibraryAcceptedCompiles`).\n\n")
	if len(refusedBy) > 0 {
		b.WriteString("Refused valid files per error code (a file with several codes counts under each):\n\n| code | files |\n|---|---|\n")
		b.WriteString(refusedBy.lines(""))
		b.WriteString("\n")
	}
	if len(warnedBy) > 0 {
		b.WriteString("Warnings in compiled valid files (diagnostics per code):\n\n| code | warnings |\n|---|---|\n")
		b.WriteString(warnedBy.lines(""))
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "**invalid/** (%d files): all rejected with a positioned error (exit 3). Files per error code:\n\n| code | files |\n|---|---|\n", len(invalid))
	b.WriteString(rejectedBy.lines(""))
	t.Logf("corpus results:\n%s", b.String())
	if !t.Failed() {
		checkSection(t, b.String())
	}
}

func text(l diag.List) string {
	var b strings.Builder
	if err := l.WriteText(&b); err != nil {
		return err.Error()
	}
	return b.String()
}

// checkSection compares the "## Corpus results" section of
// docs/devfile-support.md with body, or rewrites it under WS_UPDATE=1.
func checkSection(t *testing.T, body string) {
	t.Helper()
	path := filepath.Join(testutil.RepoRoot(), supportDoc)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n"+resultsHeading+"\n")
	var cur, before, after string
	if start < 0 {
		before, after = strings.TrimRight(doc, "\n")+"\n", ""
	} else {
		before = doc[:start+1]
		rest := doc[start+1+len(resultsHeading)+1:]
		end := strings.Index(rest, "\n## ")
		if end < 0 {
			cur, after = rest, ""
		} else {
			cur, after = rest[:end+1], rest[end+1:]
		}
	}
	want := "\n" + body
	if after != "" {
		want += "\n"
	}
	if cur == want {
		return
	}
	if !testutil.Update() {
		t.Errorf("%s: section %q is out of date (WS_UPDATE=1 go test ./internal/corpustest rewrites it):\n%s",
			supportDoc, resultsHeading, testutil.LineDiff(cur, want))
		return
	}
	if start < 0 {
		before += "\n"
	}
	out := before + resultsHeading + "\n" + want + after
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// libraryAccepts reports whether the devfile library itself accepts a
// devfile, offline: parser.ParseDevfile (flattening local parents, no
// Kubernetes URIs, no Git downloads) and validate.ValidateDevfileData, with
// the API's MissingDefaultCmdWarning counting as acceptance (odo and Che
// go on with a warning).
func libraryAccepts(path string) (bool, error) {
	yes, no := true, false
	d, err := parser.ParseDevfile(parser.ParserArgs{Path: path, FlattenedDevfile: &yes,
		ConvertKubernetesContentInUri: &no, DownloadGitResources: &no, SetBooleanDefaults: &no})
	if err != nil {
		return false, err
	}
	err = validate.ValidateDevfileData(d.Data)
	var me *multierror.Error
	if errors.As(err, &me) {
		for _, e := range me.WrappedErrors() {
			var inner *multierror.Error
			if errors.As(e, &inner) {
				for _, e2 := range inner.WrappedErrors() {
					if !isMissingDefault(e2) {
						return false, e2
					}
				}
				continue
			}
			if !isMissingDefault(e) {
				return false, e
			}
		}
		return true, nil
	}
	return err == nil || isMissingDefault(err), err
}

func isMissingDefault(err error) bool {
	var w *validation.MissingDefaultCmdWarning
	return errors.As(err, &w)
}

// TestLibraryAcceptedCompiles: every corpus devfile the devfile library
// accepts (or accepts with a warning) compiles, offline; only a devfile
// whose parent needs the network (or a cluster) may be refused, with its
// clear diagnostic.
func TestLibraryAcceptedCompiles(t *testing.T) {
	dir := filepath.Join(testutil.SharedDir(t), "corpus", "devfiles", "valid")
	networkOnly := map[string]bool{"network-required": true, "parent-kubernetes": true}
	// The oracle must say yes to a devfile the library accepts with only
	// MissingDefaultCmdWarning, and no to one it refuses.
	if ok, err := libraryAccepts(filepath.Join(dir, "odo__tests__examples__source__devfiles__nodejs__devfile-with-no-default.yaml")); !ok {
		t.Fatalf("libraryAccepts(devfile-with-no-default) = false (%v), want true", err)
	}
	if ok, _ := libraryAccepts(filepath.Join(dir, "odo__tests__examples__source__devfiles__nodejs__devfile-with-preStart.yaml")); ok {
		t.Fatalf("libraryAccepts(devfile-with-preStart) = true, want false: the library refuses exec commands in preStart")
	}
	checked := 0
	for _, name := range corpusFiles(t, dir) {
		res, err := compiledDefault(dir, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		codes := errorCodes(res.Diags)
		if len(codes) == 0 || networkOnly[codes[0]] && len(codes) == 1 {
			continue
		}
		checked++
		if ok, _ := libraryAccepts(filepath.Join(dir, name)); ok {
			t.Errorf("valid/%s: the devfile library accepts it, but ws refuses it:\n%s", name, text(res.Diags))
		}
	}
	t.Logf("%d refused devfiles checked against the library", checked)
}
