package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/tunnel"
)

// Port data connections (docs/tunnel.md): the CLI asks for a port with an
// HTTP/1.1 Upgrade: ws-port/1 request; the gateway asks the agent, over its
// yamux session, to dial back with a one-time token, and splices the two
// TCP connections.

var (
	// portPairTimeout bounds the wait for the agent's data connection.
	portPairTimeout = 10 * time.Second
	// maxPendingPerAgent bounds the data connections awaited per agent.
	maxPendingPerAgent = 32
)

// portPending is a data connection the gateway awaits from an agent.
type portPending struct {
	ac      *agentConn
	expires time.Time

	mu   sync.Mutex
	done bool // the requester gave up: a late connection is closed
	conn chan pairedConn
}

// dataTarget is what a data connection reaches in the workspace: a port on its localhost,
// or (SSH) the agent's SSH server.
type dataTarget struct {
	Port int
	SSH  bool
}

// pairedConn is the agent's data connection; c == nil: a refused one.
type pairedConn struct {
	c      net.Conn
	prefix []byte
}

type portConns struct {
	clock   clockwork.Clock
	prefix  string // "<replica id>.": which replica issued a token (replicas only)
	mu      sync.Mutex
	pending map[string]*portPending // by one-time token
	perAg   map[*agentConn]int      // pending count, only agents with some
	active  map[net.Conn]struct{}   // spliced connections, closed on Shutdown
}

func newPortConns(c clockwork.Clock) *portConns {
	return &portConns{clock: c, pending: map[string]*portPending{}, perAg: map[*agentConn]int{}, active: map[net.Conn]struct{}{}}
}

var errTooManyPending = errors.New("too many data connections pending for this workspace")

func (pc *portConns) add(ac *agentConn) (string, *portPending, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	tok := pc.prefix + hex.EncodeToString(b)
	p := &portPending{ac: ac, expires: pc.clock.Now().Add(portPairTimeout), conn: make(chan pairedConn, 1)}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.perAg[ac] >= maxPendingPerAgent {
		return "", nil, errTooManyPending
	}
	pc.perAg[ac]++
	pc.pending[tok] = p
	return tok, p, nil
}

// take removes and returns the pending entry of tok (single use); nil if
// there is none or it has expired.
func (pc *portConns) take(tok string) *portPending {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	p := pc.pending[tok]
	if p == nil {
		return nil
	}
	delete(pc.pending, tok)
	if pc.perAg[p.ac]--; pc.perAg[p.ac] <= 0 {
		delete(pc.perAg, p.ac)
	}
	if pc.clock.Now().After(p.expires) {
		return nil
	}
	return p
}

func (pc *portConns) track(cs ...net.Conn) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, c := range cs {
		pc.active[c] = struct{}{}
	}
}

func (pc *portConns) untrack(cs ...net.Conn) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, c := range cs {
		delete(pc.active, c)
	}
}

func (pc *portConns) closeAll() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for c := range pc.active {
		c.Close()
	}
}

// deliver hands the agent's data connection to the waiting requester.
func (p *portPending) deliver(c pairedConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return false
	}
	p.conn <- c // buffered: one delivery per token
	return true
}

// abandon marks p given up and closes a connection delivered meanwhile.
func (p *portPending) abandon() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	select {
	case c := <-p.conn:
		if c.c != nil {
			c.c.Close()
		}
	default:
	}
}

func jobTokenHash(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }

// handlePortConn serves GET /api/v1/workspaces/{project}/{name}/port/{port}
// with Upgrade: ws-port/1: authenticated and checked like the tunnel route.
func (s *Server) handlePortConn(w http.ResponseWriter, r *http.Request) {
	if !tunnel.IsUpgrade(r) {
		httpError(w, http.StatusBadRequest, "want Connection: Upgrade, Upgrade: "+tunnel.PortProtocol)
		return
	}
	s.withWorkspace(RouteTunnel, s.servePortConn)(w, r)
}

// handleSSHConn serves GET /api/v1/workspaces/{project}/{name}/ssh with Upgrade: ws-port/1:
// an SSH connection to the agent's server on a data connection of its own, authenticated
// and checked like the tunnel route (an SSH stream grants what a shell grants).
func (s *Server) handleSSHConn(w http.ResponseWriter, r *http.Request) {
	if !tunnel.IsUpgrade(r) {
		httpError(w, http.StatusBadRequest, "want Connection: Upgrade, Upgrade: "+tunnel.PortProtocol)
		return
	}
	s.withWorkspace(RouteTunnel, func(w http.ResponseWriter, r *http.Request, u *user, ac *agentConn) {
		if !ac.sshConns {
			httpError(w, http.StatusNotImplemented, "the workspace's agent does not take SSH data connections")
			return
		}
		s.serveDataConn(w, r, u, ac, dataTarget{SSH: true})
	})(w, r)
}

// servePortConn serves a data connection to the port of the path.
func (s *Server) servePortConn(w http.ResponseWriter, r *http.Request, u *user, ac *agentConn) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		httpError(w, http.StatusBadRequest, "port out of range")
		return
	}
	if !ac.portConns {
		httpError(w, http.StatusNotImplemented, "the workspace's agent does not take port data connections")
		return
	}
	s.serveDataConn(w, r, u, ac, dataTarget{Port: port})
}

