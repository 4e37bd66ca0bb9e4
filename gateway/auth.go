package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/internal/identity"
	"github.com/ws-dev/ws/webui"
)

// user is an authenticated user and the credential that proved it.
type user struct {
	ID       int64
	Username string
	token    string // the GitLab token, for the maintainers rule and re-checks; never logged
	cred     Credential
	session  string // the web session (CredWebSession, CredEndpointSession)
	endpoint string // key(cookie secret) of the endpoint cookie (CredEndpointSession)
}

type cachedUser struct {
	id      identity.User
	expires time.Time
}

// auth verifies user tokens with GitLab, caches answers briefly, keeps
// browser sessions and rate-limits repeated failures per client address.
type auth struct {
	s *Server

	mu     sync.Mutex
	cache  map[string]cachedUser // sha256(token) → identity
	access map[string]time.Time  // "project/user" → maintainer rule OK until
	fails  map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

const maxCache = 10000

// maxAccess bounds the maintainers-rule cache ("project/user" entries).
const maxAccess = 10000

func newAuth(s *Server) *auth {
	return &auth{s: s, cache: map[string]cachedUser{}, access: map[string]time.Time{}, fails: map[string]*failWindow{}}
}

func tokenKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited reports whether ip has failed too often recently.
func (a *auth) limited(ip string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.fails[ip]
	if f == nil {
		return false
	}
	if a.s.clock.Since(f.start) > a.s.cfg.AuthFailWindow {
		delete(a.fails, ip)
		return false
	}
	return f.n >= a.s.cfg.AuthFailLimit
}

func (a *auth) fail(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.fails[ip]
	if f == nil || a.s.clock.Since(f.start) > a.s.cfg.AuthFailWindow {
		if len(a.fails) > maxCache {
			for k, v := range a.fails {
				if a.s.clock.Since(v.start) > a.s.cfg.AuthFailWindow {
					delete(a.fails, k)
				}
			}
		}
		f = &failWindow{start: a.s.clock.Now()}
		a.fails[ip] = f
	}
	f.n++
}

var (
	errNoCredentials = errors.New("no credentials")
	errBadToken      = errors.New("token rejected")
	errUnverifiable  = errors.New("cannot check the session with GitLab now")
)

// bearer returns the user token of r: Authorization: Bearer or PRIVATE-TOKEN.
func bearer(r *http.Request) (tok string, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), true
		}
	}
	if t := r.Header.Get("PRIVATE-TOKEN"); t != "" {
		return strings.TrimSpace(t), true
	}
	return "", false
}

// authenticate returns the user behind r's credential for route: a bearer token, else
// the cookie the route takes (the web session on the gateway's host; endpoint cookies are
// endpoints.go's). Whether the credential grants route is the caller's question
// ([Grants]).
func (a *auth) authenticate(r *http.Request, route Route) (*user, Credential, error) {
	if tok, ok := bearer(r); ok && tok != "" {
		id, err := a.verify(r.Context(), tok)
		if err != nil {
			return nil, CredNone, err
		}
		return &user{ID: id.ID, Username: id.Username, token: tok, cred: CredBearer}, CredBearer, nil
	}
	if !Grants(CredWebSession, route, a.s.cfg.PathURLs) {
		return nil, CredNone, errNoCredentials
	}
	ws, err := a.s.web.ui.SessionOf(r)
	switch {
	case errors.Is(err, webui.ErrUnverifiable):
		return nil, CredNone, errUnverifiable
	case err != nil:
		return nil, CredNone, errNoCredentials
	}
	return &user{ID: ws.User.ID, Username: ws.User.Username, token: a.s.web.token(ws.User.ID), cred: CredWebSession, session: ws.ID},
		CredWebSession, nil
}

