// Package gwclient is the client side of the ws gateway: its status and link API, and the
// CLI tunnel to a workspace (shells, commands, ports, SSH). It imports neither the gateway
// server nor the command line; internal/attach builds a client from flags and config.
package gwclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/yamux"

	"github.com/ws-dev/ws/internal/gwapi"
	"github.com/ws-dev/ws/tunnel"
)

// Client talks to a gateway on behalf of a user (ws shell, port-forward,
// open, ssh, and ws up's "agent connected" check).
type Client struct {
	BaseURL string // https://ws.example.com
	Token   string // the user's GitLab token
	HTTP    *http.Client
	// NoPortConns keeps port streams on the tunnel's yamux session even
	// when the gateway offers port data connections.
	NoPortConns bool
	// ForcePortConns tries port data connections even when the gateway did not offer
	// them (tests of the fallback).
	ForcePortConns bool
}

// StatusError is a refused request; Status is the HTTP status.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	if e.Status == http.StatusTooManyRequests && e.Message != "" {
		return e.Message // a limit that says what to do; the rate limit below says nothing
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return "the gateway rejected your GitLab token"
	case http.StatusForbidden:
		return "you may not use this workspace: only the user who launched it can"
	case http.StatusNotFound:
		return "no agent is connected for this workspace"
	case http.StatusTooManyRequests:
		return "too many failed sign-ins from this address; wait a minute"
	}
	if e.Message != "" {
		return fmt.Sprintf("gateway: %s (%d)", e.Message, e.Status)
	}
	return fmt.Sprintf("gateway answered %d", e.Status)
}

func (c *Client) path(project, name, suffix string) string {
	if project == "" {
		project = "-"
	}
	return fmt.Sprintf("%s/api/v1/workspaces/%s/%s%s", strings.TrimRight(c.BaseURL, "/"), url.PathEscape(project), url.PathEscape(name), suffix)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Status returns the workspace's status; project may be an id, a path or
// empty (the caller's only workspace of that name).
func (c *Client) Status(ctx context.Context, project, name string) (*gwapi.WorkspaceStatus, error) {
	var st gwapi.WorkspaceStatus
	if err := c.get(ctx, c.path(project, name, ""), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// List returns the caller's workspaces whose agents are connected, in every project.
func (c *Client) List(ctx context.Context) ([]gwapi.WorkspaceStatus, error) {
	var l struct {
		Workspaces []gwapi.WorkspaceStatus `json:"workspaces"`
	}
	if err := c.get(ctx, strings.TrimRight(c.BaseURL, "/")+"/api/v1/workspaces", &l); err != nil {
		return nil, err
	}
	return l.Workspaces, nil
}

// get GETs u with the user's token and decodes the JSON answer into v; a refusal is a
// *StatusError.
func (c *Client) get(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("reach gateway: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var ae gwapi.Error
		_ = json.Unmarshal(body, &ae)
		return &StatusError{Status: resp.StatusCode, Message: ae.Message}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("gateway answer: %w", err)
	}
	return nil
}

// Session is a CLI tunnel to one workspace.
type Session struct {
	y *yamux.Session
	c *Client
	// project, name address the workspace for port data connections;
	// portConn says the gateway offered them (PortConnHeader).
	project, name string
	portConn      atomic.Bool
	// sshConn says the gateway offered SSH data connections (SSHConnHeader).
	sshConn atomic.Bool
	// hostKey is the workspace's SSH host key as the gateway vouches for it
	// (tunnel.SSHHostKeyHeader); "" when it has none.
	hostKey string
}

// Connect opens a tunnel to the workspace.
func (c *Client) Connect(ctx context.Context, project, name string) (*Session, error) {
	u := c.path(project, name, "/tunnel")
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.Token)
	ws, resp, err := tunnel.DialResponse(ctx, u, h, c.HTTP)
	if err != nil {
		if resp != nil && resp.StatusCode != 0 {
			return nil, &StatusError{Status: resp.StatusCode}
		}
		return nil, fmt.Errorf("reach gateway: %w", err)
	}
	y, err := tunnel.Client(context.Background(), ws)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	s := &Session{y: y, c: c, project: project, name: name, hostKey: resp.Header.Get(tunnel.SSHHostKeyHeader)}
	s.portConn.Store(!c.NoPortConns && (c.ForcePortConns || resp.Header.Get(tunnel.PortConnHeader) == "1"))
	s.sshConn.Store(!c.NoPortConns && resp.Header.Get(tunnel.SSHConnHeader) == "1")
	return s, nil
}

// Mux is the tunnel's yamux session, for tools and tests that open streams themselves.
func (s *Session) Mux() *yamux.Session { return s.y }

// Close ends the tunnel.
func (s *Session) Close() error { return s.y.Close() }

// Done is closed when the tunnel ends.
func (s *Session) Done() <-chan struct{} { return s.y.CloseChan() }

// DialPort opens a TCP stream to port on the workspace's localhost: on a
// data connection of its own when the gateway offers them, else (or when
// that fails for a reason other than a refusal) on the tunnel's yamux
// session.
func (s *Session) DialPort(ctx context.Context, port int) (net.Conn, error) {
	if s.portConn.Load() {
		c, err := s.dialDataConn(ctx, fmt.Sprintf("/port/%d", port))
		switch {
		case errors.Is(err, errNotOffered):
			s.portConn.Store(false) // stay on yamux
		case c != nil || err != nil:
			return c, err
		}
	}
	return tunnel.Open(ctx, s.y, tunnel.Header{Kind: tunnel.KindPort, Port: port})
}

// errNotOffered: the gateway does not take such data connections after all.
var errNotOffered = errors.New("data connections not offered")

// dialDataConn opens a data connection to the route (under the workspace's path). A
// refusal is an error; errNotOffered means the gateway does not take such connections
// after all; (nil, nil) that this one failed for another reason. In both cases the caller
// uses the tunnel's yamux session.
func (s *Session) dialDataConn(ctx context.Context, route string) (net.Conn, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+s.c.Token)
	c, prefix, err := tunnel.DialUpgrade(ctx, s.c.path(s.project, s.name, route), h, s.c.HTTP)
	if err == nil {
		return tunnel.WithPrefix(c, prefix), nil
	}
	var ue *tunnel.UpgradeError
	if errors.As(err, &ue) {
		switch ue.Status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusConflict:
			return nil, &StatusError{Status: ue.Status, Message: ue.Message}
		case http.StatusBadGateway:
			if ue.Message != "" {
				return nil, &tunnel.RemoteError{Msg: ue.Message}
			}
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusBadRequest:
			return nil, errNotOffered
		}
	}
	return nil, nil
}