// serveDataConn asks ac's agent for a data connection to t and splices it to r's
// connection (through the holder, when another replica holds the agent).
func (s *Server) serveDataConn(w http.ResponseWriter, r *http.Request, u *user, ac *agentConn, t dataTarget) {
	if s.draining.Load() {
		httpError(w, http.StatusServiceUnavailable, "gateway is shutting down")
		return
	}
	release, ok := s.userConn(w, u)
	if !ok {
		return
	}
	defer release()
	if ac.remote != nil {
		s.forwardPortConn(w, r, u, ac, t)
		return
	}
	up, status, msg := s.pairPortConn(r.Context(), ac, t)
	if up.c == nil {
		httpError(w, status, msg)
		return
	}
	c, prefix, err := tunnel.HijackUpgrade(w, nil)
	if err != nil {
		up.c.Close()
		return
	}
	s.splicePort(u, ac, t, c, prefix, up)
}

// pairPortConn asks ac's agent (held here) to dial a data connection for t and waits
// for it; on failure it returns the HTTP status and message to answer.
func (s *Server) pairPortConn(ctx context.Context, ac *agentConn, t dataTarget) (pairedConn, int, string) {
	tok, p, err := s.ports.add(ac)
	if err != nil {
		return pairedConn{}, http.StatusServiceUnavailable, err.Error()
	}
	defer func() {
		s.ports.take(tok) // no-op once the agent used it
		p.abandon()
	}()
	ctx, cancel := context.WithTimeout(ctx, portPairTimeout)
	defer cancel()
	if err := s.askAgentPortConn(ctx, ac, t, tok); err != nil {
		var re *tunnel.RemoteError
		switch {
		case errors.As(err, &re) && re.Msg == tunnel.ErrNoPortConn:
			return pairedConn{}, http.StatusNotImplemented, re.Msg
		case errors.As(err, &re):
			return pairedConn{}, http.StatusBadGateway, re.Msg
		default:
			return pairedConn{}, http.StatusServiceUnavailable, err.Error()
		}
	}
	select {
	case up := <-p.conn:
		if up.c == nil {
			return pairedConn{}, http.StatusBadGateway, "the data connection was refused"
		}
		return up, 0, ""
	case <-ctx.Done():
		return pairedConn{}, http.StatusGatewayTimeout, "the workspace agent did not open a data connection"
	}
}

// splicePort joins a user's connection c (its first bytes prefix) to up, the agent's data
// connection (or, on a front replica, the replica channel to the holder), until both end.
// u's access is re-checked while it lasts (nil: the front replica does that).
func (s *Server) splicePort(u *user, ac *agentConn, t dataTarget, c net.Conn, prefix []byte, up pairedConn) {
	s.ports.track(c, up.c)
	defer s.reg.changes.notify() // after the gauge below went down
	defer s.ports.untrack(c, up.c)
	ac.splices.Add(1)
	defer ac.splices.Add(-1)
	if u != nil {
		defer s.watchAccess(u, ac, func() { c.Close(); up.c.Close() })()
	}
	gauge := s.m.portStreams
	if t.SSH {
		gauge = s.m.sshConns
	}
	gauge.Inc()
	defer gauge.Dec()
	s.m.portConns.Inc()
	toAgent, fromAgent := tunnel.Splice(c, prefix, up.c, up.prefix)
	s.m.toAgent.Add(float64(toAgent))
	s.m.fromAgent.Add(float64(fromAgent))
}

// askAgentPortConn asks ac to dial a data connection for t with tok.
func (s *Server) askAgentPortConn(ctx context.Context, ac *agentConn, t dataTarget, tok string) error {
	st, err := s.agentStream(ac)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := tunnel.Request(ctx, st, tunnel.Header{Kind: tunnel.KindPortConn, Port: t.Port, SSH: t.SSH, Token: tok}); err != nil {
		var re *tunnel.RemoteError
		if errors.As(err, &re) {
			return re
		}
		return errors.New("workspace agent did not answer")
	}
	return nil
}

// handleAgentPort serves an agent's data connection: GET AgentPortPath with
// Upgrade: ws-port/1, the one-time token and the agent's job token.
func (s *Server) handleAgentPort(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if s.rateLimited(w, r, "agent") {
		return
	}
	if !tunnel.IsUpgrade(r) {
		httpError(w, http.StatusBadRequest, "want Connection: Upgrade, Upgrade: "+tunnel.PortProtocol)
		return
	}
	tok, job := r.Header.Get(tunnel.PortTokenHeader), r.Header.Get(tunnel.JobTokenHeader)
	if id, _, ok := strings.Cut(tok, "."); ok && s.rp != nil && id != s.rp.cfg.ID {
		// The load balancer brought the agent here; the replica that asked for the
		// connection holds the token.
		s.forwardAgentPort(w, r, id, tok, job)
		return
	}
	var p *portPending
	if tok != "" {
		p = s.ports.take(tok)
	}
	if p != nil {
		if h := jobTokenHash(job); job == "" || subtle.ConstantTimeCompare(p.ac.jobHash[:], h[:]) != 1 {
			p.deliver(pairedConn{}) // the token is spent: the requester need not wait
			p = nil
		}
	}
	if p == nil {
		s.auth.fail(ip)
		s.m.authFailures.WithLabelValues("agent", "forbidden").Inc()
		httpError(w, http.StatusForbidden, "")
		return
	}
	c, prefix, err := tunnel.HijackUpgrade(w, nil)
	if err != nil {
		return
	}
	if !p.deliver(pairedConn{c: c, prefix: prefix}) {
		c.Close()
	}
}
