package cischema

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/internal/testutil"
)

// SchemaRel is the location of GitLab's CI schema inside ../shared.
const SchemaRel = "corpus/schemas/gitlab-ci/ci.json"

// maxViolations bounds the violations listed in one error; the schema's
// oneOf/anyOf branches can otherwise produce hundreds of lines.
const maxViolations = 20

// Violation is one schema violation: where in the document, and what.
type Violation struct {
	// Pointer is the JSON pointer of the offending value ("" is the root).
	Pointer string
	// Message is the validator's message for the failing keyword.
	Message string
}

func (v Violation) String() string {
	p := v.Pointer
	if p == "" {
		p = "/"
	}
	return p + ": " + v.Message
}

// Error is returned by [Check] when the YAML is well formed but does not
// satisfy the schema.
type Error struct {
	Violations []Violation
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d schema violation(s)", len(e.Violations))
	for i, v := range e.Violations {
		if i == maxViolations {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Violations)-i)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

type compiled struct {
	sch *jsonschema.Schema
	err error
}

var (
	mu      sync.Mutex
	schemas = map[string]*sync.Once{}
	results = map[string]*compiled{}
)

// load compiles the schema at path once per process; the schema is large
// (115 kB, 54 definitions) and compiling it dominates a single validation.
func load(path string) (*jsonschema.Schema, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	once, ok := schemas[abs]
	if !ok {
		once = new(sync.Once)
		schemas[abs] = once
		results[abs] = new(compiled)
	}
	res := results[abs]
	mu.Unlock()
	once.Do(func() {
		res.sch, res.err = compile(abs)
	})
	return res.sch, res.err
}

func compile(path string) (*jsonschema.Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("parse schema %s: %w", path, err)
	}
	// A fixed URL keeps error messages free of local paths; the schema's
	// own $id is https://gitlab.com/.gitlab-ci.yml and every $ref is internal.
	const url = "https://gitlab.com/.gitlab-ci.yml"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("add schema %s: %w", path, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile schema %s: %w", path, err)
	}
	return sch, nil
}

// Check validates yaml, a single YAML document, against the JSON schema at
// schemaPath. It returns nil when the document is valid, an [*Error] listing
// the violations when it is not, and another error when the schema or the
// YAML cannot be read.
func Check(schemaPath string, yaml []byte) error {
	sch, err := load(schemaPath)
	if err != nil {
		return err
	}
	inst, err := Decode(yaml)
	if err != nil {
		return err
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	return &Error{Violations: violations(ve)}
}

// CheckGitLab is [Check] followed by [Rules]: the schema, then GitLab's
// rules that the schema misses.
func CheckGitLab(schemaPath string, yaml []byte) error {
	if err := Check(schemaPath, yaml); err != nil {
		return err
	}
	inst, err := Decode(yaml)
	if err != nil {
		return err
	}
	if v := Rules(inst); len(v) > 0 {
		return &Error{Violations: v}
	}
	return nil
}

// Validate fails t when yaml is not a valid GitLab CI file according to
// ../shared/corpus/schemas/gitlab-ci/ci.json and [Rules]. The test is
// skipped when ../shared is absent (see [testutil.SharedDir]).
func Validate(t testing.TB, yaml []byte) {
	t.Helper()
	path := filepath.Join(testutil.SharedDir(t), SchemaRel)
	if err := CheckGitLab(path, yaml); err != nil {
		t.Errorf("generated CI YAML does not validate against %s: %v\n--- YAML ---\n%s", SchemaRel, err, yaml)
	}
}

// Decode turns one YAML document into the value shape a JSON schema
// validator expects: map[string]any, []any, string, bool, numbers, nil.
// Mapping keys become strings (YAML allows `123456:` or `true:` as keys;
// GitLab reads them as strings too), and anchors, aliases and merge keys
// are resolved by the YAML decoder.
func Decode(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode YAML: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("decode YAML: more than one document")
	}
	return normalize(v)
}

func normalize(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, err := keyString(k)
			if err != nil {
				return nil, err
			}
			if _, dup := out[ks]; dup {
				return nil, fmt.Errorf("decode YAML: keys collide once turned into strings: %q", ks)
			}
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			// JSON has no NaN or infinity; as a string it fails numeric
			// keywords, which is what GitLab would do too.
			return fmt.Sprint(v), nil
		}
		return v, nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(v), nil
	case nil, string, bool, int, int64, uint64:
		return v, nil
	default:
		return nil, fmt.Errorf("decode YAML: unsupported value of type %T", v)
	}
}

func keyString(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case nil:
		return "null", nil
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(k), nil
	case time.Time:
		return k.Format(time.RFC3339Nano), nil
	default:
		return "", fmt.Errorf("decode YAML: unsupported mapping key of type %T", k)
	}
}

// violations flattens a validation error into its leaves, which name the
// keyword that failed. Violations are sorted and deduplicated so output is
// stable across runs.
func violations(ve *jsonschema.ValidationError) []Violation {
	var out []Violation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, Violation{
				Pointer: pointer(e.InstanceLocation),
				Message: message(e),
			})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pointer != out[j].Pointer {
			return out[i].Pointer < out[j].Pointer
		}
		return out[i].Message < out[j].Message
	})
	dedup := out[:0]
	for i, v := range out {
		if i > 0 && v == out[i-1] {
			continue
		}
		dedup = append(dedup, v)
	}
	return dedup
}

// message returns the validator's English message for e's own keyword,
// without the "at '<pointer>'" prefix that ValidationError.Error adds.
func message(e *jsonschema.ValidationError) string {
	s := (&jsonschema.ValidationError{ErrorKind: e.ErrorKind}).Error()
	if _, msg, ok := strings.Cut(s, ": "); ok && strings.HasPrefix(s, "at ") {
		return msg
	}
	return s
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}