// SSHHostKey is the workspace's SSH host key (authorized_keys form) as the gateway vouches
// for it: the key its agent, the one GitLab confirmed, announced. "" when the workspace has
// no SSH server (an older agent).
func (s *Session) SSHHostKey() string { return s.hostKey }

// ErrNoSSH means the workspace's agent has no SSH server.
var ErrNoSSH = errors.New("this workspace's agent has no SSH server (it is older than this ws); restart the workspace to update it")

// DialSSH opens a connection to the workspace's SSH server: the SSH protocol both ways.
func (s *Session) DialSSH(ctx context.Context) (net.Conn, error) {
	if s.hostKey == "" {
		return nil, ErrNoSSH
	}
	if s.sshConn.Load() {
		// On a data connection of its own, like a port: no yamux framing at the
		// gateway or the agent (docs/benchmarks.md, SSH).
		c, err := s.dialDataConn(ctx, "/ssh")
		switch {
		case errors.Is(err, errNotOffered):
			s.sshConn.Store(false)
		case c != nil || err != nil:
			return c, err
		}
	}
	return tunnel.Open(ctx, s.y, tunnel.Header{Kind: tunnel.KindSSH})
}

// UsesPortConns says whether DialPort uses port data connections.
func (s *Session) UsesPortConns() bool { return s.portConn.Load() }

// ExecOptions describes a shell or command session.
type ExecOptions struct {
	Command    []string // empty: the login shell
	TTY        bool
	Term       string
	Cols, Rows int
	Env        []string
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer // unused with TTY
	// Resize delivers terminal size changes (cols, rows).
	Resize <-chan [2]int
}

// ErrLost means the tunnel ended before the remote command did.
var ErrLost = errors.New("connection to the workspace was lost")

