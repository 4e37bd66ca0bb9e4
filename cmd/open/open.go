// Package open implements 'ws open': print (and on a desktop, open) a workspace's web terminal
// or one of its endpoint URLs.
package open

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/gwclient"
)

// OpenOptions are the inputs of 'ws open'.
type OpenOptions struct {
	IO        *cmdutil.IOStreams
	Factory   *cmdutil.Factory
	Conn      gwclient.Flags
	Name      string
	Endpoint  string
	NoBrowser bool
	// Browse opens a URL; nil uses the desktop's opener.
	Browse func(string) error
}

// NewCmdOpen returns the 'ws open' command.
func NewCmdOpen(f *cmdutil.Factory, runF func(*OpenOptions) error) *cobra.Command {
	opts := &OpenOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "open <name> [<endpoint>]",
		Short:   "Open a workspace's web terminal, or an endpoint, in a browser",
		Long: `Without ENDPOINT, open the workspace's terminal page on the ws gateway: ws asks
the gateway, with your GitLab token, for a sign-in link that works once, for
2 minutes, and leads to a terminal in the workspace.

With ENDPOINT (a devfile endpoint name or port), open the URL at which the
gateway serves that endpoint.

The URL is printed; on a desktop it is also opened in a browser (not over SSH,
not without a display, not when stdout is not a terminal, nor with
--no-browser). A printed sign-in link is a credential until it is used:
do not share it.`,
		Example: `  $ ws open demo
  $ ws open demo web
  $ ws open demo 8080 --no-browser`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			if len(args) > 1 {
				opts.Endpoint = args[1]
			}
			if runF != nil {
				return runF(opts)
			}
			return openRun(c.Context(), opts)
		},
	}
	opts.Conn.Add(cmd)
	cmd.Flags().BoolVar(&opts.NoBrowser, "no-browser", false, "only print the URL")
	return cmd
}

func openRun(ctx context.Context, opts *OpenOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	t, err := gwclient.Resolve(opts.Factory, opts.Conn, opts.Name)
	if err != nil {
		return err
	}
	if opts.Endpoint == "" {
		link, err := t.Link(ctx, opts.Factory)
		if err != nil {
			return err
		}
		show(opts, link)
		return nil
	}
	st, err := t.Status(ctx, opts.Factory)
	if err != nil {
		return err
	}
	if len(st.Endpoints) == 0 {
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %q has no endpoints", opts.Name), Hint: "add endpoints to a container component of the devfile, or use 'ws port-forward'"}
	}
	for _, e := range st.Endpoints {
		if e.Name == opts.Endpoint || strconv.Itoa(e.Port) == opts.Endpoint {
			show(opts, e.URL)
			return nil
		}
	}
	names := ""
	for _, e := range st.Endpoints {
		names += fmt.Sprintf(" %s (%d)", e.Name, e.Port)
	}
	return cmdutil.FlagErrorf("open", "workspace %q has no endpoint %q; it has:%s", opts.Name, opts.Endpoint, names)
}

// show prints u and, on a desktop, opens it in a browser.
func show(opts *OpenOptions, u string) {
	fmt.Fprintln(opts.IO.Out, u)
	if opts.NoBrowser || !hasDesktop(opts.Factory.Getenv) || !opts.IO.IsStdoutTTY() {
		return
	}
	browse := opts.Browse
	if browse == nil {
		browse = func(u string) error { return desktopOpen(opts.Factory.Getenv("BROWSER"), u) }
	}
	if err := browse(u); err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "could not open a browser: %v\n", err)
	}
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

// desktopOpen starts the first command of browseCommands that starts.
func desktopOpen(browser, url string) error {
	var err error
	for _, argv := range browseCommands(browser, runtime.GOOS, url) {
		if err = exec.Command(argv[0], argv[1:]...).Start(); err == nil {
			return nil
		}
	}
	return err
}

// browseCommands lists the commands that may open url, in order: each
// entry of $BROWSER (colon-separated, as xdg-utils and Python read it;
// "%s" in an entry is replaced by the URL, else the URL is appended), then
// the desktop's opener.
func browseCommands(browser, goos, url string) [][]string {
	var out [][]string
	for _, entry := range strings.Split(browser, ":") {
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
	switch goos {
	case "darwin":
		out = append(out, []string{"open", url})
	case "windows":
		out = append(out, []string{"rundll32", "url.dll,FileProtocolHandler", url})
	default:
		out = append(out, []string{"xdg-open", url})
	}
	return out
}
