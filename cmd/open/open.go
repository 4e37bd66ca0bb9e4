// Package open implements 'ws open': print (and on a desktop, open) a workspace endpoint URL.
package open

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"

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
		Short:   "Print a workspace endpoint's URL and open it in a browser",
		Long: `Print the URL of a devfile endpoint of the workspace, served by the ws gateway,
and open it in a browser when run on a desktop. ENDPOINT is an endpoint name or
port; default: the first endpoint.`,
		Example: `  $ ws open demo
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
	st, err := t.Status(ctx, opts.Factory)
	if err != nil {
		return err
	}
	if len(st.Endpoints) == 0 {
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %q has no endpoints", opts.Name), Hint: "add endpoints to a container component of the devfile, or use 'ws port-forward'"}
	}
	ep := st.Endpoints[0]
	if opts.Endpoint != "" {
		found := false
		for _, e := range st.Endpoints {
			if e.Name == opts.Endpoint || strconv.Itoa(e.Port) == opts.Endpoint {
				ep, found = e, true
				break
			}
		}
		if !found {
			names := ""
			for _, e := range st.Endpoints {
				names += fmt.Sprintf(" %s (%d)", e.Name, e.Port)
			}
			return cmdutil.FlagErrorf("open", "workspace %q has no endpoint %q; it has:%s", opts.Name, opts.Endpoint, names)
		}
	}
	fmt.Fprintln(opts.IO.Out, ep.URL)
	if opts.NoBrowser || !hasDesktop(opts.Factory.Getenv) || !opts.IO.IsStdoutTTY() {
		return nil
	}
	browse := opts.Browse
	if browse == nil {
		browse = desktopOpen
	}
	if err := browse(ep.URL); err != nil {
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

func desktopOpen(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	return cmd.Start()
}
