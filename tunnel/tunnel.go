package tunnel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// Version is the tunnel protocol version; it is sent in the Hello and in the
// WS-Tunnel-Version header, and a peer refuses versions it does not know.
const Version = 1

// HTTP paths and headers of the gateway's tunnel endpoints.
const (
	// AgentPath is where agents dial in (WebSocket, JOB-TOKEN header).
	AgentPath = "/api/v1/agent/connect"
	// VersionHeader carries Version on every tunnel WebSocket handshake.
	VersionHeader = "WS-Tunnel-Version"
	// JobTokenHeader is the agent's credential (the job's CI_JOB_TOKEN).
	JobTokenHeader = "JOB-TOKEN"
)

// Limits. Every JSON message on the wire is bounded by MaxHeaderBytes
// (the Hello, which lists endpoints, by MaxHelloBytes); a WebSocket message
// by MaxMessageBytes; a stream's buffered data by the yamux window.
const (
	MaxHeaderBytes   = 16 << 10
	MaxHelloBytes    = 256 << 10
	MaxMessageBytes  = 1 << 20
	StreamWindow     = 256 << 10
	HandshakeTimeout = 10 * time.Second
	KeepAlive        = 20 * time.Second
	WriteTimeout     = 15 * time.Second
)

// Stream kinds: the first line of every stream is a Header naming one.
const (
	// KindControl is the agent's first stream: Hello, Welcome, then
	// control messages both ways for the life of the connection.
	KindControl = "control"
	// KindShell starts a process in a PTY; the stream becomes the
	// session's control channel (resize in, exit out).
	KindShell = "shell"
	// KindExec starts a process without a PTY; same control channel.
	KindExec = "exec"
	// KindData attaches a session's terminal bytes (or stdin/stdout).
	KindData = "data"
	// KindStderr attaches an exec session's standard error.
	KindStderr = "stderr"
	// KindPort is a TCP connection to a port on the agent's localhost.
	KindPort = "port"
	// KindSSH is a connection to the agent's SSH server: after the Reply, the
	// SSH protocol both ways (docs/ssh.md). The gateway relays it as bytes.
	KindSSH = "ssh"
)

// SSHHostKeyHeader carries, on the 101 of a CLI tunnel, the SSH host key the
// workspace's agent announced in its Hello (authorized_keys form): clients
// pin it for the SSH connections they open on that tunnel.
const SSHHostKeyHeader = "WS-SSH-Host-Key"

// Header is the first JSON line of a stream.
type Header struct {
	Kind string `json:"kind"`
	// Session ties a shell/exec control stream to its data (and stderr)
	// streams. The gateway rewrites it so clients cannot reach each
	// other's sessions.
	Session string   `json:"session,omitempty"`
	Command []string `json:"command,omitempty"` // shell, exec: argv; empty = login shell
	Env     []string `json:"env,omitempty"`     // shell, exec: extra KEY=VALUE
	Term    string   `json:"term,omitempty"`    // shell: TERM
	Cols    int      `json:"cols,omitempty"`    // shell: initial size
	Rows    int      `json:"rows,omitempty"`
	Port    int      `json:"port,omitempty"` // port, portconn: target port on localhost
	// Token is a portconn's one-time token, sent back by the agent on its
	// data connection.
	Token string `json:"token,omitempty"`
	// SSH makes a portconn's data connection carry an SSH connection to the
	// agent's server (Port unused).
	SSH bool `json:"ssh,omitempty"`
}

// Reply is the receiver's answer to a Header: OK, or an error message meant
// for the user.
type Reply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Control messages (type field) on control streams.
const (
	MsgResize    = "resize"    // client → agent: cols, rows
	MsgSignal    = "signal"    // client → agent: signal name (INT, TERM, HUP, KILL)
	MsgExit      = "exit"      // agent → client: code
	MsgStatus    = "status"    // agent → gateway: phase, error
	MsgReconnect = "reconnect" // gateway → agent: reconnect (gateway going away)
)

