// Package configssh implements 'ws config-ssh': Host entries for the user's workspaces in a
// file ws manages, included from the user's SSH config.
package configssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/rogpeppe/go-internal/diff"
	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/attach"
	"github.com/ws-dev/ws/local"
)

// ConfigSSHOptions are the inputs of 'ws config-ssh'.
type ConfigSSHOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Conn    attach.Flags
	// ConfigFile is the user's SSH config that includes ws's file (default ~/.ssh/config).
	ConfigFile string
	Yes        bool
	DryRun     bool
	// Executable is the ws binary the ProxyCommand runs (default: this one).
	Executable string
}

// NewCmdConfigSSH returns the 'ws config-ssh' command.
func NewCmdConfigSSH(f *cmdutil.Factory, runF func(*ConfigSSHOptions) error) *cobra.Command {
	opts := &ConfigSSHOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "config-ssh",
		Short:   "Write SSH Host entries for your workspaces (ssh ws.NAME, VS Code, JetBrains)",
		Long: `Write a Host entry for each of your workspaces into a file ws manages
(ws/config next to your SSH config), and include that file from your SSH
config, so that ssh, scp, sftp, VS Code Remote-SSH and JetBrains Gateway reach
workspace NAME as ws.NAME. Each entry's ProxyCommand is 'ws ssh --stdio', and
its host key is pinned: the one the gateway vouches for, written by the
ProxyCommand before each connection (docs/ssh.md).

A workspace is listed as ws.NAME and ws.NAME.PROJECT (PROJECT is the GitLab
project's path with dots for slashes, or "local"); when two workspaces share a
NAME, only the second forms are written. The workspaces are your local ones
('ws up --local'), those whose agents are connected to the gateway, and those
of the current project (or -R). Run it again after 'ws up' or 'ws down':
entries of workspaces that are gone are removed. Running it twice changes
nothing.

Your SSH config itself changes only once, to add one Include line at its top:
ws shows the change and asks first (--yes for scripts, --dry-run to only show).`,
		Example: `  $ ws config-ssh
  $ ws config-ssh --yes && ssh ws.demo
  $ ws config-ssh --ssh-config-file ~/.ssh/work.config --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Yes && opts.DryRun {
				return cmdutil.FlagErrorf("config-ssh", "--yes and --dry-run contradict each other")
			}
			if runF != nil {
				return runF(opts)
			}
			return configSSHRun(c.Context(), opts)
		},
	}
	opts.Conn.Add(cmd)
	cmd.Flags().StringVar(&opts.ConfigFile, "ssh-config-file", "", "the SSH config `file` that includes ws's entries (default ~/.ssh/config)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "change the SSH config without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "only show what would change")
	return cmd
}

// Workspace is one Host entry's workspace.
type Workspace struct {
	Name    string
	Project string // GitLab project path; "" for a local workspace
}

// Params are what every entry's ProxyCommand needs.
type Params struct {
	Executable string // the ws binary
	GitLabHost string // --host for GitLab workspaces ("" leaves it to ws's resolution)
	Gateway    string // --gateway for GitLab workspaces
	Dir        string // ws's directory next to the SSH config (config, known_hosts/)
}

func configSSHRun(ctx context.Context, opts *ConfigSSHOptions) error {
	dir, err := attach.SSHDir(opts.Factory.Getenv, opts.ConfigFile)
	if err != nil {
		return fmt.Errorf("find your SSH config: %w", err)
	}
	cfgFile := filepath.Join(filepath.Dir(dir), "config")
	if opts.ConfigFile != "" {
		cfgFile, _ = filepath.Abs(opts.ConfigFile) // SSHDir made it absolute already
	}
	p := Params{Executable: opts.Executable, Dir: dir}
	if p.Executable == "" {
		if p.Executable, err = os.Executable(); err != nil {
			return fmt.Errorf("find the ws binary for the ProxyCommand: %w", err)
		}
	}
	wss, warnings := list(ctx, opts, &p)
	for _, w := range warnings {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", w)
	}
	managed := filepath.Join(p.Dir, "config")
	newManaged, skipped := Render(wss, p)
	for _, s := range skipped {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", s)
	}
	oldManaged, _ := os.ReadFile(managed)
	oldCfg, err := os.ReadFile(cfgFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", cfgFile, err)
	}
	newCfg := EnsureInclude(oldCfg, managed)

	changed := false
	for _, c := range []struct {
		name     string
		old, new []byte
	}{{cfgFile, oldCfg, newCfg}, {managed, oldManaged, newManaged}} {
		if d := diff.Diff(c.name, c.old, c.name, c.new); len(d) > 0 {
			changed = true
			// The diff is what the user agrees to: unseen, nothing is written.
			if _, err := opts.IO.Out.Write(d); err != nil {
				return err
			}
		}
	}
	if !changed {
		fmt.Fprintf(opts.IO.ErrOut, "%s is up to date (%d workspaces)\n", managed, len(wss))
		return nil
	}
	if opts.DryRun {
		return nil
	}
	if !bytes.Equal(oldCfg, newCfg) && !opts.Yes {
		if !opts.IO.CanPrompt() {
			return cmdutil.FlagErrorf("config-ssh", "%s needs an Include line; run with --yes to add it, or --dry-run to only look", cfgFile)
		}
		ok, err := confirm(opts.IO, fmt.Sprintf("Add the Include line to %s?", cfgFile))
		if err != nil {
			return err
		}
		if !ok {
			return cmdutil.FlagErrorf("config-ssh", "%s left unchanged; nothing written", cfgFile)
		}
	}
	if err := os.MkdirAll(filepath.Join(p.Dir, "known_hosts"), 0o700); err != nil {
		return err
	}
	if err := cmdutil.WriteFileAtomic(managed, newManaged); err != nil {
		return fmt.Errorf("write %s: %w", managed, err)
	}
	removeStaleKnownHosts(filepath.Join(p.Dir, "known_hosts"), wss)
	if !bytes.Equal(oldCfg, newCfg) {
		if err := os.MkdirAll(filepath.Dir(cfgFile), 0o700); err != nil {
			return err
		}
		if err := cmdutil.WriteFileAtomic(cfgFile, newCfg); err != nil {
			return fmt.Errorf("write %s: %w", cfgFile, err)
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "wrote %d workspaces to %s\n", len(wss), managed)
	return nil
}

// list gathers the workspaces: local ones, those connected to the gateway, and the current
// project's (or -R's). A source that cannot be read is a warning, not a failure.
func list(ctx context.Context, opts *ConfigSSHOptions, p *Params) ([]Workspace, []string) {
	f := opts.Factory
	var out []Workspace
	var warnings []string
	if opts.Conn.Project == "" && opts.Conn.Gateway == "" {
		if all, err := local.List(f.Getenv); err == nil {
			for _, s := range all {
				out = append(out, Workspace{Name: s.Name})
			}
		}
	}
	if c, s, err := attach.Gateway(f, opts.Conn); err == nil {
		p.Gateway, p.GitLabHost = s.Gateway.Value, s.Host.Value
		ws, err := c.List(ctx)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("list the workspaces connected to %s: %v", p.Gateway, err))
		}
		for _, w := range ws {
			out = append(out, Workspace{Name: w.Name, Project: w.Project})
		}
	} else if opts.Conn.Project != "" || opts.Conn.Gateway != "" {
		warnings = append(warnings, err.Error())
	}
	if project, client, err := cmdutil.ProjectClient(f, cmdutil.GitLabFlags{Project: opts.Conn.Project}); err == nil && p.Gateway != "" {
		ws, err := client.List(ctx, project)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("list the workspaces of %s: %v", project, err))
		}
		for _, w := range ws {
			out = append(out, Workspace{Name: w.Name, Project: project})
		}
	}
	return out, warnings
}

// validName: what may appear in a Host pattern and a ProxyCommand argument unquoted.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
var validProject = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]*$`)

