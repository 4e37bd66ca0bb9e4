package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ws-dev/ws/tunnel"
	"github.com/ws-dev/ws/webui"
)

// proxy forwards HTTP and WebSocket requests to workspace ports through
// the tunnel. Its transport dials "a<conn-id>:<port>", so pooled
// connections never outlive the agent connection they belong to.
type proxy struct {
	s  *Server
	tr *http.Transport
}

func newProxy(s *Server) *proxy {
	p := &proxy{s: s}
	p.tr = &http.Transport{
		DialContext:           p.dial,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		ForceAttemptHTTP2:     false,
	}
	return p
}

// proxyTarget carries, in a proxied request's context, the workspace it goes to: a
// workspace another replica holds has no local connection to find by ID.
type proxyTarget struct{}

// tunnelHost is the host the proxy's transport dials for ac: "a<conn-id>" for an agent
// held here, "a<conn-id>.<replica>" for one held by another replica, so pooled
// connections never mix agents or replicas.
func tunnelHost(ac *agentConn) string {
	if ac.remote != nil {
		return fmt.Sprintf("a%d.%s", ac.id, ac.remote.Replica)
	}
	return fmt.Sprintf("a%d", ac.id)
}

func (p *proxy) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portS)
	ac, _ := ctx.Value(proxyTarget{}).(*agentConn)
	if ac == nil || tunnelHost(ac) != host {
		id, err := strconv.ParseUint(strings.TrimPrefix(host, "a"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad tunnel address %q", addr)
		}
		if ac = p.s.reg.byConnID(id); ac == nil {
			return nil, errors.New("the workspace agent disconnected")
		}
	}
	if ac.portConns && !ac.noDialBack.Load() {
		c, err := p.dialData(ctx, ac, port)
		if !errors.Is(err, errNoDataConn) {
			return c, err
		}
		ac.noDialBack.Store(true) // the agent cannot reach the gateway: don't ask again
	}
	c, err := p.s.openToAgent(ac, tunnel.Header{Kind: tunnel.KindPort, Port: port})
	if err != nil {
		return nil, err
	}
	p.s.m.portStreams.Inc()
	return &gaugedConn{Conn: c, done: p.s.m.portStreams.Dec}, nil
}

// errNoDataConn: the agent could not dial a data connection back to the gateway.
var errNoDataConn = errors.New("no data connection")

// dialData opens a connection to port on a data connection the agent dials back, as
// 'ws port-forward' does: the bytes of an endpoint URL then skip the tunnel's yamux framing
// at both ends (docs/benchmarks.md). For a workspace another replica holds, the holder
// pairs it and this replica relays it over the replica channel. errNoDataConn when the
// agent cannot dial back (the caller falls back to a tunnel stream).
func (p *proxy) dialData(ctx context.Context, ac *agentConn, port int) (net.Conn, error) {
	s := p.s
	if s.draining.Load() {
		return nil, errors.New("gateway is shutting down")
	}
	var (
		c    net.Conn
		done func()
	)
	if ac.remote != nil {
		ctx, cancel := context.WithTimeout(ctx, portPairTimeout+tunnel.HandshakeTimeout)
		rc, rest, rep, err := s.rp.dial(ctx, ac.remote.Addr, replicaOp{Op: "portconn", Workspace: ac.key(), Conn: ac.id, Port: port})
		cancel()
		switch {
		case err != nil:
			return nil, err
		case !rep.OK:
			rc.Close()
			return nil, pairError(rep.Status, rep.Error)
		}
		s.m.forwarded.WithLabelValues("out").Inc()
		s.m.forwardedActive.Inc()
		c, done = tunnel.WithPrefix(rc, rest), s.m.forwardedActive.Dec
	} else {
		up, status, msg := s.pairPortConn(ctx, ac, dataTarget{Port: port})
		if up.c == nil {
			return nil, pairError(status, msg)
		}
		s.ports.track(up.c)
		ac.splices.Add(1)
		s.m.portConns.Inc()
		c = &countConn{Conn: tunnel.WithPrefix(up.c, up.prefix), m: s.m}
		done = func() {
			s.ports.untrack(up.c)
			ac.splices.Add(-1)
			s.reg.changes.notify()
		}
	}
	s.m.portStreams.Inc()
	return &gaugedConn{Conn: c, done: func() { s.m.portStreams.Dec(); done() }}, nil
}

// pairError is the error of a data connection pairPortConn (or the holder) could not make.
func pairError(status int, msg string) error {
	switch status {
	case http.StatusNotImplemented:
		return errNoDataConn
	case http.StatusServiceUnavailable:
		if msg == errTooManyPending.Error() {
			return errAgentBusy
		}
		return errors.New(msg)
	}
	return &tunnel.RemoteError{Msg: msg}
}

type gaugedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *gaugedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// CloseWrite half-closes the connection (a relay passes on the end of one direction).
func (c *gaugedConn) CloseWrite() error { return tunnel.CloseWrite(c.Conn) }

// endpoint host label: <port>-<name>--<project-id>
var hostLabel = regexp.MustCompile(`^([0-9]{1,5})-([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)--([0-9]+)$`)

// hostLabelOK reports whether a workspace name fits the host-based URL form
// (a DNS label: lowercase letters, digits and inner hyphens).
func hostLabelOK(name string) bool {
	return hostLabel.MatchString("1-" + name + "--1")
}