// Exec runs a shell or command and returns its exit code.
func (s *Session) Exec(ctx context.Context, o ExecOptions) (int, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	sid := hex.EncodeToString(b)
	kind := tunnel.KindExec
	if o.TTY {
		kind = tunnel.KindShell
	}
	ctl, err := tunnel.Open(ctx, s.y, tunnel.Header{Kind: kind, Session: sid, Command: o.Command, Env: o.Env, Term: o.Term, Cols: o.Cols, Rows: o.Rows})
	if err != nil {
		return 0, err
	}
	defer ctl.Close()
	data, err := tunnel.Open(ctx, s.y, tunnel.Header{Kind: tunnel.KindData, Session: sid})
	if err != nil {
		return 0, err
	}
	defer data.Close()
	var stderr net.Conn
	if !o.TTY {
		if stderr, err = tunnel.Open(ctx, s.y, tunnel.Header{Kind: tunnel.KindStderr, Session: sid}); err != nil {
			return 0, err
		}
		defer stderr.Close()
	}
	var wg sync.WaitGroup
	outs := []*outWriter{{w: o.Stdout}, {w: o.Stderr}}
	copyOut := func(w *outWriter, r io.Reader) {
		defer wg.Done()
		if w.w == nil {
			w.w = io.Discard
		}
		// A failed read is the tunnel ending, which the control stream
		// reports; after a failed write, keep reading so the command is
		// not blocked, and report the write error once it exits.
		if _, err := io.Copy(w, r); err != nil && w.err != nil {
			_, _ = io.Copy(io.Discard, r)
		}
	}
	wg.Add(1)
	go copyOut(outs[0], data)
	if stderr != nil {
		wg.Add(1)
		go copyOut(outs[1], stderr)
	}
	if o.Stdin != nil {
		go func() {
			// Stdin ending, however, is end of input for the command.
			_, _ = io.Copy(data, o.Stdin)
			if !o.TTY {
				_ = tunnel.CloseWrite(data)
			}
		}()
	} else if !o.TTY {
		_ = tunnel.CloseWrite(data)
	}
	var wmu sync.Mutex
	go func() {
		for {
			select {
			case sz, ok := <-o.Resize:
				if !ok {
					return
				}
				wmu.Lock()
				_ = tunnel.WriteLine(ctl, tunnel.Control{Type: tunnel.MsgResize, Cols: sz[0], Rows: sz[1]})
				wmu.Unlock()
			case <-ctx.Done():
				wmu.Lock()
				_ = tunnel.WriteLine(ctl, tunnel.Control{Type: tunnel.MsgSignal, Signal: "HUP"})
				wmu.Unlock()
				return
			case <-s.y.CloseChan():
				return
			}
		}
	}()
	lr := tunnel.NewLineReader(ctl, tunnel.MaxHeaderBytes)
	for {
		var m tunnel.Control
		if err := lr.Read(&m); err != nil {
			return 0, ErrLost
		}
		if m.Type != tunnel.MsgExit || m.Code == nil {
			continue
		}
		wg.Wait()
		if m.Error != "" {
			return *m.Code, errors.New(m.Error)
		}
		for _, w := range outs {
			if w.err != nil {
				return *m.Code, fmt.Errorf("write the command's output: %w", w.err)
			}
		}
		return *m.Code, nil
	}
}

// outWriter remembers the first error writing a command's output.
type outWriter struct {
	w   io.Writer
	err error
}

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

// Link asks the gateway for a single-use sign-in link to the workspace's terminal page
// (POST /api/v1/links); project may be an id, a path or empty.
func (c *Client) Link(ctx context.Context, project, name string) (string, error) {
	body, _ := json.Marshal(gwapi.LinkRequest{Project: project, Name: name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/api/v1/links", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("reach gateway: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var ae gwapi.Error
		_ = json.Unmarshal(b, &ae)
		return "", &StatusError{Status: resp.StatusCode, Message: ae.Message}
	}
	var l gwapi.Link
	if err := json.Unmarshal(b, &l); err != nil || l.URL == "" {
		return "", fmt.Errorf("gateway link: unexpected answer")
	}
	return l.URL, nil
}
