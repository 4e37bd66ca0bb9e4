// Package portforward implements 'ws port-forward': local ports to ports in a workspace.
package portforward

import (
	"context"
	"fmt"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/internal/attach"
	"github.com/ws-dev/ws/tunnel"
)

// Mapping is one LOCAL:REMOTE pair.
type Mapping struct{ Local, Remote int }

// PortForwardOptions are the inputs of 'ws port-forward'.
type PortForwardOptions struct {
	IO       *cmdutil.IOStreams
	Factory  *cmdutil.Factory
	Conn     attach.Flags
	Name     string // "" means the default workspace (cmdutil.ResolveName)
	Mappings []Mapping
	Address  string
	// Ready, when set, receives the bound local addresses (tests).
	Ready func([]net.Addr)
	cmdutil.OutputFlags
}

// Forward is the JSON shape of 'ws port-forward --output json': one line
// per port once it listens (docs/json.md).
type Forward struct {
	Name   string `json:"name"`
	Local  string `json:"local"` // host:port listening on this machine
	Remote int    `json:"remote"`
}

// NewCmdPortForward returns the 'ws port-forward' command.
func NewCmdPortForward(f *cmdutil.Factory, runF func(*PortForwardOptions) error) *cobra.Command {
	opts := &PortForwardOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "port-forward [<name>] [<local>:]<remote>...",
		Short:   "Forward local ports to ports in a workspace",
		Long: `Listen on local ports and carry each connection through the ws gateway to a
port on the workspace's localhost. LOCAL 0 picks a free port. Runs until
interrupted.

NAME defaults as for 'ws status' when the first argument is a port mapping
(so a workspace named like a port needs the mapping after it). With
--output json, one JSON object per forwarded port is printed once it
listens.`,
		Example: `  $ ws port-forward demo 8080
  $ ws port-forward demo 9000:8080 5432
  $ ws port-forward 0:8080 --output json   # the devfile's workspace, a free local port`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 || (len(args) == 1 && !isMapping(args[0])) {
				return cmdutil.FlagErrorf("port-forward", "want at least one [LOCAL:]REMOTE port (after the workspace name, if you give one)")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if !isMapping(args[0]) {
				opts.Name, args = args[0], args[1:]
			}
			if err := opts.OutputFlags.Check(c); err != nil {
				return err
			}
			for _, a := range args {
				m, err := ParseMapping(a)
				if err != nil {
					return cmdutil.FlagErrorf("port-forward", "%v", err)
				}
				opts.Mappings = append(opts.Mappings, m)
			}
			if runF != nil {
				return runF(opts)
			}
			return portForwardRun(c.Context(), opts)
		},
	}
	opts.Conn.Add(cmd)
	cmd.Flags().StringVar(&opts.Address, "address", "127.0.0.1", "local address to listen on")
	cmdutil.AddOutputFlags(cmd, &opts.OutputFlags)
	cmd.ValidArgsFunction = cmdutil.CompleteWorkspaces(f, &opts.Conn.Project)
	return cmd
}

// isMapping reports whether an argument is a port mapping, not a name.
func isMapping(s string) bool {
	_, err := ParseMapping(s)
	return err == nil
}

// ParseMapping parses "8080" or "9000:8080".
func ParseMapping(s string) (Mapping, error) {
	l, r, found := strings.Cut(s, ":")
	if !found {
		l, r = s, s
	}
	lp, err1 := strconv.Atoi(l)
	rp, err2 := strconv.Atoi(r)
	if err1 != nil || err2 != nil || lp < 0 || lp > 65535 || rp < 1 || rp > 65535 {
		return Mapping{}, fmt.Errorf("invalid port mapping %q: want [LOCAL:]REMOTE with ports 1-65535 (LOCAL may be 0)", s)
	}
	return Mapping{Local: lp, Remote: rp}, nil
}

func portForwardRun(ctx context.Context, opts *PortForwardOptions) error {
	// root.Run's context already ends on SIGINT/SIGTERM; this covers callers
	// that execute the command on their own (internal/e2e), since running
	// until interrupted and then exiting 0 is this command's contract.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	t, err := attach.Dial(ctx, opts.Factory, "port-forward", opts.Conn, opts.Name)
	if err != nil {
		return err
	}
	opts.Name = t.Name
	sess, err := t.Tunnel(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	var addrs []net.Addr
	for _, m := range opts.Mappings {
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.Address, strconv.Itoa(m.Local)))
		if err != nil {
			return fmt.Errorf("listen on local port %d: %w", m.Local, err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr())
		if opts.JSON() {
			if err := opts.WriteLine(opts.IO.Out, Forward{Name: opts.Name, Local: ln.Addr().String(), Remote: m.Remote}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(opts.IO.ErrOut, "Forwarding %s -> %s:%d\n", ln.Addr(), opts.Name, m.Remote)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					rc, err := sess.DialPort(ctx, m.Remote)
					if err != nil {
						fmt.Fprintf(opts.IO.ErrOut, "port %d: %v\n", m.Remote, err)
						c.Close()
						return
					}
					tunnel.Relay(c, rc)
				}()
			}
		}()
	}
	if opts.Ready != nil {
		opts.Ready(addrs)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-sess.Done():
		return &cmdutil.HintError{Err: fmt.Errorf("tunnel to %s closed", opts.Name), Hint: "the workspace or the gateway restarted; run the command again"}
	}
}
