// Package ssh implements 'ws ssh': an SSH session in a workspace, or (--stdio) the
// ProxyCommand through which OpenSSH, VS Code and JetBrains Gateway reach it.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/internal/attach"
	"github.com/ws-dev/ws/tunnel"
)

// SSHOptions are the inputs of 'ws ssh'.
type SSHOptions struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Conn    attach.Flags
	Name    string // "" means the default workspace (cmdutil.ResolveName); required with --stdio
	Command []string
	// Stdio relays one SSH connection on stdin/stdout (a ProxyCommand).
	Stdio bool
	// KnownHosts and HostKeyAlias: with Stdio, write the workspace's host key to the file
	// KnownHosts under the name HostKeyAlias before relaying (ws config-ssh sets both).
	KnownHosts, HostKeyAlias string
	ForwardAgent             bool
	NoTTY, ForceTTY          bool
}

// NewCmdSSH returns the 'ws ssh' command.
func NewCmdSSH(f *cmdutil.Factory, runF func(*SSHOptions) error) *cobra.Command {
	opts := &SSHOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		GroupID: "workspace",
		Use:     "ssh [<name>] [-- <command>...]",
		Short:   "SSH into a workspace, or relay OpenSSH to it (--stdio)",
		Long: `Open an SSH session in the workspace through the ws gateway: a login shell in a
remote PTY when stdin and stdout are a terminal, else the command after --
(its words joined with spaces and run by the workspace's shell, as ssh does);
ws exits with the command's status.

The workspace's agent serves SSH inside the tunnel (no port is opened on the
runner), with the host key the gateway vouches for. -A forwards your SSH agent,
so 'git push' over SSH in the workspace uses your own keys.

--stdio relays one SSH connection on stdin and stdout, for OpenSSH's
ProxyCommand; 'ws config-ssh' writes Host entries that use it, so that ssh,
scp, sftp, VS Code Remote-SSH and JetBrains Gateway reach 'ws.NAME'
(docs/ssh.md).`,
		Example: `  $ ws ssh demo
  $ ws ssh demo -- go test ./...
  $ ws ssh -A demo -- git push
  $ ssh -o ProxyCommand='ws ssh --stdio demo' demo   # what 'ws config-ssh' writes, less the pinned key`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name, opts.Command = attach.NameAndCommand(c, args)
			switch {
			case opts.Stdio && opts.Name == "":
				return cmdutil.FlagErrorf("ssh", "--stdio needs the workspace NAME: ws ssh --stdio NAME")
			case opts.Stdio && len(opts.Command) > 0:
				return cmdutil.FlagErrorf("ssh", "--stdio relays a connection; it runs no command")
			case (opts.KnownHosts == "") != (opts.HostKeyAlias == ""):
				return cmdutil.FlagErrorf("ssh", "--known-hosts and --host-key-alias go together")
			case opts.KnownHosts != "" && !opts.Stdio:
				return cmdutil.FlagErrorf("ssh", "--known-hosts is for --stdio")
			case opts.NoTTY && opts.ForceTTY:
				return cmdutil.FlagErrorf("ssh", "-t and -T contradict each other")
			}
			if runF != nil {
				return runF(opts)
			}
			if opts.Stdio {
				return stdioRun(c.Context(), opts)
			}
			return sshRun(c.Context(), opts)
		},
	}
	opts.Conn.Add(cmd)
	cmd.Flags().BoolVar(&opts.Stdio, "stdio", false, "relay an SSH connection on stdin/stdout (OpenSSH ProxyCommand)")
	cmd.Flags().StringVar(&opts.KnownHosts, "known-hosts", "", "with --stdio: write the workspace's host key to this known_hosts `file` first")
	cmd.Flags().StringVar(&opts.HostKeyAlias, "host-key-alias", "", "with --known-hosts: the host `name` to write it under (ssh's HostKeyAlias)")
	cmd.Flags().BoolVarP(&opts.ForwardAgent, "forward-agent", "A", false, "forward your SSH agent ($SSH_AUTH_SOCK) to the workspace")
	cmd.Flags().BoolVarP(&opts.NoTTY, "no-tty", "T", false, "never allocate a remote terminal")
	cmd.Flags().BoolVarP(&opts.ForceTTY, "tty", "t", false, "allocate a remote terminal for a command too")
	cmd.ValidArgsFunction = cmdutil.CompleteWorkspaces(f, &opts.Conn.Project)
	attach.CommandArgs(cmd, "ssh")
	return cmd
}

