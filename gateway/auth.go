package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// auth verifies user tokens with GitLab, caches answers briefly and rate-limits repeated
// failures per client address. Its state is in the gateway's kv.Store (shared by
// replicas):
//
//	gw/user/<sha256(token)>        a verified user token's identity, for UserCacheTTL
//	gw/access/<project>/<user>     the maintainers rule let user in, for UserCacheTTL
//	gw/fail/<address>              failures in the current AuthFailWindow
type auth struct {
	s *Server
}

func newAuth(s *Server) *auth { return &auth{s: s} }

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

// limited reports whether ip has failed too often recently. A store out of reach limits
// no one (GitLab still checks every credential).
func (a *auth) limited(ip string) bool {
	n, err := a.s.store.Count(context.Background(), "gw/fail/"+ip)
	return err == nil && n >= int64(a.s.cfg.AuthFailLimit)
}

func (a *auth) fail(ip string) {
	_, _ = a.s.store.Incr(context.Background(), "gw/fail/"+ip, a.s.cfg.AuthFailWindow)
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
	return &user{ID: ws.User.ID, Username: ws.User.Username, token: a.s.token(ws.User.ID), cred: CredWebSession, session: ws.ID},
		CredWebSession, nil
}

// verify returns the owner of user token tok: from the cache (UserCacheTTL since GitLab
// last said so, on any replica), else from GitLab. Only accepted tokens are cached, under
// the token's SHA-256, never the token.
func (a *auth) verify(ctx context.Context, tok string) (*identity.User, error) {
	key := "gw/user/" + tokenKey(tok)
	if b, err := a.s.store.Get(ctx, key); err == nil {
		var id identity.User
		if json.Unmarshal(b, &id) == nil {
			return &id, nil
		}
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
	b, _ := json.Marshal(id)
	_ = a.s.store.Set(ctx, key, b, a.s.cfg.UserCacheTTL)
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
	key := "gw/access/" + ac.projectKey() + "/" + itoa(u.ID)
	if _, err := a.s.store.Get(ctx, key); err == nil {
		return MaintainerLevel
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lvl, err := a.s.cfg.Auth.AccessLevel(ctx, u.token, ac.projectID, u.ID)
	if err != nil || lvl < MaintainerLevel {
		return 0
	}
	_ = a.s.store.Set(ctx, key, []byte("1"), a.s.cfg.UserCacheTTL)
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
		if !a.s.eps.has(ctx, u.endpoint) {
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
