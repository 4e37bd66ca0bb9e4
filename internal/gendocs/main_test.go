package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestGenerateIsDeterministicAndDateless(t *testing.T) {
	a, err := Generate(true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000") // must not matter either
	b, err := Generate(true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	for kind, files := range a {
		if len(files) != len(b[kind]) {
			t.Fatalf("%s: %d then %d files", kind, len(files), len(b[kind]))
		}
		for name, data := range files {
			if !bytes.Equal(data, b[kind][name]) {
				t.Errorf("%s/%s differs between two runs", kind, name)
			}
		}
	}
	th := regexp.MustCompile(`(?m)^\.TH .*$`)
	for name, page := range a["man"] {
		line := th.Find(page)
		if !bytes.Equal(line, []byte(`.TH "`+strings.ToUpper(strings.TrimSuffix(name, ".1"))+`" "1" "" "ws" "ws manual"`)) {
			t.Errorf("%s: header %q, want no date", name, line)
		}
	}
	for name, page := range a["markdown"] {
		if bytes.Contains(page, []byte("Auto generated")) {
			t.Errorf("%s carries cobra's dated footer", name)
		}
	}
	if !bytes.Contains(a["completions"]["ws.bash"], []byte("__start_ws")) {
		t.Error("bash completion lacks __start_ws")
	}
}

// TestEveryCommandHasPages checks that each visible command of the tree,
// including cobra's completion command, gets a markdown and a man page.
func TestEveryCommandHasPages(t *testing.T) {
	files, err := Generate(true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	root := newRoot()
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return
		}
		n++
		md := strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
		man := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		if _, ok := files["markdown"][md]; !ok {
			t.Errorf("no %s", md)
		}
		if _, ok := files["man"][man]; !ok {
			t.Errorf("no %s", man)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if len(files["markdown"]) != n || len(files["man"]) != n {
		t.Errorf("%d commands, %d markdown and %d man pages", n, len(files["markdown"]), len(files["man"]))
	}
	for _, want := range []string{"ws_completion_bash.md", "ws_runner_config.md", "ws_version.md"} {
		if _, ok := files["markdown"][want]; !ok {
			t.Errorf("no %s", want)
		}
	}
}

func TestWriteThenCheck(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "reference")
	man := filepath.Join(dir, "man")
	if err := os.MkdirAll(md, 0o755); err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(md, "README.md")
	if err := os.WriteFile(readme, []byte("hand-written\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"-markdown", md, "-man", man, "-check"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "ws.md: missing") {
		t.Fatalf("check of an empty directory: %v", err)
	}
	if err := run([]string{"-markdown", md, "-man", man}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-markdown", md, "-man", man, "-check"}, &out, &errOut); err != nil {
		t.Fatalf("check right after writing: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(man, "ws.1")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("ws.1: %v %v, want mode 0644", fi.Mode(), err)
	}
	// A changed page, a page of a removed command: both reported.
	if err := os.WriteFile(filepath.Join(md, "ws_version.md"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(man, "ws-removed.1"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-markdown", md, "-man", man, "-check"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "ws_version.md: differs") || !strings.Contains(err.Error(), "ws-removed.1: no such command any more") {
		t.Fatalf("check after edits: %v", err)
	}
	// Writing again repairs both and keeps the hand-written file.
	if err := run([]string{"-markdown", md, "-man", man}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-markdown", md, "-man", man, "-check"}, &out, &errOut); err != nil {
		t.Errorf("check after rewriting: %v", err)
	}
	if _, err := os.Stat(readme); err != nil {
		t.Errorf("the hand-written README was removed: %v", err)
	}
}

func TestNothingToDo(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(nil, &out, &errOut); err == nil {
		t.Error("no flags: want an error")
	}
}