// dial opens the tunnel and one SSH connection on it; hostKey is the key the gateway
// vouches for.
func dial(ctx context.Context, opts *SSHOptions) (sess *gwclient.Session, c net.Conn, hostKey ssh.PublicKey, err error) {
	t, err := attach.Dial(ctx, opts.Factory, "ssh", opts.Conn, opts.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	opts.Name = t.Name
	sess, err = t.Tunnel(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	hostKey, _, _, _, err = ssh.ParseAuthorizedKey([]byte(sess.SSHHostKey()))
	if err == nil {
		c, err = sess.DialSSH(ctx)
	} else if sess.SSHHostKey() == "" {
		err = gwclient.ErrNoSSH
	} else {
		err = fmt.Errorf("the gateway sent an unreadable host key: %w", err)
	}
	if err != nil {
		sess.Close()
		return nil, nil, nil, explain(err, opts.Name)
	}
	return sess, c, hostKey, nil
}

func explain(err error, name string) error {
	var re *tunnel.RemoteError
	switch {
	case errors.Is(err, gwclient.ErrNoSSH):
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %q: %w", name, err), Hint: "ws restart " + name}
	case errors.As(err, &re):
		return &cmdutil.HintError{Err: fmt.Errorf("workspace %q: %w", name, err), Hint: "check 'ws status " + name + "'"}
	}
	return err
}

// stdioRun is the ProxyCommand: it relays stdin and stdout to one SSH connection until
// either side ends.
func stdioRun(ctx context.Context, opts *SSHOptions) error {
	sess, c, hostKey, err := dial(ctx, opts)
	if err != nil {
		return err
	}
	defer sess.Close()
	defer c.Close()
	if opts.KnownHosts != "" {
		// ssh reads the file only when the server's key arrives, which is after this.
		if err := writeKnownHost(opts.KnownHosts, opts.HostKeyAlias, hostKey); err != nil {
			return fmt.Errorf("write the workspace's host key to %s: %w", opts.KnownHosts, err)
		}
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, opts.IO.In)
		_ = tunnel.CloseWrite(c)
		close(done)
	}()
	_, err = io.Copy(opts.IO.Out, c)
	select {
	case <-sess.Done():
		return &cmdutil.HintError{Err: gwclient.ErrLost, Hint: "the job may have stopped; check 'ws status " + opts.Name + "'"}
	default:
	}
	return err
}

// writeKnownHost replaces the known_hosts file name with one line: alias and key.
func writeKnownHost(name, alias string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	line := alias + " " + string(ssh.MarshalAuthorizedKey(key))
	return cmdutil.WriteFileAtomic(name, []byte(line))
}

// sshRun is an SSH session in the workspace with ws's own SSH client.
func sshRun(ctx context.Context, opts *SSHOptions) error {
	sess, c, hostKey, err := dial(ctx, opts)
	if err != nil {
		return err
	}
	defer sess.Close()
	cc, chans, reqs, err := ssh.NewClientConn(c, "ws."+opts.Name, &ssh.ClientConfig{
		User:            "ws",
		HostKeyCallback: ssh.FixedHostKey(hostKey),
	})
	if err != nil {
		c.Close()
		return fmt.Errorf("ssh to workspace %q: %w", opts.Name, err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	s, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("ssh session in workspace %q: %w", opts.Name, err)
	}
	defer s.Close()
	if opts.ForwardAgent {
		sock := opts.Factory.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return &cmdutil.HintError{Err: errors.New("-A: no SSH agent ($SSH_AUTH_SOCK is empty)"), Hint: "start one with 'eval $(ssh-agent)' and 'ssh-add'"}
		}
		if err := agent.ForwardToRemote(client, sock); err != nil {
			return fmt.Errorf("-A: %w", err)
		}
		if err := agent.RequestAgentForwarding(s); err != nil {
			return fmt.Errorf("-A: the workspace refused agent forwarding: %w", err)
		}
	}
	s.Stdin, s.Stdout, s.Stderr = opts.IO.In, opts.IO.Out, opts.IO.ErrOut
	wantTTY := opts.ForceTTY || (len(opts.Command) == 0 && !opts.NoTTY)
	if wantTTY {
		if tt := attach.RawTerminal(opts.IO, opts.Factory.Getenv); tt != nil {
			defer tt.Restore()
			if err := s.RequestPty(tt.Term, tt.Rows, tt.Cols, ssh.TerminalModes{}); err != nil {
				return fmt.Errorf("remote terminal: %w", err)
			}
			go func() {
				for sz := range tt.Resize {
					_ = s.WindowChange(sz[1], sz[0])
				}
			}()
		}
	}
	if len(opts.Command) == 0 {
		err = s.Shell()
	} else {
		err = s.Start(strings.Join(opts.Command, " "))
	}
	if err != nil {
		return fmt.Errorf("start in workspace %q: %w", opts.Name, err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- s.Wait() }()
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGHUP)
		err = <-waitErr
	}
	return exitStatus(err, opts.Name)
}

// exitStatus turns the session's end into ws's exit: the command's status, 128+n for a
// signal, an error when the connection went first.
func exitStatus(err error, name string) error {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if sig := ee.Signal(); sig != "" {
			return &cmdutil.ExitError{Code: 128 + signalNumber(sig)}
		}
		return &cmdutil.ExitError{Code: ee.ExitStatus()}
	case errors.As(err, &missing), errors.Is(err, io.EOF):
		return &cmdutil.HintError{Err: gwclient.ErrLost, Hint: "the job may have stopped; check 'ws status " + name + "'"}
	}
	return err
}

// signalNumber is the Linux number of an SSH signal name (RFC 4254 §6.10).
func signalNumber(name string) int {
	n := map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9, "SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12}[name]
	if n == 0 {
		return 127
	}
	return n
}
