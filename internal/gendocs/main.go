// Command gendocs writes ws's reference documentation from the command tree:
// markdown pages, man pages and shell completion scripts. 'make docs' runs it;
// 'make check-docs' runs it with -check, which fails when the committed files
// differ from what the current command tree gives.
//
//	go run ./internal/gendocs -markdown docs/reference -man docs/man [-completions DIR] [-check]
//
// The output is deterministic: no generation date in the markdown (cobra's
// auto-generated footer is off) nor in the man pages (the .TH date is left
// empty), and files are written in a fixed order with mode 0644.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/root"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gendocs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mdDir := fs.String("markdown", "", "write markdown reference pages into `DIR`")
	manDir := fs.String("man", "", "write man pages (section 1) into `DIR`")
	complDir := fs.String("completions", "", "write bash, zsh, fish and powershell completion scripts into `DIR`")
	check := fs.Bool("check", false, "do not write: fail when the directories differ from the generated files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mdDir == "" && *manDir == "" && *complDir == "" {
		return fmt.Errorf("nothing to do: give -markdown, -man or -completions")
	}
	files, err := Generate(*mdDir != "", *manDir != "", *complDir != "")
	if err != nil {
		return err
	}
	var stale []string
	for _, out := range []struct{ dir, kind string }{{*mdDir, "markdown"}, {*manDir, "man"}, {*complDir, "completions"}} {
		if out.dir == "" {
			continue
		}
		if *check {
			d, err := Diff(out.dir, files[out.kind])
			if err != nil {
				return err
			}
			stale = append(stale, d...)
			continue
		}
		if err := Write(out.dir, files[out.kind]); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("generated documentation is out of date; run 'make docs' and commit the result:\n  %s", strings.Join(stale, "\n  "))
	}
	if *check {
		fmt.Fprintln(stdout, "gendocs: documentation is up to date")
	}
	return nil
}

// Generate returns the generated files by kind ("markdown", "man",
// "completions"), each a map from file name to content.
func Generate(markdown, man, completions bool) (map[string]map[string][]byte, error) {
	cmd := newRoot()
	out := map[string]map[string][]byte{}
	if markdown {
		files, err := genMarkdown(cmd)
		if err != nil {
			return nil, err
		}
		out["markdown"] = files
	}
	if man {
		files, err := genMan(cmd)
		if err != nil {
			return nil, err
		}
		out["man"] = files
	}
	if completions {
		files, err := genCompletions(cmd)
		if err != nil {
			return nil, err
		}
		out["completions"] = files
	}
	return out, nil
}

// newRoot builds the command tree as a user sees it: with the help and
// completion commands cobra adds at run time, and without generation dates.
func newRoot() *cobra.Command {
	ios, _, _, _ := cmdutil.Test()
	f := cmdutil.New()
	f.IO = ios
	f.Getenv = func(string) string { return "" } // defaults must not depend on this machine
	cmd := root.NewCmdRoot(f)
	cmd.InitDefaultHelpCmd()
	cmd.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(cmd)
	return cmd
}

func genMarkdown(cmd *cobra.Command) (map[string][]byte, error) {
	files := map[string][]byte{}
	var gen func(*cobra.Command) error
	gen = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != cmd || c.IsAdditionalHelpTopicCommand() {
			return nil
		}
		var buf bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &buf, func(s string) string { return s }); err != nil {
			return fmt.Errorf("markdown for %s: %w", c.CommandPath(), err)
		}
		files[strings.ReplaceAll(c.CommandPath(), " ", "_")+".md"] = buf.Bytes()
		for _, s := range c.Commands() {
			if err := gen(s); err != nil {
				return err
			}
		}
		return nil
	}
	if err := gen(cmd); err != nil {
		return nil, err
	}
	return files, nil
}

// thDate matches the date field of a man page's .TH line.
var thDate = regexp.MustCompile(`(?m)^(\.TH "[^"]*" "[^"]*" )"[^"]*"`)

func genMan(cmd *cobra.Command) (map[string][]byte, error) {
	files := map[string][]byte{}
	zero := time.Time{}
	var gen func(*cobra.Command) error
	gen = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != cmd || c.IsAdditionalHelpTopicCommand() {
			return nil
		}
		header := &doc.GenManHeader{Section: "1", Source: "ws", Manual: "ws manual", Date: &zero}
		var buf bytes.Buffer
		if err := doc.GenMan(c, header, &buf); err != nil {
			return fmt.Errorf("man page for %s: %w", c.CommandPath(), err)
		}
		page := thDate.ReplaceAll(buf.Bytes(), []byte(`$1""`))
		files[strings.ReplaceAll(c.CommandPath(), " ", "-")+".1"] = page
		for _, s := range c.Commands() {
			if err := gen(s); err != nil {
				return err
			}
		}
		return nil
	}
	if err := gen(cmd); err != nil {
		return nil, err
	}
	return files, nil
}

func genCompletions(cmd *cobra.Command) (map[string][]byte, error) {
	files := map[string][]byte{}
	for name, gen := range map[string]func(io.Writer) error{
		"ws.bash": func(w io.Writer) error { return cmd.GenBashCompletionV2(w, true) },
		"_ws":     cmd.GenZshCompletion,
		"ws.fish": func(w io.Writer) error { return cmd.GenFishCompletion(w, true) },
		"ws.ps1":  cmd.GenPowerShellCompletionWithDesc,
	} {
		var buf bytes.Buffer
		if err := gen(&buf); err != nil {
			return nil, fmt.Errorf("completion %s: %w", name, err)
		}
		files[name] = buf.Bytes()
	}
	return files, nil
}

// Write makes dir hold exactly files: it writes each one (mode 0644) and
// removes other files that an earlier run generated.
func Write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	existing, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range existing {
		if _, keep := files[e.Name()]; !keep && !e.IsDir() && generatedName(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedNames(files) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Diff lists the differences between dir and files: missing, changed and
// extra generated files.
func Diff(dir string, files map[string][]byte) ([]string, error) {
	var out []string
	for _, name := range sortedNames(files) {
		have, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case os.IsNotExist(err):
			out = append(out, filepath.ToSlash(filepath.Join(dir, name))+": missing")
		case err != nil:
			return nil, err
		case !bytes.Equal(have, files[name]):
			out = append(out, filepath.ToSlash(filepath.Join(dir, name))+": differs")
		}
	}
	existing, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range existing {
		if _, ok := files[e.Name()]; !ok && !e.IsDir() && generatedName(e.Name()) {
			out = append(out, filepath.ToSlash(filepath.Join(dir, e.Name()))+": no such command any more")
		}
	}
	return out, nil
}

// generatedName reports whether a file name is one gendocs writes, so a
// hand-written README in the directory is left alone.
func generatedName(name string) bool {
	return strings.HasPrefix(name, "ws") && (strings.HasSuffix(name, ".md") || strings.HasSuffix(name, ".1") ||
		strings.HasSuffix(name, ".bash") || strings.HasSuffix(name, ".fish") || strings.HasSuffix(name, ".ps1")) || name == "_ws"
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
