package cischema_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/internal/testutil/cischema"
)

// knownBad lists positive fixtures that fail against the stored ci.json: the
// one job allowed to fail, and the violation it must show. cache.yml comes
// from a newer GitLab commit, where cache:key:files allows 10 entries; the
// stored ci.json still allows 2 (see ../shared/corpus/schemas/gitlab-ci/README.md).
var knownBad = map[string]struct{ job, want string }{
	"positive_tests/cache.yml": {"/cache-key-files-ten", "/cache-key-files-ten/cache/key/files: maxItems: got 10, want 2"},
}

func fixtures(t *testing.T) (schema string, files []string) {
	t.Helper()
	shared := testutil.SharedDir(t)
	dir := filepath.Join(shared, "corpus", "schemas", "gitlab-ci", "yaml_tests")
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".yml") {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) != 24 {
		t.Fatalf("found %d fixtures under %s, want GitLab's 24", len(files), dir)
	}
	return filepath.Join(shared, cischema.SchemaRel), files
}

func TestGitLabFixtures(t *testing.T) {
	schema, files := fixtures(t)
	dir := filepath.Join(filepath.Dir(schema), "yaml_tests")
	var pos, neg int
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			err = cischema.Check(schema, data)
			var serr *cischema.Error
			if err != nil && !errors.As(err, &serr) {
				t.Fatalf("Check(%s) = %v, want a schema verdict", name, err)
			}
			switch {
			case strings.HasPrefix(name, "negative_tests/"):
				neg++
				if err == nil {
					t.Fatalf("Check(%s) = nil, want schema violations", name)
				}
				// GitLab's harness only checks each file fails; check that
				// every job in it fails, so one caught job cannot hide others.
				for _, job := range topLevelKeys(t, data) {
					if !violates(serr, job) {
						t.Errorf("Check(%s): job %q has no violation, want one", name, job)
					}
				}
			case knownBad[name].job != "":
				pos++
				quirk := knownBad[name]
				if err == nil {
					t.Fatalf("Check(%s) = nil; the known quirk is gone, remove it from knownBad", name)
				}
				found := false
				for _, v := range serr.Violations {
					if !strings.HasPrefix(v.Pointer, quirk.job+"/") {
						t.Errorf("Check(%s): unexpected violation %s (only %s may fail)", name, v, quirk.job)
					}
					found = found || v.String() == quirk.want
				}
				if !found {
					t.Errorf("Check(%s) = %v, want the violation %q", name, err, quirk.want)
				}
			default:
				pos++
				if err != nil {
					t.Errorf("Check(%s) = %v, want nil", name, err)
				}
			}
		})
	}
	if pos != 12 || neg != 12 {
		t.Errorf("ran %d positive and %d negative fixtures, want 12 and 12", pos, neg)
	}
}

func TestIntegerKeyBecomesString(t *testing.T) {
	v, err := cischema.Decode([]byte("variables:\n  123456: \"x\"\n  true: y\n"))
	if err != nil {
		t.Fatal(err)
	}
	vars := v.(map[string]any)["variables"].(map[string]any)
	if vars["123456"] != "x" || vars["true"] != "y" {
		t.Errorf("Decode: variables = %#v, want string keys \"123456\" and \"true\"", vars)
	}
}

func TestViolationsAreReadable(t *testing.T) {
	shared := testutil.SharedDir(t)
	schema := filepath.Join(shared, cischema.SchemaRel)
	yml := "stages: [build]\nws:\n  stage: build\n  script: echo hi\n  timeout: 3\n  interruptible: \"yes\"\n"
	err := cischema.Check(schema, []byte(yml))
	var serr *cischema.Error
	if !errors.As(err, &serr) {
		t.Fatalf("Check = %v, want *cischema.Error", err)
	}
	msg := err.Error()
	for _, want := range []string{"/ws/interruptible: got string, want boolean", "/ws/timeout: "} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check error lacks %q:\n%s", want, msg)
		}
	}
}

func TestMalformedYAML(t *testing.T) {
	shared := testutil.SharedDir(t)
	schema := filepath.Join(shared, cischema.SchemaRel)
	for _, in := range []string{"a: [\n", "a: 1\n---\nb: 2\n"} {
		err := cischema.Check(schema, []byte(in))
		var serr *cischema.Error
		if err == nil || errors.As(err, &serr) {
			t.Errorf("Check(%q) = %v, want a decode error", in, err)
		}
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	yml := ".base: &base\n  image: alpine\n  script: [\"true\"]\njob:\n  <<: *base\n  tags: [x]\n"
	cischema.Validate(t, []byte(yml))
}

// recorder captures Errorf so a test can check that Validate fails.
type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func TestValidateFailsTheTest(t *testing.T) {
	r := &recorder{TB: t}
	cischema.Validate(r, []byte("job:\n  script: [\"true\"]\n  when: sometimes\n"))
	if len(r.msgs) != 1 || !strings.Contains(r.msgs[0], "/job/when") {
		t.Errorf("Validate recorded %q, want one failure naming /job/when", r.msgs)
	}
	r.msgs = nil
	cischema.Validate(r, []byte("job:\n  script: [\"true\"]\n  when: manual\n"))
	if len(r.msgs) != 0 {
		t.Errorf("Validate(valid job) recorded %q, want nothing", r.msgs)
	}
}

func topLevelKeys(t *testing.T, data []byte) []string {
	t.Helper()
	v, err := cischema.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range v.(map[string]any) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// violates reports whether a violation lies in the top-level value key.
func violates(e *cischema.Error, key string) bool {
	ptr := "/" + strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
	for _, v := range e.Violations {
		if v.Pointer == ptr || strings.HasPrefix(v.Pointer, ptr+"/") {
			return true
		}
	}
	return false
}