func (a *auth) verify(ctx context.Context, tok string) (*identity.User, error) {
	key := tokenKey(tok)
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && a.s.clock.Now().Before(c.expires) {
		return &c.id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := a.s.cfg.Auth.User(ctx, tok)
	if err != nil {
		if errors.Is(err, identity.ErrTokenInvalid) {
			return nil, errBadToken
		}
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCache {
		for k, v := range a.cache {
			if a.s.clock.Now().After(v.expires) || len(a.cache) >= maxCache {
				delete(a.cache, k)
			}
		}
	}
	a.cache[key] = cachedUser{id: *id, expires: a.s.clock.Now().Add(a.s.cfg.UserCacheTTL)}
	a.mu.Unlock()
	return id, nil
}

// mayAttach reports whether u may use workspace ac ([MayAttach]); it asks GitLab for u's
// access level only when the answer depends on it.
func (a *auth) mayAttach(ctx context.Context, u *user, ac *agentConn) bool {
	f := Attach{UserID: u.ID, OwnerID: ac.userID, Maintainers: a.s.cfg.AllowMaintainers}
	if NeedsAccessLevel(u.ID, ac.userID, a.s.cfg.AllowMaintainers) && u.token != "" {
		f.AccessLevel = a.accessLevel(ctx, u, ac)
	}
	return MayAttach(f)
}

// accessLevel is u's access level in ac's project, from GitLab, cached UserCacheTTL (only
// levels that let u in are cached: a maintainer removed in GitLab is refused after it).
func (a *auth) accessLevel(ctx context.Context, u *user, ac *agentConn) int {
	key := ac.projectKey() + "/" + itoa(u.ID)
	now := a.s.clock.Now()
	a.mu.Lock()
	until, ok := a.access[key]
	a.mu.Unlock()
	if ok && now.Before(until) {
		return MaintainerLevel
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lvl, err := a.s.cfg.Auth.AccessLevel(ctx, u.token, ac.projectID, u.ID)
	if err != nil || lvl < MaintainerLevel {
		return 0
	}
	a.mu.Lock()
	if len(a.access) >= maxAccess {
		// Bounded: drop expired entries, then arbitrary ones (they are
		// only a cache of GitLab's answer).
		for k, v := range a.access {
			if now.After(v) || len(a.access) >= maxAccess {
				delete(a.access, k)
			}
		}
	}
	a.access[key] = now.Add(a.s.cfg.UserCacheTTL)
	a.mu.Unlock()
	return lvl
}

// stillAllowed checks u's credential and right to ac again, as a new request would: the
// bearer token with GitLab (through the cache), the web session (re-checked by the web
// page), the endpoint cookie and its web session. Only a refusal counts; GitLab out of
// reach keeps the connection.
func (a *auth) stillAllowed(ctx context.Context, u *user, ac *agentConn) bool {
	var err error
	switch u.cred {
	case CredBearer:
		_, err = a.verify(ctx, u.token)
		if err != nil && !errors.Is(err, errBadToken) {
			return true
		}
	case CredWebSession:
		_, err = a.s.web.ui.Alive(ctx, u.session)
		if errors.Is(err, webui.ErrUnverifiable) {
			return true
		}
	case CredEndpointSession:
		if !a.s.eps.has(u.endpoint) {
			return false
		}
		_, err = a.s.web.ui.Alive(ctx, u.session)
		if errors.Is(err, webui.ErrUnverifiable) {
			return true
		}
	}
	return err == nil && a.mayAttach(ctx, u, ac)
}

// watchAccess re-checks u's access to ac every UserCacheTTL while a connection (a tunnel, a
// terminal, a proxied WebSocket) stays open, and calls end when it is gone: a token revoked
// in GitLab, a session ended, closes what it opened within that time. The returned
// function stops the checks.
func (s *Server) watchAccess(u *user, ac *agentConn, end func()) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t clockwork.Timer
	check := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ok := s.auth.stillAllowed(ctx, u, ac)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if !ok {
			s.log.Info("access ended: credential no longer accepted", "user", u.Username, "workspace", ac.key(), "via", u.cred.String())
			stopped = true
			end()
			return
		}
		t.Reset(s.cfg.UserCacheTTL)
	}
	mu.Lock()
	t = s.clock.AfterFunc(s.cfg.UserCacheTTL, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}
