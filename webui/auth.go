package webui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// store keeps sessions, sign-in links and OAuth states in memory, keyed by a hash of their
// secret so a timing side channel on the map lookup tells nothing about the secret itself.
type store struct {
	mu        sync.Mutex
	sessions  map[string]*session
	links     map[string]*link
	oauth     map[string]*oauthState
	failures  map[string]*failures // refused token sign-ins by client address
	lastSweep time.Time
}

// maxFailures is how many refused token sign-ins one client address gets per minute.
const maxFailures = 10

type failures struct {
	count int
	since time.Time
}

func (s *store) allowAttempt(ip string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failures[ip]
	return !ok || now.Sub(f.since) >= time.Minute || f.count < maxFailures
}

func (s *store) failedAttempt(ip string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failures[ip]
	if !ok || now.Sub(f.since) >= time.Minute {
		f = &failures{since: now}
		s.failures[ip] = f
	}
	f.count++
}

// clientIP is the address the request came from. Behind a proxy every request shares the
// proxy's address, so the limit then applies to all token sign-ins together.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type session struct {
	user    User
	csrf    string // form token for POSTs made while signed in
	expires time.Time
}

type link struct {
	user    User
	path    string
	expires time.Time
	used    bool
}

type oauthState struct {
	verifier string
	next     string
	expires  time.Time
}

func newStore() *store {
	return &store{sessions: map[string]*session{}, links: map[string]*link{}, oauth: map[string]*oauthState{}, failures: map[string]*failures{}}
}

// sweep drops expired entries, at most once a minute; s.mu is held.
func (s *store) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, v := range s.sessions {
		if !now.Before(v.expires) {
			delete(s.sessions, k)
		}
	}
	for k, v := range s.links {
		// A used link is kept until it expires, so reusing it says "already used".
		if !now.Before(v.expires) {
			delete(s.links, k)
		}
	}
	for k, v := range s.oauth {
		if !now.Before(v.expires) {
			delete(s.oauth, k)
		}
	}
	for k, v := range s.failures {
		if now.Sub(v.since) >= time.Minute {
			delete(s.failures, k)
		}
	}
}

// secret returns 32 random bytes, base64url-encoded.
func secret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func key(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return string(h[:])
}

func (ui *UI) sessionCookie() string {
	// __Host- makes the browser refuse the cookie unless it is Secure, host-only and Path=/,
	// so no endpoint on a sibling subdomain can set or see it.
	if ui.secure {
		return "__Host-ws_web_session"
	}
	return "ws_web_session"
}

func (ui *UI) csrfCookie() string {
	if ui.secure {
		return "__Host-ws_web_csrf"
	}
	return "ws_web_csrf"
}

func (ui *UI) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, sameSite http.SameSite) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   ui.secure,
		SameSite: sameSite,
		MaxAge:   int(maxAge.Seconds()),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// session returns the request's live session, if any.
func (ui *UI) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(ui.sessionCookie())
	if err != nil || c.Value == "" {
		return nil, false
	}
	now := ui.cfg.Now()
	ui.store.mu.Lock()
	defer ui.store.mu.Unlock()
	s, ok := ui.store.sessions[key(c.Value)]
	if !ok || !now.Before(s.expires) {
		return nil, false
	}
	return s, true
}

// SignedIn returns the user whose live session r carries, if any. The gateway uses it to
// let a browser that signed in here also reach workspace endpoint URLs.
func (ui *UI) SignedIn(r *http.Request) (User, bool) {
	s, ok := ui.session(r)
	if !ok {
		return User{}, false
	}
	return s.user, true
}

// startSession signs the browser in as u, replacing any session it had.
func (ui *UI) startSession(w http.ResponseWriter, r *http.Request, u User) {
	id := secret()
	now := ui.cfg.Now()
	ui.store.mu.Lock()
	ui.store.sweep(now)
	if c, err := r.Cookie(ui.sessionCookie()); err == nil {
		delete(ui.store.sessions, key(c.Value))
	}
	ui.store.sessions[key(id)] = &session{user: u, csrf: secret(), expires: now.Add(ui.cfg.SessionTTL)}
	ui.store.mu.Unlock()
	// Lax, not Strict: the first request after OAuth or a link opened from another app is a
	// top-level navigation that started elsewhere, and Strict would drop the cookie on it.
	ui.setCookie(w, ui.sessionCookie(), id, ui.cfg.SessionTTL, http.SameSiteLaxMode)
	ui.log.Info("webui: signed in", "user", u.Username)
}

