package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ws-dev/ws/gitlab"
)

// SessionCookie is the browser session cookie set by POST /api/v1/session.
const SessionCookie = "ws_session"

// user is an authenticated user and the credential that proved it.
type user struct {
	ID        int64
	Username  string
	token     string // kept for the maintainers rule; never logged
	viaCookie bool
	viaHeader bool
}

type cachedUser struct {
	id      gitlab.UserIdentity
	expires time.Time
}

type browserSession struct {
	u       user
	expires time.Time
}

// auth verifies user tokens with GitLab, caches answers briefly, keeps
// browser sessions and rate-limits repeated failures per client address.
type auth struct {
	s *Server

	mu       sync.Mutex
	cache    map[string]cachedUser // sha256(token) → identity
	sessions map[string]*browserSession
	access   map[string]time.Time // "project/user" → maintainer rule OK until
	fails    map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

const maxCache = 10000

// maxAccess bounds the maintainers-rule cache ("project/user" entries).
const maxAccess = 10000

func newAuth(s *Server) *auth {
	return &auth{s: s, cache: map[string]cachedUser{}, sessions: map[string]*browserSession{}, access: map[string]time.Time{}, fails: map[string]*failWindow{}}
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
	if time.Since(f.start) > a.s.cfg.AuthFailWindow {
		delete(a.fails, ip)
		return false
	}
	return f.n >= a.s.cfg.AuthFailLimit
}

func (a *auth) fail(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.fails[ip]
	if f == nil || time.Since(f.start) > a.s.cfg.AuthFailWindow {
		if len(a.fails) > maxCache {
			for k, v := range a.fails {
				if time.Since(v.start) > a.s.cfg.AuthFailWindow {
					delete(a.fails, k)
				}
			}
		}
		f = &failWindow{start: time.Now()}
		a.fails[ip] = f
	}
	f.n++
}

var (
	errNoCredentials = errors.New("no credentials")
	errBadToken      = errors.New("token rejected")
)

// credential returns the user token of r (Authorization: Bearer or
// PRIVATE-TOKEN header) or its browser session.
func credential(r *http.Request) (tok, sessionID string) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), ""
		}
	}
	if t := r.Header.Get("PRIVATE-TOKEN"); t != "" {
		return strings.TrimSpace(t), ""
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return "", c.Value
	}
	return "", ""
}

// authenticate returns the user behind r's credential.
func (a *auth) authenticate(ctx context.Context, r *http.Request) (*user, error) {
	tok, sid := credential(r)
	switch {
	case tok != "":
		id, err := a.verify(ctx, tok)
		if err != nil {
			return nil, err
		}
		return &user{ID: id.ID, Username: id.Username, token: tok, viaHeader: true}, nil
	case sid != "":
		a.mu.Lock()
		bs := a.sessions[sid]
		if bs != nil && time.Now().After(bs.expires) {
			delete(a.sessions, sid)
			bs = nil
		}
		a.mu.Unlock()
		if bs == nil {
			return nil, errBadToken
		}
		u := bs.u
		u.viaCookie = true
		return &u, nil
	}
	return nil, errNoCredentials
}

func (a *auth) verify(ctx context.Context, tok string) (*gitlab.UserIdentity, error) {
	key := tokenKey(tok)
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return &c.id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := a.s.cfg.Auth.User(ctx, tok)
	if err != nil {
		if errors.Is(err, gitlab.ErrTokenInvalid) {
			return nil, errBadToken
		}
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCache {
		for k, v := range a.cache {
			if time.Now().After(v.expires) || len(a.cache) >= maxCache {
				delete(a.cache, k)
			}
		}
	}
	a.cache[key] = cachedUser{id: *id, expires: time.Now().Add(a.s.cfg.UserCacheTTL)}
	a.mu.Unlock()
	return id, nil
}

// newSession starts a browser session for u.
func (a *auth) newSession(u *user) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	sid := base64.RawURLEncoding.EncodeToString(b)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sessions) >= maxCache {
		for k, v := range a.sessions {
			if time.Now().After(v.expires) {
				delete(a.sessions, k)
			}
		}
	}
	a.sessions[sid] = &browserSession{u: *u, expires: time.Now().Add(a.s.cfg.SessionTTL)}
	return sid
}

func (a *auth) endSession(sid string) {
	a.mu.Lock()
	delete(a.sessions, sid)
	a.mu.Unlock()
}

// mayAttach reports whether u may use workspace ac: the user who launched
// it, or (with AllowMaintainers) a maintainer or owner of its project.
func (a *auth) mayAttach(ctx context.Context, u *user, ac *agentConn) bool {
	if u.ID == ac.userID {
		return true
	}
	if !a.s.cfg.AllowMaintainers || u.token == "" {
		return false
	}
	key := ac.projectKey() + "/" + itoa(u.ID)
	a.mu.Lock()
	until, ok := a.access[key]
	a.mu.Unlock()
	if ok && time.Now().Before(until) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lvl, err := a.s.cfg.Auth.AccessLevel(ctx, u.token, ac.projectID, u.ID)
	if err != nil || lvl < 40 {
		return false
	}
	a.mu.Lock()
	if len(a.access) >= maxAccess {
		// Bounded: drop expired entries, then arbitrary ones (they are
		// only a cache of GitLab's answer).
		now := time.Now()
		for k, v := range a.access {
			if now.After(v) || len(a.access) >= maxAccess {
				delete(a.access, k)
			}
		}
	}
	a.access[key] = time.Now().Add(a.s.cfg.UserCacheTTL)
	a.mu.Unlock()
	return true
}
