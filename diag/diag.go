// Package diag holds the diagnostics that loading and compiling a devfile
// produce: a severity, a position, a data path, a summary and a hint.
package diag

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Severity says whether a diagnostic stops compilation.
type Severity int

const (
	// Error diagnostics make the devfile invalid (exit code 3).
	Error Severity = iota
	// Warning diagnostics never change the exit code.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText makes severities read as "error" and "warning" in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Pos is a position in a source file; Line and Col start at 1, 0 means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Diagnostic is one problem found in a devfile.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Pos      Pos      `json:"position"`
	// Path is the devfile data path, e.g. components[1].container.image.
	Path    string `json:"path,omitempty"`
	Summary string `json:"message"`
	// Hint says what to change; may be empty.
	Hint string `json:"hint,omitempty"`
	// Code is a stable identifier of the rule, e.g. "kubernetes-component".
	Code string `json:"code"`
}

// List is a set of diagnostics.
type List []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (l List) HasErrors() bool {
	return slices.ContainsFunc(l, func(d Diagnostic) bool { return d.Severity == Error })
}

// Count returns the number of errors and warnings.
func (l List) Count() (errs, warns int) {
	for _, d := range l {
		if d.Severity == Error {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

// Sorted returns the diagnostics sorted by file, line, column, path and
// summary, with exact duplicates removed. The receiver is not modified.
func (l List) Sorted() List {
	out := slices.Clone(l)
	slices.SortStableFunc(out, compare)
	return slices.CompactFunc(out, func(a, b Diagnostic) bool { return a == b })
}

func compare(a, b Diagnostic) int {
	return cmp.Or(
		cmp.Compare(a.Pos.File, b.Pos.File),
		cmp.Compare(a.Pos.Line, b.Pos.Line),
		cmp.Compare(a.Pos.Col, b.Pos.Col),
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.Summary, b.Summary),
		cmp.Compare(a.Severity, b.Severity),
		cmp.Compare(a.Hint, b.Hint),
		cmp.Compare(a.Code, b.Code),
	)
}

// String formats one diagnostic as "FILE:LINE:COL: severity: path: message"
// followed by an indented hint line when there is a hint.
func (d Diagnostic) String() string {
	msg := d.Summary
	if d.Path != "" {
		msg = d.Path + ": " + msg
	}
	s := fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, msg)
	if d.Hint != "" {
		s += "\n\thint: " + d.Hint
	}
	return s
}

// WriteText writes the diagnostics, sorted, one per entry.
func (l List) WriteText(w io.Writer) error {
	for _, d := range l.Sorted() {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the diagnostics, sorted, as a JSON array (never null).
func (l List) WriteJSON(w io.Writer) error {
	s := l.Sorted()
	if s == nil {
		s = List{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