// Control is one control message.
type Control struct {
	Type   string `json:"type"`
	Cols   int    `json:"cols,omitempty"`
	Rows   int    `json:"rows,omitempty"`
	Code   *int   `json:"code,omitempty"`
	Signal string `json:"signal,omitempty"`
	Phase  string `json:"phase,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Hello is the agent's first message on its control stream.
type Hello struct {
	Version   int        `json:"version"`
	Workspace string     `json:"workspace"`
	Agent     string     `json:"agent,omitempty"` // ws version
	Phase     string     `json:"phase,omitempty"` // starting, running, failed
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Caps lists optional features the agent supports (CapPortConn).
	Caps []string `json:"caps,omitempty"`
	// SSHHostKey is the public half of the host key of the agent's SSH
	// server (KindSSH), in authorized_keys form; empty: no SSH server.
	SSHHostKey string `json:"ssh_host_key,omitempty"`
	// WorkingDir is where shells and SSH sessions start (the project's
	// checkout), for editors that open a folder there.
	WorkingDir string `json:"working_dir,omitempty"`
}

// Endpoint is an announced devfile endpoint.
type Endpoint struct {
	Name     string `json:"name"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol,omitempty"`
	Exposure string `json:"exposure,omitempty"`
	Path     string `json:"path,omitempty"`
}

// Welcome is the gateway's answer to a Hello.
type Welcome struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	Workspace string `json:"workspace,omitempty"` // global id, see docs/gateway.md
	URL       string `json:"url,omitempty"`       // the workspace's status URL
}

// ErrTooLarge is returned when a JSON line exceeds its limit.
var ErrTooLarge = errors.New("tunnel: message exceeds size limit")

// LineReader reads newline-delimited JSON messages of bounded size without
// reading past the current line into data that follows it.
type LineReader struct {
	r   *bufio.Reader
	max int
}

// NewLineReader returns a reader whose lines may not exceed max bytes.
// It reads byte-wise through a small buffer so nothing after a line is
// consumed: use Buffered to recover read-ahead bytes.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 512), max: max}
}

// Read decodes the next line into v.
func (l *LineReader) Read(v any) error {
	var line []byte
	for {
		frag, err := l.r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > l.max {
			return ErrTooLarge
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("tunnel: bad message: %w", err)
	}
	return nil
}

// Buffered returns the bytes read ahead of the last line; they belong to
// the stream's payload.
func (l *LineReader) Buffered() []byte {
	n := l.r.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := l.r.Peek(n)
	return append([]byte(nil), b...)
}

// WriteLine writes v as one JSON line.
func WriteLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// handshakeTimeout is HandshakeTimeout; tests shorten it.
var handshakeTimeout = HandshakeTimeout

// ReadHeader reads a stream's Header with a deadline, and returns a conn
// that yields any payload read ahead of it first.
func ReadHeader(c net.Conn) (Header, net.Conn, error) {
	var h Header
	_ = c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	lr := NewLineReader(c, MaxHeaderBytes)
	err := lr.Read(&h)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		return h, c, err
	}
	return h, withPrefix(c, lr.Buffered()), nil
}

// Open opens a stream on s, sends h and waits for the Reply. On success it
// returns the stream ready for payload.
func Open(ctx context.Context, s *yamux.Session, h Header) (net.Conn, error) {
	st, err := s.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	c, err := Request(ctx, st, h)
	if err != nil {
		st.Close()
		return nil, err
	}
	return c, nil
}

