// Package open implements 'ws open': print (and on a desktop, open) a workspace's web terminal
// or one of its endpoint URLs.
package open

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/cli/browser"
	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/attach"
)

// OpenOptions are the inputs of 'ws open'.
type OpenOptions struct {
	IO        *cmdutil.IOStreams
	Factory   *cmdutil.Factory
	Conn      attach.Flags
	Name      string // "" means the default workspace (cmdutil.ResolveName)
	Endpoint  string
	NoBrowser bool
	// IDE opens the workspace's project directory in an editor over SSH: vscode or jetbrains.
	IDE string
	// Browse opens a URL; nil uses $BROWSER, else the desktop's opener.
	Browse func(string) error
	cmdutil.OutputFlags
}

// Result is the JSON shape of 'ws open --output json'.
type Result struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"` // "" for the web terminal
	URL      string `json:"url"`
	// SignIn is true for a single-use sign-in link (a credential until used).
	SignIn bool `json:"signIn"`
	// IDE is the editor a --ide URL opens ("" otherwise); SSHHost the Host entry it uses.
	IDE     string `json:"ide,omitempty"`
	SSHHost string `json:"sshHost,omitempty"`
}

// NewCmdOpen returns the 'ws open' command.
func NewCmdOpen(f *cmdutil.Factory, runF func(*OpenOptions) error) *cobra.Command {
	opts := &OpenOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "open [<name> [<endpoint>]]",
		Short:   "Open a workspace's web terminal, or an endpoint, in a browser",
		Long: `Without ENDPOINT, open the workspace's terminal page on the ws gateway: ws asks
the gateway, with your GitLab token, for a sign-in link that works once, for
2 minutes, and leads to a terminal in the workspace.

With ENDPOINT (a devfile endpoint name or port), open the URL at which the
gateway serves that endpoint.

With --ide vscode, open the workspace's project directory in VS Code over SSH
(Remote-SSH, vscode://vscode-remote/ssh-remote+HOST/DIR); with --ide
jetbrains, hand it to JetBrains Gateway (jetbrains-gateway://connect#...,
which fills in Gateway's SSH connection form). Both use the Host entry
'ws config-ssh' writes: run it first (docs/ssh.md).

The URL is printed; on a desktop it is also opened in a browser (not over SSH,
not without a display, not when stdout is not a terminal, nor with
--no-browser, nor with --output json). A printed sign-in link is a credential
until it is used: do not share it. $BROWSER (colon-separated commands, %s
for the URL) chooses the browser.

NAME defaults as for 'ws status'.`,
		Example: `  $ ws open demo
  $ ws open demo web
  $ ws open demo 8080 --no-browser
  $ ws config-ssh --yes && ws open demo --ide vscode`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.Name = args[0]
			}
			if len(args) > 1 {
				opts.Endpoint = args[1]
			}
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			switch opts.IDE {
			case "", ideVSCode, ideJetBrains:
			default:
				return cmdutil.FlagErrorf("open", "--ide %q: want vscode or jetbrains", opts.IDE)
			}
			if opts.IDE != "" && opts.Endpoint != "" {
				return cmdutil.FlagErrorf("open", "--ide opens the workspace's project, not an endpoint: ws open %s --ide %s", opts.Name, opts.IDE)
			}
			if runF != nil {
				return runF(opts)
			}
			return openRun(c.Context(), opts)
		},
	}
	opts.Conn.Add(cmd)
	cmd.Flags().BoolVar(&opts.NoBrowser, "no-browser", false, "only print the URL")
	cmd.Flags().StringVar(&opts.IDE, "ide", "", "open the project over SSH in `editor`: vscode or jetbrains")
	cmdutil.AddOutputFlags(cmd, &opts.OutputFlags)
	cmd.ValidArgsFunction = cmdutil.CompleteWorkspaces(f, &opts.Conn.Project)
	return cmd
}