// Alias is the host name of w that never clashes ([attach.SSHAlias]).
func Alias(w Workspace) string { return attach.SSHAlias(w.Name, w.Project) }

// Render returns the managed file for wss (in any order, duplicates allowed), and a warning
// for each workspace that cannot be an SSH host. The same workspaces give the same bytes.
func Render(wss []Workspace, p Params) (out []byte, skipped []string) {
	seen := map[string]Workspace{}
	byName := map[string]int{}
	for _, w := range wss {
		if !validName.MatchString(w.Name) || (w.Project != "" && !validProject.MatchString(w.Project)) {
			skipped = append(skipped, fmt.Sprintf("workspace %q of %q has no SSH host: its name has characters a host name cannot", w.Name, w.Project))
			continue
		}
		a := Alias(w)
		if _, ok := seen[a]; !ok {
			seen[a] = w
			byName[w.Name]++
		}
	}
	aliases := make([]string, 0, len(seen))
	for a := range seen {
		aliases = append(aliases, a)
	}
	sort.Strings(aliases)
	var b bytes.Buffer
	b.WriteString("# Written by 'ws config-ssh'; it rewrites this file: do not edit. docs/ssh.md\n")
	for _, a := range aliases {
		w := seen[a]
		hosts := a
		if byName[w.Name] == 1 {
			hosts = "ws." + w.Name + " " + a
		}
		kh := filepath.Join(p.Dir, "known_hosts", a)
		argv := []string{shellQuote(p.Executable), "ssh", "--stdio"}
		if w.Project != "" {
			if p.GitLabHost != "" {
				argv = append(argv, "--host", shellQuote(p.GitLabHost))
			}
			if p.Gateway != "" {
				argv = append(argv, "--gateway", shellQuote(p.Gateway))
			}
			argv = append(argv, "-R", w.Project)
		}
		argv = append(argv, "--known-hosts", shellQuote(kh), "--host-key-alias", a, w.Name)
		fmt.Fprintf(&b, "\nHost %s\n", hosts)
		fmt.Fprintf(&b, "  HostName %s\n", a)
		fmt.Fprintf(&b, "  ProxyCommand %s\n", percent(strings.Join(argv, " ")))
		fmt.Fprintf(&b, "  HostKeyAlias %s\n", a)
		fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", configQuote(percent(kh)))
		b.WriteString("  StrictHostKeyChecking yes\n")
		b.WriteString("  Ciphers " + ciphers + "\n")
	}
	return b.Bytes(), skipped
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@=+,-]+$`)

// ciphers is OpenSSH's default list with AES-GCM first: the workspace's SSH server (Go)
// decrypts AES-GCM with the CPU's AES instructions, several times faster than
// ChaCha20-Poly1305, OpenSSH's first choice (docs/benchmarks.md).
const ciphers = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"

// shellQuote quotes s for the shell OpenSSH runs a ProxyCommand with, when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// configQuote quotes an ssh_config argument that may hold spaces.
func configQuote(s string) string { return `"` + s + `"` }

// percent escapes ssh_config's % tokens.
func percent(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// includeMarker introduces the Include line ws adds.
const includeMarker = "# Added by 'ws config-ssh': your workspaces' Host entries (ws.NAME). docs/ssh.md"

// EnsureInclude returns cfg with an Include of managed at its top (before any Host or Match,
// so it applies to every host), or cfg unchanged when it includes managed already.
func EnsureInclude(cfg []byte, managed string) []byte {
	line := "Include " + configQuote(percent(managed))
	sc := bufio.NewScanner(bytes.NewReader(cfg))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == line {
			return cfg
		}
	}
	return append([]byte(includeMarker+"\n"+line+"\n\n"), cfg...)
}

// removeStaleKnownHosts removes the pinned keys of workspaces no longer listed.
func removeStaleKnownHosts(dir string, wss []Workspace) {
	keep := map[string]bool{}
	for _, w := range wss {
		keep[Alias(w)] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !keep[e.Name()] && strings.HasPrefix(e.Name(), "ws.") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// confirm asks a yes/no question on the terminal; no is the default.
func confirm(ios *cmdutil.IOStreams, q string) (bool, error) {
	fmt.Fprintf(ios.ErrOut, "%s [y/N] ", q)
	line, err := bufio.NewReader(ios.In).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
