package cmdutil

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/gitlab"
	"github.com/ws-dev/ws/internal/pipeline"
	"github.com/ws-dev/ws/local"
)

// Candidate is a workspace the user may mean when NAME is left out.
type Candidate struct {
	Name  string
	Where string // "local" or the GitLab project
	State string
}

func (c Candidate) String() string {
	if c.State == "" {
		return fmt.Sprintf("%s (%s)", c.Name, c.Where)
	}
	return fmt.Sprintf("%s (%s, %s)", c.Name, c.Where, c.State)
}

// DevfileWorkspace returns the workspace name 'ws up' would use for the
// devfile in dir (its ws/name or metadata.name, else the directory's
// name), or "" when there is no valid devfile there.
func DevfileWorkspace(dir string) string {
	if _, err := pipeline.Find(dir, ""); err != nil {
		return ""
	}
	res, err := pipeline.CompileFile(dir, "", compiler.Options{})
	if err != nil || res.Plan == nil {
		return ""
	}
	return res.Plan.Workspace
}

// Candidates lists the workspaces the user may mean: local ones ('ws up
// --local') unless project is set, then the GitLab project's (project, else
// the one of the git remote). A GitLab failure is returned only when
// nothing was found.
func Candidates(ctx context.Context, f *Factory, project string) ([]Candidate, error) {
	var out []Candidate
	if project == "" {
		if all, err := local.List(f.Getenv); err == nil {
			for _, s := range all {
				out = append(out, Candidate{Name: s.Name, Where: "local", State: s.Status})
			}
		}
	}
	p, client, err := ProjectClient(f, GitLabFlags{Project: project})
	if err == nil {
		var ws []*gitlab.Workspace
		ws, err = client.List(ctx, p)
		for _, w := range ws {
			out = append(out, Candidate{Name: w.Name, Where: p, State: w.State()})
		}
	}
	if len(out) == 0 && err != nil {
		return nil, GitLabError(err)
	}
	return out, nil
}

// ResolveName returns name, else the workspace NAME defaults to: the one
// of the devfile in the current directory, else the only workspace there
// is. With several, a terminal gets a picker and anything else a usage
// error listing them. cmd names the command for usage errors.
func ResolveName(ctx context.Context, f *Factory, cmd, name, project string) (string, error) {
	if name != "" {
		return name, nil
	}
	if dir, err := f.WorkDir(); err == nil {
		if n := DevfileWorkspace(dir); n != "" {
			return n, nil
		}
	}
	cands, err := Candidates(ctx, f, project)
	if err != nil {
		return "", &FlagError{Cmd: cmd, Err: fmt.Errorf("no workspace NAME given, no devfile here, and the workspaces could not be listed: %w", err)}
	}
	switch len(cands) {
	case 0:
		return "", FlagErrorf(cmd, "no workspace NAME given, no devfile here and no workspaces; start one with 'ws up'")
	case 1:
		return cands[0].Name, nil
	}
	items := make([]string, len(cands))
	for i, c := range cands {
		items[i] = c.String()
	}
	if !f.IO.CanPrompt() {
		return "", FlagErrorf(cmd, "no workspace NAME given and there are several: %s; name one: ws %s NAME", strings.Join(items, ", "), cmd)
	}
	i, err := Pick(f.IO, "Which workspace?", items)
	if err != nil {
		return "", err
	}
	return cands[i].Name, nil
}

// Pick asks the user to choose one of items by number on the terminal and
// returns its index.
func Pick(ios *IOStreams, question string, items []string) (int, error) {
	fmt.Fprintln(ios.ErrOut, question)
	for i, it := range items {
		fmt.Fprintf(ios.ErrOut, "  %d) %s\n", i+1, it)
	}
	in := bufio.NewReader(ios.In)
	for range 3 {
		fmt.Fprintf(ios.ErrOut, "Choose 1-%d: ", len(items))
		line, err := in.ReadString('\n')
		n, convErr := strconv.Atoi(strings.TrimSpace(line))
		if convErr == nil && n >= 1 && n <= len(items) {
			return n - 1, nil
		}
		if err != nil {
			return 0, errors.New("no workspace chosen")
		}
	}
	return 0, errors.New("no workspace chosen")
}

// completionTTL is how long the workspace names offered by shell
// completion are reused before GitLab is asked again.
const completionTTL = time.Minute

type nameCache struct {
	At    time.Time `json:"at"`
	Names []string  `json:"names"`
}

// CompleteWorkspaces completes a workspace NAME argument at position 0:
// local workspaces and the GitLab project's (*project, else the git
// remote's), the latter cached for a minute under $XDG_CACHE_HOME/ws.
func CompleteWorkspaces(f *Factory, project *string) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		p := ""
		if project != nil {
			p = *project
		}
		var names []string
		if p == "" {
			if all, err := local.List(f.Getenv); err == nil {
				for _, s := range all {
					names = append(names, s.Name)
				}
			}
		}
		names = append(names, cachedGitLabNames(c.Context(), f, p)...)
		slices.Sort(names)
		names = slices.Compact(names)
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func cachedGitLabNames(ctx context.Context, f *Factory, project string) []string {
	s, err := f.Config()
	if err != nil || !s.Token.Set() {
		return nil
	}
	p, err := ResolveProject(project, s)
	if err != nil {
		return nil
	}
	path := cachePath(f.Getenv, s.Host.Value+"\x00"+p)
	var c nameCache
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &c) == nil && f.Now().Sub(c.At) < completionTTL && f.Now().Sub(c.At) >= 0 {
		return c.Names
	}
	client, err := f.GitLab(false)
	if err != nil {
		return nil
	}
	ws, err := client.List(ctx, p)
	if err != nil {
		return nil
	}
	c = nameCache{At: f.Now(), Names: []string{}}
	for _, w := range ws {
		c.Names = append(c.Names, w.Name)
	}
	if b, err := json.Marshal(c); err == nil && path != "" {
		if os.MkdirAll(filepath.Dir(path), 0o700) == nil {
			_ = os.WriteFile(path, b, 0o600)
		}
	}
	return c.Names
}

// cachePath is $XDG_CACHE_HOME/ws/completion/<sha256 of key>.json (else
// ~/.cache/...); "" when neither is set.
func cachePath(getenv func(string) string, key string) string {
	dir := getenv("XDG_CACHE_HOME")
	if dir == "" {
		if h := getenv("HOME"); h != "" {
			dir = filepath.Join(h, ".cache")
		}
	}
	if dir == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, "ws", "completion", hex.EncodeToString(sum[:8])+".json")
}

// DevfileCompletion completes a DEVFILE argument with YAML files.
func DevfileCompletion(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// NoDevfileHint says what to do when the devfile could not be read: write
// one with 'ws init' when there is none, else pass its path.
func NoDevfileHint(err error, cmd string) string {
	if errors.Is(err, pipeline.ErrNoDevfile) {
		return fmt.Sprintf("write a starter .devfile.yaml with 'ws init', or pass the devfile's path: ws %s path/to/devfile.yaml", cmd)
	}
	return fmt.Sprintf("pass the devfile's path: ws %s path/to/devfile.yaml", cmd)
}