// requireUser wraps h so it runs only for a signed-in browser; others go to the sign-in page
// (or get 401 for the terminal socket, which cannot follow a redirect).
func (ui *UI) requireUser(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := ui.session(r)
		if !ok {
			if strings.HasSuffix(r.URL.Path, "/tty") {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, ui.path("/signin?next="+url.QueryEscape(r.URL.RequestURI())), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// safeNext returns p when it is a path inside this UI, else "/"; it keeps redirects local.
func safeNext(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}

// MintLink returns a sign-in link for u that leads to path (UI-relative, e.g. "/" or a
// [TerminalPath]). The link works once, within [Config.LinkTTL].
func (ui *UI) MintLink(u User, path string) (string, error) {
	if safeNext(path) != path {
		return "", errors.New("sign-in link path must start with a single /")
	}
	tok := secret()
	now := ui.cfg.Now()
	ui.store.mu.Lock()
	ui.store.sweep(now)
	ui.store.links[key(tok)] = &link{user: u, path: path, expires: now.Add(ui.cfg.LinkTTL)}
	ui.store.mu.Unlock()
	return strings.TrimSuffix(ui.cfg.PublicURL, "/") + "/signin/link/" + tok, nil
}

func (ui *UI) handleLink(w http.ResponseWriter, r *http.Request) {
	now := ui.cfg.Now()
	ui.store.mu.Lock()
	l, ok := ui.store.links[key(r.PathValue("token"))]
	var lv link
	if ok {
		lv = *l
		l.used = true
	}
	ui.store.mu.Unlock()
	switch {
	case !ok:
		ui.signInRefused(w, r, http.StatusNotFound, "This sign-in link is not valid",
			"It may have been copied incompletely, or the gateway restarted since it was made.")
	case lv.used:
		ui.log.Warn("webui: sign-in link reused", "user", lv.user.Username)
		ui.signInRefused(w, r, http.StatusGone, "This sign-in link was already used",
			"Each link signs in once. Run ws open again for a new one.")
	case !now.Before(lv.expires):
		ui.signInRefused(w, r, http.StatusGone, "This sign-in link has expired",
			"Links last "+ui.cfg.LinkTTL.String()+". Run ws open again for a new one.")
	default:
		ui.startSession(w, r, lv.user)
		http.Redirect(w, r, ui.path(lv.path), http.StatusSeeOther)
	}
}

func (ui *UI) signInRefused(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	ui.render(w, r, status, "message", nil, map[string]any{
		"Title": title, "Text": text, "SignIn": ui.path("/signin"),
	})
}

// handleSignInPage shows the token form. A signed-out form carries a CSRF token that must
// match a cookie (double submit), so another site cannot sign a browser into its account.
func (ui *UI) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := ui.session(r); ok {
		http.Redirect(w, r, ui.path(next), http.StatusSeeOther)
		return
	}
	ui.signInPage(w, r, http.StatusOK, next, "")
}

func (ui *UI) signInPage(w http.ResponseWriter, r *http.Request, status int, next, problem string) {
	// Reuse the browser's CSRF cookie, so two open sign-in tabs both keep working.
	tok := secret()
	if c, err := r.Cookie(ui.csrfCookie()); err == nil && len(c.Value) == len(tok) {
		tok = c.Value
	}
	ui.setCookie(w, ui.csrfCookie(), tok, time.Hour, http.SameSiteStrictMode)
	data := map[string]any{"Next": next, "FormCSRF": tok, "Problem": problem, "Action": ui.path("/signin")}
	if ui.cfg.OAuth != nil {
		data["OAuth"] = ui.path("/signin/oauth?next=" + url.QueryEscape(next))
	}
	ui.render(w, r, status, "signin", nil, data)
}

// sameOrigin reports whether a request's Origin header, when present, is this UI's.
func (ui *UI) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == ui.origin
}

func (ui *UI) handleSignInToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	next := safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(ui.csrfCookie())
	if err != nil || !ui.sameOrigin(r) || !equal(c.Value, r.PostFormValue("csrf")) {
		ui.signInPage(w, r, http.StatusForbidden, next, "The form expired or came from another site. Try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		ui.signInPage(w, r, http.StatusBadRequest, next, "Enter a GitLab token.")
		return
	}
	ip := clientIP(r)
	if !ui.store.allowAttempt(ip, ui.cfg.Now()) {
		ui.log.Warn("webui: token sign-in rate-limited", "ip", ip)
		ui.signInPage(w, r, http.StatusTooManyRequests, next, "Too many failed sign-ins from your address. Wait a minute and try again.")
		return
	}
	u, err := ui.b.UserFromToken(r.Context(), token)
	if err != nil {
		ui.store.failedAttempt(ip, ui.cfg.Now())
		ui.log.Warn("webui: token sign-in refused", "ip", ip, "err", err) // the error, never the token
		ui.signInPage(w, r, http.StatusUnauthorized, next, "GitLab did not accept this token. It needs the read_user or api scope.")
		return
	}
	ui.setCookie(w, ui.csrfCookie(), "", -1, http.SameSiteStrictMode)
	ui.startSession(w, r, u)
	http.Redirect(w, r, ui.path(next), http.StatusSeeOther)
}

func (ui *UI) handleSignOut(w http.ResponseWriter, r *http.Request) {
	s, ok := ui.session(r)
	if ok && ui.sameOrigin(r) && equal(s.csrf, r.PostFormValue("csrf")) {
		c, _ := r.Cookie(ui.sessionCookie())
		ui.store.mu.Lock()
		delete(ui.store.sessions, key(c.Value))
		ui.store.mu.Unlock()
		ui.log.Info("webui: signed out", "user", s.user.Username)
	} else if ok {
		ui.message(w, r, http.StatusForbidden, "Sign-out refused", "The form expired or came from another site. Try again.")
		return
	}
	ui.setCookie(w, ui.sessionCookie(), "", -1, http.SameSiteLaxMode)
	http.Redirect(w, r, ui.path("/signin"), http.StatusSeeOther)
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
