package schema

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/diag"
)

// Index maps devfile data paths (components[1].container.image) to their
// position in one source file.
type Index struct {
	File string
	root *yaml.Node // the top-level mapping; nil when the file is empty
	pos  map[string]diag.Pos
	vals map[string]string // scalar values by path
	// paths in document order, for deterministic searches.
	order []string
	// finds caches Find: list+"\x00"+field -> value -> path of the
	// first entry, built on the first search of that list and field so a
	// compile with n entries looks them up in O(n), not O(n²).
	finds map[string]map[string]string
}

// NewIndex builds the index of an already-parsed YAML document.
func NewIndex(file string, doc *yaml.Node) *Index {
	ix := &Index{File: file, pos: map[string]diag.Pos{}, vals: map[string]string{}}
	if doc != nil && doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		ix.root = doc.Content[0]
		ix.pos[""] = ix.at(ix.root)
		ix.walk("", ix.root)
	}
	return ix
}

func (ix *Index) at(n *yaml.Node) diag.Pos {
	return diag.Pos{File: ix.File, Line: n.Line, Col: n.Column}
}

func (ix *Index) walk(path string, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := Key(path, k.Value)
			if v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode {
				ix.pos[p] = ix.at(v)
				ix.vals[p] = v.Value
			} else {
				ix.pos[p] = ix.at(k)
			}
			ix.order = append(ix.order, p)
			ix.walk(p, v)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			ix.pos[p] = ix.at(v)
			if v.Kind == yaml.ScalarNode {
				ix.vals[p] = v.Value
			}
			ix.order = append(ix.order, p)
			ix.walk(p, v)
		}
	}
}

// Key appends a mapping key to a data path. Keys that are not plain words
// are quoted, e.g. attributes["app.kubernetes.io/name"].
func Key(path, key string) string {
	if key != "" && !strings.ContainsAny(key, ".[]\" ") {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// Parent returns the data path one level up ("" for the root).
func Parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if strings.HasSuffix(path, "\"]") {
			if i := strings.LastIndex(path, "[\""); i >= 0 {
				return path[:i]
			}
		}
		if i := strings.LastIndex(path, "["); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// Pos returns the position of path, or of its nearest ancestor present in
// the file (fields filled by defaults or by a parent have no node).
func (ix *Index) Pos(path string) diag.Pos {
	if ix == nil {
		return diag.Pos{}
	}
	for p := path; ; p = Parent(p) {
		if pos, ok := ix.pos[p]; ok {
			return pos
		}
		if p == "" {
			return diag.Pos{File: ix.File}
		}
	}
}

// Has reports whether path is written in the file (not defaulted).
func (ix *Index) Has(path string) bool {
	if ix == nil {
		return false
	}
	_, ok := ix.pos[path]
	return ok
}

// Node returns the node at a top-level key, or nil.
func (ix *Index) Node(key string) *yaml.Node {
	if ix == nil || ix.root == nil || ix.root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(ix.root.Content); i += 2 {
		if ix.root.Content[i].Value == key {
			return ix.root.Content[i+1]
		}
	}
	return nil
}

// Find returns the path of the entry of the top-level list (components,
// commands, projects) whose field (name or id) equals value, and false when
// the file has none (for example it came from a parent). The first
// matching entry wins.
func (ix *Index) Find(list, field, value string) (string, bool) {
	if ix == nil {
		return "", false
	}
	key := list + "\x00" + field
	m, ok := ix.finds[key]
	if !ok {
		m = ix.entries(list, field)
		if ix.finds == nil {
			ix.finds = map[string]map[string]string{}
		}
		ix.finds[key] = m
	}
	p, ok := m[value]
	return p, ok
}

// entries maps each value of field in the top-level list to the path of
// the first entry that has it.
func (ix *Index) entries(list, field string) map[string]string {
	m := map[string]string{}
	seq := ix.Node(list)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return m
	}
	for i, item := range seq.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == field {
				if _, dup := m[item.Content[j+1].Value]; !dup {
					m[item.Content[j+1].Value] = list + "[" + strconv.Itoa(i) + "]"
				}
			}
		}
	}
	return m
}

// FindValues returns, in document order, the paths matching pattern whose
// scalar value is value; for example every endpoint named "http":
// FindValues(`^components\[\d+\]\.\w+\.endpoints\[\d+\]\.name$`, "http").
func (ix *Index) FindValues(pattern *regexp.Regexp, value string) []string {
	if ix == nil {
		return nil
	}
	var out []string
	for _, p := range ix.order {
		if v, ok := ix.vals[p]; ok && v == value && pattern.MatchString(p) {
			out = append(out, p)
		}
	}
	return out
}