// RemoteError is an error reported by the other end in a Reply.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Request sends h on c and reads the Reply.
func Request(ctx context.Context, c net.Conn, h Header) (net.Conn, error) {
	dl := time.Now().Add(HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.SetDeadline(dl)
	if err := WriteLine(c, h); err != nil {
		return nil, fmt.Errorf("send stream header: %w", err)
	}
	var r Reply
	lr := NewLineReader(c, MaxHeaderBytes)
	if err := lr.Read(&r); err != nil {
		return nil, fmt.Errorf("read stream reply: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	if !r.OK {
		if r.Error == "" {
			r.Error = "refused"
		}
		return nil, &RemoteError{r.Error}
	}
	return withPrefix(c, lr.Buffered()), nil
}

// YamuxConfig is the multiplexer configuration both ends use.
func YamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.AcceptBacklog = 64
	cfg.EnableKeepAlive = true
	cfg.KeepAliveInterval = KeepAlive
	cfg.ConnectionWriteTimeout = WriteTimeout
	cfg.MaxStreamWindowSize = StreamWindow
	cfg.StreamOpenTimeout = HandshakeTimeout
	cfg.StreamCloseTimeout = time.Minute
	cfg.LogOutput = io.Discard
	return cfg
}

// NetConn turns an established WebSocket into a net.Conn for yamux, with
// the message size limit applied and yamux's header writes coalesced with
// the body that follows them (one WebSocket message per yamux frame).
func NetConn(ctx context.Context, ws *websocket.Conn) net.Conn {
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	ws.SetReadLimit(MaxMessageBytes)
	return &coalesce{Conn: nc}
}

// Client starts the yamux session of the side that dialed.
func Client(ctx context.Context, ws *websocket.Conn) (*yamux.Session, error) {
	return yamux.Client(NetConn(ctx, ws), YamuxConfig())
}

// Server starts the yamux session of the side that accepted.
func Server(ctx context.Context, ws *websocket.Conn) (*yamux.Session, error) {
	return yamux.Server(NetConn(ctx, ws), YamuxConfig())
}

// Dial opens a tunnel WebSocket to url with header h (credentials) and
// returns the HTTP status on a refused handshake.
func Dial(ctx context.Context, url string, h http.Header, hc *http.Client) (*websocket.Conn, int, error) {
	ws, resp, err := DialResponse(ctx, url, h, hc)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	return ws, 0, nil
}

// DialResponse is Dial that also returns the handshake's HTTP response
// (its headers carry capabilities; its status a refusal).
func DialResponse(ctx context.Context, url string, h http.Header, hc *http.Client) (*websocket.Conn, *http.Response, error) {
	if h == nil {
		h = http.Header{}
	}
	h.Set(VersionHeader, fmt.Sprint(Version))
	dctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	if hc == nil {
		hc = http.DefaultClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := *hc
	c.Transport = upgradeTransport{base: base}
	return websocket.Dial(dctx, url, &websocket.DialOptions{HTTPHeader: h, HTTPClient: &c, CompressionMode: websocket.CompressionDisabled})
}

// Accept upgrades an HTTP request to a tunnel WebSocket.
func Accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	// Tunnel clients are programs with explicit credentials, not browsers;
	// the origin check protects cookie-authenticated endpoints elsewhere.
	return websocket.Accept(&hijacker{w}, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
}

// yamux frame header: version(1) type(1) flags(2) stream(4) length(4).
const yamuxHeaderLen = 12

// coalesce holds a yamux data-frame header and sends it with its body in
// one Write, halving the WebSocket messages. yamux writes header then body
// from a single goroutine, so at most one header is pending.
type coalesce struct {
	net.Conn
	pending []byte
	buf     []byte
}

func (c *coalesce) Write(b []byte) (int, error) {
	if c.pending == nil && len(b) == yamuxHeaderLen && b[1] == 0 /* data */ &&
		(uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11])) > 0 {
		c.pending = append(c.buf[:0], b...)
		return len(b), nil
	}
	if c.pending != nil {
		msg := append(c.pending, b...)
		c.buf = msg[:0]
		if cap(c.buf) > 2*StreamWindow {
			c.buf = nil
		}
		c.pending = nil
		if _, err := c.Conn.Write(msg); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// prefixConn yields prefix before reading from Conn.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func withPrefix(c net.Conn, p []byte) net.Conn {
	if len(p) == 0 {
		return c
	}
	return &prefixConn{Conn: c, prefix: p}
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// CloseWrite half-closes the underlying stream if it supports it.
func (p *prefixConn) CloseWrite() error { return CloseWrite(p.Conn) }

// CloseWrite half-closes c: the peer reads EOF, c can still be read.
// A yamux stream's Close is a half-close; a TCP conn has CloseWrite.
func CloseWrite(c net.Conn) error {
	switch v := c.(type) {
	case interface{ CloseWrite() error }:
		return v.CloseWrite()
	case *yamux.Stream:
		return v.Close()
	default:
		return c.Close()
	}
}
