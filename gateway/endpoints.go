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
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ws-dev/ws/webui"
)

// codeTTL bounds the hand-off from /endpoint-auth to the endpoint host.
const codeTTL = time.Minute

// endpointGrant is what an endpoint cookie (or a hand-off code) grants: user's access to
// one endpoint, for as long as web session parent lives.
type endpointGrant struct {
	EP       EndpointRef `json:"ep"`
	Parent   string      `json:"parent"` // the web session's ID
	UserID   int64       `json:"user_id"`
	Username string      `json:"username"`
	Path     string      `json:"path,omitempty"` // codes: where the browser goes on the endpoint host
	Expires  time.Time   `json:"expires"`
}

// endpointAuth holds hand-off codes and endpoint cookies in the gateway's kv.Store, by the
// SHA-256 of their secret:
//
//	gw/code/<key>        a hand-off code (single use: Take), for codeTTL
//	gw/ep/<key>          an endpoint cookie's grant, for SessionTTL
//	gw/codes/<session>   gw/eps/<session>: the keys one web session made (at most 64 each)
type endpointAuth struct {
	s *Server
}

func epKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// add stores g under a new secret (kind: "code" or "ep"), keeping at most max per web
// session (the oldest goes), and returns the secret.
func (e *endpointAuth) add(ctx context.Context, kind string, g *endpointGrant, ttl time.Duration, max int) (string, error) {
	st := e.s.store
	list := "gw/" + kind + "s/" + g.Parent
	keys, err := st.List(ctx, list)
	if err != nil {
		return "", err
	}
	var live []string
	for _, k := range keys {
		if _, err := st.Get(ctx, "gw/"+kind+"/"+k); err == nil {
			live = append(live, k)
		} else {
			_ = st.ListRemove(ctx, list, k)
		}
	}
	for ; len(live) >= max; live = live[1:] {
		_ = st.Del(ctx, "gw/"+kind+"/"+live[0])
		_ = st.ListRemove(ctx, list, live[0])
	}
	sec := newSecret()
	b, _ := json.Marshal(g)
	if err := st.Set(ctx, "gw/"+kind+"/"+epKey(sec), b, ttl); err != nil {
		return "", err
	}
	if err := st.ListAdd(ctx, list, epKey(sec), g.Expires.UnixNano(), e.s.cfg.SessionTTL); err != nil {
		return "", err
	}
	return sec, nil
}

// takeCode spends a hand-off code.
func (e *endpointAuth) takeCode(ctx context.Context, code string, now time.Time) *endpointGrant {
	b, err := e.s.store.Take(ctx, "gw/code/"+epKey(code))
	var g endpointGrant
	if err != nil || json.Unmarshal(b, &g) != nil || !now.Before(g.Expires) {
		return nil
	}
	return &g
}

// session returns the grant of endpoint cookie key k.
func (e *endpointAuth) session(ctx context.Context, k string, now time.Time) *endpointGrant {
	b, err := e.s.store.Get(ctx, "gw/ep/"+k)
	var g endpointGrant
	if err != nil || json.Unmarshal(b, &g) != nil || !now.Before(g.Expires) {
		return nil
	}
	return &g
}

func (e *endpointAuth) has(ctx context.Context, k string) bool {
	_, err := e.s.store.Get(ctx, "gw/ep/"+k)
	return err == nil
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
	u := &user{ID: ws.User.ID, Username: ws.User.Username, token: s.token(ws.User.ID), cred: CredWebSession, session: ws.ID}
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
	code, err := s.eps.add(r.Context(), "code", &endpointGrant{EP: ep, Parent: ws.ID, UserID: u.ID, Username: u.Username, Path: p,
		Expires: now.Add(codeTTL)}, codeTTL, maxEndpointSessionsPerSession)
	if err != nil {
		s.log.Error("endpoint hand-off: cannot store the code", "err", err)
		httpError(w, http.StatusServiceUnavailable, "the gateway cannot store the sign-in code now; try again")
		return
	}
	s.log.Info("endpoint hand-off", "user", u.Username, "workspace", ac.key(), "port", ep.Port)
	http.Redirect(w, r, s.public.Scheme+"://"+s.endpointHost(ep)+EndpointCodePath+"?code="+url.QueryEscape(code), http.StatusSeeOther)
}

// handleEndpointCode is GET /.ws/auth?code=... on an endpoint host: it trades the hand-off
// code for this host's cookie.
func (s *Server) handleEndpointCode(w http.ResponseWriter, r *http.Request, ep EndpointRef) {
	now := s.clock.Now()
	g := s.eps.takeCode(r.Context(), r.URL.Query().Get("code"), now)
	if g == nil || !EndpointCookieGrants(g.EP, ep) {
		s.m.authFailures.WithLabelValues("user", "forbidden").Inc()
		s.log.Info("endpoint code refused: unknown, used, expired or for another endpoint", "host", r.Host)
		httpError(w, http.StatusForbidden, "this sign-in code is not valid here; open the endpoint's URL again")
		return
	}
	if _, err := s.web.ui.Alive(r.Context(), g.Parent); err != nil {
		httpError(w, http.StatusForbidden, "your session on the gateway ended; open the endpoint's URL again")
		return
	}
	next := g.Path
	g.Path = ""
	g.Expires = now.Add(s.cfg.SessionTTL)
	sec, err := s.eps.add(r.Context(), "ep", g, s.cfg.SessionTTL, maxEndpointSessionsPerSession)
	if err != nil {
		s.log.Error("endpoint sign-in: cannot store the cookie's grant", "err", err)
		httpError(w, http.StatusServiceUnavailable, "the gateway cannot sign you in now; try again")
		return
	}
	http.SetCookie(w, webui.Cookie(s.endpointCookie(), sec, s.cfg.SessionTTL, http.SameSiteLaxMode, s.secureCookies()))
	s.log.Info("endpoint signed in", "user", g.Username, "host", r.Host)
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
		g := s.eps.session(ctx, k, now)
		if g == nil || !EndpointCookieGrants(g.EP, ep) {
			continue
		}
		wu, e := s.web.ui.Alive(ctx, g.Parent)
		if errors.Is(e, webui.ErrUnverifiable) {
			err = errUnverifiable
			continue
		}
		if e != nil || wu.ID != g.UserID {
			continue
		}
		return &user{ID: g.UserID, Username: g.Username, token: s.token(g.UserID), cred: CredEndpointSession,
			session: g.Parent, endpoint: k}, nil
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
