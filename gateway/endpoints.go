package gateway

// Endpoint URLs in a browser, modelled on Coder's subdomain workspace apps: each endpoint
// is its own origin (<port>-<name>--<project-id>.<endpoint-domain>), and its cookie is made
// for that host alone. A browser without one is handed from the endpoint host to the
// gateway's /endpoint-auth, where the web page's session shows who it is and the policy
// whether it may attach; the gateway then sends it back with a one-time code, which the
// endpoint host trades for its cookie. The cookie lives only as long as the web session it
// came from, and reaches only its endpoint.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ws-dev/ws/webui"
)

// codeTTL bounds the hand-off from /endpoint-auth to the endpoint host.
const codeTTL = time.Minute

// endpointGrant is what an endpoint cookie (or a hand-off code) grants: user's access to
// one endpoint, for as long as web session parent lives.
type endpointGrant struct {
	ep       EndpointRef
	parent   string // the web session's ID
	userID   int64
	username string
	path     string // codes: where the browser goes on the endpoint host
	expires  time.Time
}

// endpointAuth holds hand-off codes and endpoint cookies, by key(secret).
type endpointAuth struct {
	mu       sync.Mutex
	codes    map[string]*endpointGrant
	sessions map[string]*endpointGrant
}

func newEndpointAuth() *endpointAuth {
	return &endpointAuth{codes: map[string]*endpointGrant{}, sessions: map[string]*endpointGrant{}}
}

func epKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return string(h[:])
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sweep drops expired codes and cookies; e.mu is held. Called on every insert: the maps
// are small (bounded per web session, which are bounded per user).
func (e *endpointAuth) sweep(now time.Time) {
	for k, g := range e.codes {
		if !now.Before(g.expires) {
			delete(e.codes, k)
		}
	}
	for k, g := range e.sessions {
		if !now.Before(g.expires) {
			delete(e.sessions, k)
		}
	}
}

// add stores g under a new secret in m (codes or sessions), keeping at most max entries
// per web session (the oldest goes).
func (e *endpointAuth) add(m map[string]*endpointGrant, g *endpointGrant, now time.Time, max int) string {
	sec := newSecret()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sweep(now)
	for {
		var oldest string
		n := 0
		for k, o := range m {
			if o.parent != g.parent {
				continue
			}
			n++
			if oldest == "" || o.expires.Before(m[oldest].expires) {
				oldest = k
			}
		}
		if n < max {
			break
		}
		delete(m, oldest)
	}
	m[epKey(sec)] = g
	return sec
}

// takeCode spends a hand-off code.
func (e *endpointAuth) takeCode(code string, now time.Time) *endpointGrant {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.codes[epKey(code)]
	delete(e.codes, epKey(code))
	if g == nil || !now.Before(g.expires) {
		return nil
	}
	return g
}

func (e *endpointAuth) session(k string, now time.Time) *endpointGrant {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.sessions[k]
	if g == nil || !now.Before(g.expires) {
		return nil
	}
	c := *g
	return &c
}

func (e *endpointAuth) has(k string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[k] != nil
}

func (s *Server) secureCookies() bool { return SecureCookies(s.public.Scheme, s.cfg.TLS) }

// endpointCookie is the name of the endpoint cookie: __Host- (host-only, Secure, Path=/,
// enforced by the browser) when cookies are Secure.
func (s *Server) endpointCookie() string {
	if s.secureCookies() {
		return "__Host-ws_endpoint"
	}
	return "ws_endpoint"
}

// endpointHost is the host[:port] of endpoint ep.
func (s *Server) endpointHost(ep EndpointRef) string {
	host := fmt.Sprintf("%d-%s--%s.%s", ep.Port, strings.ToLower(ep.Name), ep.ProjectID, s.cfg.EndpointDomain)
	if p := s.public.Port(); p != "" {
		host += ":" + p
	}
	return host
}