func openRun(ctx context.Context, opts *OpenOptions) error {
	t, err := attach.Dial(ctx, opts.Factory, "open", opts.Conn, opts.Name)
	if err != nil {
		return err
	}
	opts.Name = t.Name
	if opts.IDE != "" {
		st, err := t.Status(ctx)
		if err != nil {
			return err
		}
		project := st.Project
		if t.Local {
			project = ""
		}
		r := IDEResult(opts.Name, project, st.WorkingDir, opts.IDE, opts.Factory.Getenv("USER"))
		if dir, err := attach.SSHDir(opts.Factory.Getenv, ""); err == nil && !hasSSHHost(filepath.Join(dir, "config"), r.SSHHost) {
			fmt.Fprintf(opts.IO.ErrOut, "warning: your SSH config has no Host %s yet: run 'ws config-ssh' first\n", r.SSHHost)
		}
		return show(opts, r)
	}
	if opts.Endpoint == "" {
		link, err := t.Link(ctx)
		if err != nil {
			return err
		}
		return show(opts, Result{Name: opts.Name, URL: link, SignIn: true})
	}
	st, err := t.Status(ctx)
	if err != nil {
		return err
	}
	if len(st.Endpoints) == 0 {
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %q has no endpoints", opts.Name), Hint: "add endpoints to a container component of the devfile, or use 'ws port-forward'"}
	}
	for _, e := range st.Endpoints {
		if e.Name == opts.Endpoint || strconv.Itoa(e.Port) == opts.Endpoint {
			return show(opts, Result{Name: opts.Name, Endpoint: e.Name, URL: e.URL})
		}
	}
	names := ""
	for _, e := range st.Endpoints {
		names += fmt.Sprintf(" %s (%d)", e.Name, e.Port)
	}
	return cmdutil.FlagErrorf("open", "workspace %q has no endpoint %q; it has:%s", opts.Name, opts.Endpoint, names)
}

// show prints the URL (or the JSON result) and, on a desktop, opens it in
// a browser.
func show(opts *OpenOptions, r Result) error {
	if opts.JSON() {
		return opts.Write(opts.IO.Out, r)
	}
	fmt.Fprintln(opts.IO.Out, r.URL)
	if opts.NoBrowser || !hasDesktop(opts.Factory.Getenv) || !opts.IO.IsStdoutTTY() {
		return nil
	}
	browse := opts.Browse
	if browse == nil {
		browse = func(u string) error { return openBrowser(opts.Factory.Getenv("BROWSER"), u, opts.IO.ErrOut) }
	}
	if err := browse(r.URL); err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "could not open a browser: %v\n", err)
	}
	return nil
}

// hasDesktop reports whether a browser can be shown: macOS and Windows
// always, elsewhere only with a display and without SSH.
func hasDesktop(getenv func(string) string) bool {
	if getenv("BROWSER") != "" {
		return true
	}
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return (getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != "") && getenv("SSH_CONNECTION") == ""
}

// openBrowser runs the commands of $BROWSER in turn until one succeeds,
// as gh does, and waits for it; without $BROWSER, the desktop's opener
// (github.com/cli/browser: xdg-open, open, rundll32, ...).
func openBrowser(browserEnv, url string, stderr io.Writer) error {
	cmds := browseCommands(browserEnv, url)
	if len(cmds) == 0 {
		browser.Stdout, browser.Stderr = io.Discard, stderr
		return browser.OpenURL(url)
	}
	var err error
	for _, argv := range cmds {
		c := exec.Command(argv[0], argv[1:]...)
		c.Stderr = stderr
		if err = c.Run(); err == nil {
			return nil
		}
	}
	return err
}

// browseCommands lists the commands $BROWSER names for url, in order: its
// entries are colon-separated, as xdg-utils and Python read them; "%s" in
// an entry is replaced by the URL, else the URL is appended.
func browseCommands(browserEnv, url string) [][]string {
	var out [][]string
	for _, entry := range strings.Split(browserEnv, ":") {
		argv := strings.Fields(entry)
		if len(argv) == 0 {
			continue
		}
		replaced := false
		for i, a := range argv {
			if strings.Contains(a, "%s") {
				argv[i] = strings.ReplaceAll(a, "%s", url)
				replaced = true
			}
		}
		if !replaced {
			argv = append(argv, url)
		}
		out = append(out, argv)
	}
	return out
}

const (
	ideVSCode    = "vscode"
	ideJetBrains = "jetbrains"
)

// IDEResult is the URL that opens directory dir of workspace name (of GitLab project, ""
// for a local one) in editor ide over SSH, through the Host entry 'ws config-ssh' wrote.
// user is the local user name JetBrains Gateway's form wants (the workspace ignores it).
func IDEResult(name, project, dir, ide, user string) Result {
	host := attach.SSHAlias(name, project)
	if dir == "" {
		dir = "/"
	}
	r := Result{Name: name, IDE: ide, SSHHost: host}
	switch ide {
	case ideVSCode:
		segs := strings.Split(strings.TrimPrefix(dir, "/"), "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		r.URL = "vscode://vscode-remote/ssh-remote+" + host + "/" + strings.Join(segs, "/")
	case ideJetBrains:
		if user == "" {
			user = "ws"
		}
		q := url.Values{"type": {"ssh"}, "deploy": {"false"}, "host": {host}, "port": {"22"}, "user": {user}, "projectPath": {dir}}
		r.URL = "jetbrains-gateway://connect#" + q.Encode()
	}
	return r
}

// hasSSHHost reports whether the ws-managed SSH config names host on a Host line.
func hasSSHHost(managed, host string) bool {
	b, err := os.ReadFile(managed)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Host" && slices.Contains(f[1:], host) {
			return true
		}
	}
	return false
}
