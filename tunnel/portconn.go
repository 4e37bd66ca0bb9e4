package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Port data connections: a port stream carried on its own TCP connection
// (no WebSocket, no yamux), joined at the gateway with splice(2). See
// docs/tunnel.md ("Port data connections").
const (
	// PortProtocol is the Upgrade token of a port data connection.
	PortProtocol = "ws-port/1"
	// AgentPortPath is where an agent dials a port data connection.
	AgentPortPath = "/api/v1/agent/port"
	// PortTokenHeader carries the one-time token of an agent's data connection.
	PortTokenHeader = "WS-Port-Token"
	// PortConnHeader is set to "1" on the 101 of a CLI tunnel when the
	// gateway and the workspace's agent both take port data connections.
	PortConnHeader = "WS-Port-Conn"
	// CapPortConn is the Hello capability of an agent that opens port data
	// connections on request.
	CapPortConn = "portconn"
	// KindPortConn asks the agent to open a port data connection: fields
	// Port and Token; the agent replies once the connection is upgraded.
	// With Header.SSH the data connection carries an SSH connection to the
	// agent's server instead of a port.
	KindPortConn = "portconn"
	// CapSSHConn is the Hello capability of an agent that also serves SSH on
	// data connections (KindPortConn with Header.SSH).
	CapSSHConn = "sshconn"
	// SSHConnHeader is set to "1" on the 101 of a CLI tunnel when the gateway
	// and the workspace's agent both take SSH data connections
	// (GET .../ssh with Upgrade: ws-port/1).
	SSHConnHeader = "WS-SSH-Conn"
)

// ErrNoPortConn is the agent's reply when it cannot dial the gateway a data
// connection; the gateway then answers 501 and the client uses yamux.
const ErrNoPortConn = "agent cannot open port data connections"

// UpgradeError is a refused upgrade: the HTTP status and the body's message.
type UpgradeError struct {
	Status  int
	Message string
}

func (e *UpgradeError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("gateway answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("gateway answered %d", e.Status)
}

// DialUpgrade sends GET rawURL with Upgrade: ws-port/1 over a fresh
// connection and returns that connection once the peer answers 101, with
// any bytes that arrived right behind the 101 (they come first). The
// connection is the dialed *net.TCPConn itself (a *tls.Conn for https), so
// io.Copy between it and another TCP connection splices. hc's transport
// supplies the TLS configuration for https.
func DialUpgrade(ctx context.Context, rawURL string, h http.Header, hc *http.Client) (net.Conn, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	var c net.Conn
	switch u.Scheme {
	case "http":
		c, err = d.DialContext(ctx, "tcp", host)
	case "https":
		var cfg *tls.Config
		if hc != nil {
			if t, ok := hc.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
				cfg = t.TLSClientConfig.Clone()
			}
		}
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = nil // HTTP/1.1: an HTTP/2 stream cannot be upgraded
		c, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", host)
	default:
		return nil, nil, fmt.Errorf("unsupported URL scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", PortProtocol)
	req.Header.Set(VersionHeader, fmt.Sprint(Version))
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 4<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), PortProtocol) {
		var ae struct {
			Message string `json:"message"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = json.Unmarshal(body, &ae)
		resp.Body.Close()
		c.Close()
		return nil, nil, &UpgradeError{Status: resp.StatusCode, Message: ae.Message}
	}
	_ = c.SetDeadline(time.Time{})
	return c, buffered(br), nil
}

// WithPrefix returns c yielding p before what it reads from c.
func WithPrefix(c net.Conn, p []byte) net.Conn { return withPrefix(c, p) }

func buffered(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}

// HijackUpgrade answers r with 101 Switching Protocols (Upgrade:
// ws-port/1) and returns the raw connection and any bytes the client sent
// behind its request. extra headers go on the 101.
func HijackUpgrade(w http.ResponseWriter, extra http.Header) (net.Conn, []byte, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{}) // the server's read-header and write deadlines
	prefix := buffered(brw.Reader)
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + PortProtocol + "\r\n")
	for k, vs := range extra {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	_ = c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if _, err := io.WriteString(c, b.String()); err != nil {
		c.Close()
		return nil, nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, prefix, nil
}

// IsUpgrade says whether r asks for a port data connection.
func IsUpgrade(r *http.Request) bool {
	return r.ProtoMajor == 1 && strings.EqualFold(r.Header.Get("Upgrade"), PortProtocol) &&
		headerHas(r.Header, "Connection", "upgrade")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Splice copies a→b and b→a (after writing aPrefix to b and bPrefix to a),
// half-closing each side when its source ends, then closes both. With
// two *net.TCPConn, io.Copy moves the bytes with splice(2), never through
// user space. It returns the bytes copied each way.
func Splice(a net.Conn, aPrefix []byte, b net.Conn, bPrefix []byte) (ab, ba int64) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ba = splice1(a, b, bPrefix)
	}()
	ab = splice1(b, a, aPrefix)
	<-done
	a.Close()
	b.Close()
	return ab, ba
}

func splice1(dst, src net.Conn, prefix []byte) int64 {
	var n int64
	if len(prefix) > 0 {
		k, err := dst.Write(prefix)
		n += int64(k)
		if err != nil {
			dst.Close()
			src.Close()
			return n
		}
	}
	k, err := io.Copy(dst, src)
	n += k
	if err != nil {
		dst.Close()
		src.Close()
		return n
	}
	_ = CloseWrite(dst)
	return n
}