// parseEndpointURL turns an endpoint URL of this gateway into its endpoint and the path
// (with query) it addresses; pathForm says it is a /w/ URL.
func (s *Server) parseEndpointURL(raw string) (ep EndpointRef, p string, pathForm, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != s.public.Scheme || u.User != nil {
		return ep, "", false, false
	}
	p = u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	if ep, ok := s.parseEndpointHost(u.Host); ok {
		return ep, p, false, strings.EqualFold(u.Port(), s.public.Port())
	}
	if s.cfg.PathURLs && strings.EqualFold(u.Host, s.public.Host) {
		if ep, _, ok := parsePathEndpoint(u.Path); ok {
			return ep, p, true, true
		}
	}
	return ep, "", false, false
}

// parsePathEndpoint splits /w/<project>/<name>/<port>/<rest> into the endpoint and rest.
func parsePathEndpoint(p string) (EndpointRef, string, bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/w/"), "/", 4)
	if !strings.HasPrefix(p, "/w/") || len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return EndpointRef{}, "", false
	}
	port, err := strconv.Atoi(parts[2])
	if err != nil || port < 1 || port > 65535 {
		return EndpointRef{}, "", false
	}
	rest := "/"
	if len(parts) == 4 {
		rest += parts[3]
	}
	return EndpointRef{ProjectID: parts[0], Name: parts[1], Port: port}, rest, true
}