// parseEndpointHost returns the endpoint a host name addresses, if it is one of ours.
func (s *Server) parseEndpointHost(hostport string) (EndpointRef, bool) {
	host := strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, found := strings.CutSuffix(host, "."+s.cfg.EndpointDomain)
	if !found || strings.Contains(label, ".") {
		return EndpointRef{}, false
	}
	m := hostLabel.FindStringSubmatch(label)
	if m == nil {
		return EndpointRef{}, false
	}
	port, _ := strconv.Atoi(m[1])
	return EndpointRef{ProjectID: m[3], Name: m[2], Port: port}, true
}

// handlePathProxy serves /w/<project-id>/<name>/<port>/...: path-based endpoint URLs on the
// gateway's own host, only when the operator turned them on (--path-urls).
func (s *Server) handlePathProxy(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.PathURLs {
		s.log.Info("path-based endpoint URL refused: they are off", "path", r.URL.Path)
		httpError(w, http.StatusNotFound, "path-based endpoint URLs are off on this gateway; use the endpoint's own host name (ws open NAME ENDPOINT prints it)")
		return
	}
	ep, _, ok := parsePathEndpoint(r.URL.Path)
	if !ok {
		httpError(w, http.StatusNotFound, "want /w/<project-id>/<name>/<port>/")
		return
	}
	prefix := fmt.Sprintf("/w/%s/%s/%d", ep.ProjectID, ep.Name, ep.Port)
	if r.URL.Path == prefix {
		http.Redirect(w, r, r.URL.EscapedPath()+"/", http.StatusMovedPermanently)
		return
	}
	if tok, _ := bearer(r); tok == "" && browserNavigation(r) {
		if _, err := s.web.ui.SessionOf(r); errors.Is(err, webui.ErrNoSession) {
			http.Redirect(w, r, s.public.String()+EndpointAuthPath+"?url="+url.QueryEscape(s.public.String()+r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
	}
	u := s.userFor(w, r, RouteEndpoint)
	if u == nil {
		return
	}
	s.proxyTo(w, r, u, ep, prefix)
}

// proxyTo forwards r to endpoint ep for u (already authenticated); prefix is stripped from
// path-based URLs.
func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, u *user, ep EndpointRef, prefix string) {
	if ep.Port < 1 || ep.Port > 65535 {
		httpError(w, http.StatusNotFound, "")
		return
	}
	ac := s.workspaceFor(w, r, u, ep.ProjectID, ep.Name)
	if ac == nil {
		return
	}
	port := ep.Port
	// A proxied WebSocket stays open as long as the request: end it when access ends.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer s.watchAccess(u, ac, cancel)()
	r = r.WithContext(context.WithValue(ctx, proxyTarget{}, ac))
	rp := &httputil.ReverseProxy{
		Transport: s.proxy.tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = fmt.Sprintf("%s:%d", tunnelHost(ac), port)
			pr.Out.Host = fmt.Sprintf("localhost:%d", port)
			if prefix != "" {
				pr.Out.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(pr.In.URL.Path, prefix), "/")
				pr.Out.URL.RawPath = ""
				pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
			}
			s.stripCredentials(pr.Out, u)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			msg := fmt.Sprintf("workspace port %d is not reachable", port)
			var re *tunnel.RemoteError
			if errors.As(err, &re) {
				msg += ": " + re.Msg
			} else if errors.Is(err, errAgentBusy) {
				msg += ": " + err.Error()
			}
			httpError(w, http.StatusBadGateway, msg)
		},
		FlushInterval: -1,
	}
	rp.ServeHTTP(w, r)
}

// stripCredentials removes the gateway's credentials from a proxied request, so the
// workspace's application never sees the user's GitLab token or a ws cookie.
func (s *Server) stripCredentials(out *http.Request, u *user) {
	out.Header.Del("PRIVATE-TOKEN")
	if u.cred == CredBearer {
		out.Header.Del("Authorization")
	}
	cookies := out.Cookies()
	out.Header.Del("Cookie")
	for _, c := range cookies {
		// ws_endpoint (__Host-ws_endpoint with TLS) on endpoint hosts; the web page's
		// ws_web_* (__Host-ws_web_*) on path-based URLs.
		n := strings.TrimPrefix(c.Name, "__Host-")
		if n != "ws_endpoint" && !strings.HasPrefix(n, "ws_web_") {
			out.AddCookie(c)
		}
	}
}

// handleSessionGone answers the old POST/DELETE /api/v1/session: a form any site could
// post, which set a cookie for every endpoint host. Browsers sign in on the web page;
// scripts send their token.
func (s *Server) handleSessionGone(w http.ResponseWriter, r *http.Request) {
	s.log.Info("removed route called", "method", r.Method, "path", r.URL.Path, "remote", clientIP(r))
	httpError(w, http.StatusGone, "this route was removed: send your GitLab token as Authorization: Bearer (also to endpoint URLs), or sign in on the web page")
}

// handleSessionList is GET /api/v1/sessions: the caller's browser sessions (bearer token).
func (s *Server) handleSessionList(w http.ResponseWriter, r *http.Request) {
	u := s.userFor(w, r, RouteStatus)
	if u == nil {
		return
	}
	list := s.web.ui.Sessions(u.ID)
	if list == nil {
		list = []webui.SessionInfo{}
	}
	writeJSON(w, http.StatusOK, struct {
		User     string              `json:"user"`
		Sessions []webui.SessionInfo `json:"sessions"`
	}{u.Username, list})
}

// handleSessionEnd is DELETE /api/v1/sessions/{id}: end one of the caller's browser
// sessions, and with it the endpoint cookies it made.
func (s *Server) handleSessionEnd(w http.ResponseWriter, r *http.Request) {
	u := s.userFor(w, r, RouteStatus)
	if u == nil {
		return
	}
	if !s.web.ui.EndSession(u.ID, r.PathValue("id")) {
		httpError(w, http.StatusNotFound, "you have no session with this id")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