// handleEndpointAuth is GET /endpoint-auth?url=<endpoint URL> on the gateway's host: the
// hand-off from an endpoint host that has no cookie yet.
func (s *Server) handleEndpointAuth(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("url")
	ep, p, pathForm, ok := s.parseEndpointURL(target)
	if !ok {
		s.log.Info("endpoint hand-off refused: not an endpoint URL of this gateway", "url", target)
		httpError(w, http.StatusBadRequest, "url: not an endpoint URL of this gateway")
		return
	}
	ws, err := s.web.ui.SessionOf(r)
	switch {
	case errors.Is(err, webui.ErrUnverifiable):
		httpError(w, http.StatusBadGateway, "cannot reach GitLab to check your session")
		return
	case err != nil:
		// Sign in on the web page first; it comes back here ([NextAllowed]).
		http.Redirect(w, r, s.public.Path+"/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	u := &user{ID: ws.User.ID, Username: ws.User.Username, token: s.web.token(ws.User.ID), cred: CredWebSession, session: ws.ID}
	if !Grants(u.cred, RouteEndpointAuth, s.cfg.PathURLs) {
		httpError(w, http.StatusForbidden, "")
		return
	}
	ac := s.workspaceFor(w, r, u, ep.ProjectID, ep.Name)
	if ac == nil {
		return
	}
	if pathForm {
		// The web session itself reaches path-based endpoints (the operator's unsafe choice).
		http.Redirect(w, r, s.public.String()+p, http.StatusSeeOther)
		return
	}
	now := s.clock.Now()
	code := s.eps.add(s.eps.codes, &endpointGrant{ep: ep, parent: ws.ID, userID: u.ID, username: u.Username, path: p,
		expires: now.Add(codeTTL)}, now, maxEndpointSessionsPerSession)
	s.log.Info("endpoint hand-off", "user", u.Username, "workspace", ac.key(), "port", ep.Port)
	http.Redirect(w, r, s.public.Scheme+"://"+s.endpointHost(ep)+EndpointCodePath+"?code="+url.QueryEscape(code), http.StatusSeeOther)
}

// handleEndpointCode is GET /.ws/auth?code=... on an endpoint host: it trades the hand-off
// code for this host's cookie.
func (s *Server) handleEndpointCode(w http.ResponseWriter, r *http.Request, ep EndpointRef) {
	now := s.clock.Now()
	g := s.eps.takeCode(r.URL.Query().Get("code"), now)
	if g == nil || !EndpointCookieGrants(g.ep, ep) {
		s.m.authFailures.WithLabelValues("user", "forbidden").Inc()
		s.log.Info("endpoint code refused: unknown, used, expired or for another endpoint", "host", r.Host)
		httpError(w, http.StatusForbidden, "this sign-in code is not valid here; open the endpoint's URL again")
		return
	}
	if _, err := s.web.ui.Alive(r.Context(), g.parent); err != nil {
		httpError(w, http.StatusForbidden, "your session on the gateway ended; open the endpoint's URL again")
		return
	}
	next := g.path
	g.path = ""
	g.expires = now.Add(s.cfg.SessionTTL)
	sec := s.eps.add(s.eps.sessions, g, now, maxEndpointSessionsPerSession)
	http.SetCookie(w, webui.Cookie(s.endpointCookie(), sec, s.cfg.SessionTTL, http.SameSiteLaxMode, s.secureCookies()))
	s.log.Info("endpoint signed in", "user", g.username, "host", r.Host)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// endpointUser authenticates a request to endpoint host ep: a bearer token, or this host's
// own endpoint cookie (several cookies of the name are tried: one may have been tossed in
// by a sibling host over plain http).
func (s *Server) endpointUser(ctx context.Context, r *http.Request, ep EndpointRef) (*user, error) {
	if tok, _ := bearer(r); tok != "" {
		u, _, err := s.auth.authenticate(r, RouteEndpoint)
		return u, err
	}
	now := s.clock.Now()
	err := errNoCredentials
	for _, c := range r.CookiesNamed(s.endpointCookie()) {
		k := epKey(c.Value)
		g := s.eps.session(k, now)
		if g == nil || !EndpointCookieGrants(g.ep, ep) {
			continue
		}
		wu, e := s.web.ui.Alive(ctx, g.parent)
		if errors.Is(e, webui.ErrUnverifiable) {
			err = errUnverifiable
			continue
		}
		if e != nil || wu.ID != g.userID {
			continue
		}
		return &user{ID: g.userID, Username: g.username, token: s.web.token(g.userID), cred: CredEndpointSession,
			session: g.parent, endpoint: k}, nil
	}
	return nil, err
}

// handleHostEndpoint serves a request to an endpoint host.
func (s *Server) handleHostEndpoint(w http.ResponseWriter, r *http.Request, ep EndpointRef) {
	if r.URL.Path == EndpointCodePath {
		s.handleEndpointCode(w, r, ep)
		return
	}
	ip := clientIP(r)
	if s.rateLimited(w, r, "user") {
		return
	}
	u, err := s.endpointUser(r.Context(), r, ep)
	switch {
	case errors.Is(err, errNoCredentials):
		if browserNavigation(r) {
			self := s.public.Scheme + "://" + r.Host + r.URL.RequestURI()
			http.Redirect(w, r, s.public.String()+EndpointAuthPath+"?url="+url.QueryEscape(self), http.StatusSeeOther)
			return
		}
		s.m.authFailures.WithLabelValues("user", "unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="ws"`)
		httpError(w, http.StatusUnauthorized, "")
		return
	case errors.Is(err, errBadToken):
		s.auth.fail(ip)
		s.m.authFailures.WithLabelValues("user", "unauthorized").Inc()
		httpError(w, http.StatusUnauthorized, "")
		return
	case err != nil:
		httpError(w, http.StatusBadGateway, "cannot reach GitLab to verify the credential")
		return
	}
	if !Grants(u.cred, RouteEndpoint, s.cfg.PathURLs) {
		httpError(w, http.StatusUnauthorized, "")
		return
	}
	if u.cred == CredEndpointSession {
		self := s.public.Scheme + "://" + r.Host
		trusted := SiblingEndpoint(ep, s.public.Scheme, s.parseEndpointHost)
		if ok, why := CookieRequest(fetchOf(r), self, trusted, true); !ok {
			s.refuseCrossSite(w, r, why)
			return
		}
	}
	s.proxyTo(w, r, u, ep, "")
}

// browserNavigation says whether r is a browser opening a page (which can follow a
// redirect to sign in), not a script or a sub-resource.
func browserNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" {
		return m == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
