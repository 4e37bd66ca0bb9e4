package webui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// store keeps sessions, sign-in links and OAuth states in memory, keyed by a hash of their
// secret so a timing side channel on the map lookup tells nothing about the secret itself.
type store struct {
	mu        sync.Mutex
	sessions  map[string]*session // by key(cookie secret)
	byID      map[string]string   // session ID (public) → key
	links     map[string]*link
	oauth     map[string]*oauthState
	failures  map[string]*failures // refused token sign-ins by client address
	lastSweep time.Time
}

// maxFailures is how many refused token sign-ins one client address gets per minute.
const maxFailures = 10

// maxPending bounds what anyone can make the store hold without signing in: OAuth states
// and per-address failure counts.
const maxPending = 10000

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
		if !ok && len(s.failures) >= maxPending {
			s.sweepLocked(now, true)
			if len(s.failures) >= maxPending {
				return // full of live counts: this address goes uncounted for now
			}
		}
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

// credential is what a session was made with; it is checked again every Config.Recheck.
type credential interface {
	// Token returns a GitLab token to check (an OAuth source refreshes it when due).
	Token(ctx context.Context) (string, error)
}

// staticToken is a personal (or project, group) access token: from the sign-in form, or
// the one 'ws open' minted a link with.
type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }

type session struct {
	id       string // public: names the session on the sessions page; not the cookie's secret
	user     User
	csrf     string // form token for POSTs made while signed in
	how      string // link, token, oauth
	from     string // client address at sign-in
	agent    string // the browser's User-Agent at sign-in, shortened
	created  time.Time
	expires  time.Time
	checked  time.Time // the credential was last accepted by GitLab
	lastUsed time.Time
	cred     credential // never logged, never shown
}

type link struct {
	user    User
	token   string // the token the link was minted with: the session checks it again
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
	return &store{sessions: map[string]*session{}, byID: map[string]string{}, links: map[string]*link{},
		oauth: map[string]*oauthState{}, failures: map[string]*failures{}}
}

// sweep drops expired entries, at most once a minute unless forced; s.mu is held.
func (s *store) sweepLocked(now time.Time, force bool) {
	if !force && now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, v := range s.sessions {
		if !now.Before(v.expires) {
			s.dropLocked(k)
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

func (s *store) dropLocked(k string) {
	if v, ok := s.sessions[k]; ok {
		delete(s.byID, v.id)
		delete(s.sessions, k)
	}
}

// dropOldest drops, with drop, the oldest entry of m that is mine when m holds max or more
// of those; it reports whether it dropped one (call it until it does not).
func dropOldest[V any](m map[string]V, max int, mine func(V) bool, older func(a, b V) bool, drop func(k string)) bool {
	var oldest string
	n := 0
	for k, v := range m {
		if !mine(v) {
			continue
		}
		n++
		if oldest == "" || older(v, m[oldest]) {
			oldest = k
		}
	}
	if n < max {
		return false
	}
	drop(oldest)
	return true
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

func (ui *UI) now() time.Time { return ui.cfg.Clock.Now() }

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

// Cookie returns a cookie as every ws cookie is made: host-only (no Domain), Path=/,
// HttpOnly, Secure when secure; maxAge < 0 deletes it. The gateway builds its endpoint
// cookies with it too, so the two never drift apart.
func Cookie(name, value string, maxAge time.Duration, sameSite http.SameSite, secure bool) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure, SameSite: sameSite,
		MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

func (ui *UI) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, sameSite http.SameSite) {
	http.SetCookie(w, Cookie(name, value, maxAge, sameSite, ui.secure))
}

// Errors of [UI.SessionOf] and [UI.Alive].
var (
	// ErrNoSession: not signed in, signed out, expired, or ended because GitLab no longer
	// accepts the credential it was made with.
	ErrNoSession = errors.New("not signed in")
	// ErrUnverifiable: the session is due for a re-check and GitLab could not be asked.
	// The session stays; this request is refused.
	ErrUnverifiable = errors.New("cannot check the session with GitLab now")
)

// live returns the session of key k, checking its credential again when it is due.
func (ui *UI) live(ctx context.Context, k string) (*session, error) {
	now := ui.now()
	st := ui.store
	st.mu.Lock()
	s, ok := st.sessions[k]
	if ok && !now.Before(s.expires) {
		st.dropLocked(k)
		ok = false
	}
	if !ok {
		st.mu.Unlock()
		return nil, ErrNoSession
	}
	s.lastUsed = now
	due := now.Sub(s.checked) >= ui.cfg.Recheck
	st.mu.Unlock()
	if !due {
		return s, nil
	}
	u, err := ui.check(ctx, s.cred)
	switch {
	case errors.Is(err, ErrTokenRejected) || (err == nil && u.ID != s.user.ID):
		ui.log.Info("webui: session ended: GitLab no longer accepts its credential", "user", s.user.Username, "session", s.id)
		st.mu.Lock()
		st.dropLocked(k)
		st.mu.Unlock()
		return nil, ErrNoSession
	case err != nil:
		ui.log.Warn("webui: cannot re-check a session", "user", s.user.Username, "session", s.id, "err", err)
		return nil, ErrUnverifiable
	}
	st.mu.Lock()
	s.checked = now
	st.mu.Unlock()
	return s, nil
}

// check asks the backend about a credential.
func (ui *UI) check(ctx context.Context, c credential) (User, error) {
	tok, err := c.Token(ctx)
	if err != nil {
		return User{}, err
	}
	return ui.b.UserFromToken(ctx, tok)
}

// sessionErr returns the request's live session.
func (ui *UI) sessionErr(r *http.Request) (*session, error) {
	// Several cookies of the name (one tossed in by a sibling host over plain http): try
	// each; a forged one is just not found.
	err := ErrNoSession
	for _, c := range r.CookiesNamed(ui.sessionCookie()) {
		if c.Value == "" {
			continue
		}
		s, e := ui.live(r.Context(), key(c.Value))
		if e == nil {
			return s, nil
		}
		if errors.Is(e, ErrUnverifiable) {
			err = e
		}
	}
	return nil, err
}

// session returns the request's live session, if any.
func (ui *UI) session(r *http.Request) (*session, bool) {
	s, err := ui.sessionErr(r)
	return s, err == nil
}

// Session is a signed-in browser, as [UI.SessionOf] tells the embedding server.
type Session struct {
	ID   string // names the session (sessions page, [UI.Alive]); not its cookie's secret
	User User
}

// SessionOf returns the live session r carries, re-checking its credential with GitLab when
// it is due; errors are [ErrNoSession] and [ErrUnverifiable]. The gateway uses it for what
// a web session grants besides the pages (the terminal API, the endpoint hand-off).
func (ui *UI) SessionOf(r *http.Request) (Session, error) {
	s, err := ui.sessionErr(r)
	if err != nil {
		return Session{}, err
	}
	return Session{ID: s.id, User: s.user}, nil
}

// Alive returns the user of session id while it lives, re-checking it like [UI.SessionOf].
// Endpoint cookies made from a session live only as long as it does.
func (ui *UI) Alive(ctx context.Context, id string) (User, error) {
	ui.store.mu.Lock()
	k, ok := ui.store.byID[id]
	ui.store.mu.Unlock()
	if !ok {
		return User{}, ErrNoSession
	}
	s, err := ui.live(ctx, k)
	if err != nil {
		return User{}, err
	}
	return s.user, nil
}

// SessionInfo describes one of a user's sessions on the sessions page and in the API.
type SessionInfo struct {
	ID       string    `json:"id"`
	How      string    `json:"how"` // link, token, oauth
	From     string    `json:"from"`
	Browser  string    `json:"browser"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	Expires  time.Time `json:"expires"`
	Current  bool      `json:"current,omitempty"`
}

// Sessions lists the live sessions of user userID, newest first.
func (ui *UI) Sessions(userID int64) []SessionInfo {
	now := ui.now()
	ui.store.mu.Lock()
	defer ui.store.mu.Unlock()
	var out []SessionInfo
	for _, s := range ui.store.sessions {
		if s.user.ID == userID && now.Before(s.expires) {
			out = append(out, SessionInfo{ID: s.id, How: s.how, From: s.from, Browser: s.agent, Created: s.created, LastUsed: s.lastUsed, Expires: s.expires})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// EndSession ends user userID's session id (it must be theirs); it reports whether there
// was one.
func (ui *UI) EndSession(userID int64, id string) bool {
	ui.store.mu.Lock()
	defer ui.store.mu.Unlock()
	k, ok := ui.store.byID[id]
	if !ok || ui.store.sessions[k].user.ID != userID {
		return false
	}
	ui.store.dropLocked(k)
	ui.log.Info("webui: session ended by its user", "user_id", userID, "session", id)
	return true
}

// startSession signs the browser in as u with credential c, replacing any session it had.
// A user has at most MaxSessionsPerUser sessions: the oldest ends.
func (ui *UI) startSession(w http.ResponseWriter, r *http.Request, u User, how string, c credential) {
	id := secret()
	now := ui.now()
	st := ui.store
	st.mu.Lock()
	st.sweepLocked(now, false)
	for _, old := range r.CookiesNamed(ui.sessionCookie()) {
		st.dropLocked(key(old.Value))
	}
	for dropOldest(st.sessions, ui.cfg.MaxSessionsPerUser,
		func(s *session) bool { return s.user.ID == u.ID },
		func(a, b *session) bool { return a.created.Before(b.created) }, st.dropLocked) {
		ui.log.Info("webui: session limit reached; the oldest session ended", "user", u.Username, "limit", ui.cfg.MaxSessionsPerUser)
	}
	s := &session{id: secret()[:16], user: u, csrf: secret(), how: how, from: clientIP(r), agent: shortAgent(r.UserAgent()),
		created: now, expires: now.Add(ui.cfg.SessionTTL), checked: now, lastUsed: now, cred: c}
	st.sessions[key(id)] = s
	st.byID[s.id] = key(id)
	st.mu.Unlock()
	// Lax, not Strict: the first request after OAuth or a link opened from another app is a
	// top-level navigation that started elsewhere, and Strict would drop the cookie on it.
	ui.setCookie(w, ui.sessionCookie(), id, ui.cfg.SessionTTL, http.SameSiteLaxMode)
	ui.log.Info("webui: signed in", "user", u.Username, "how", how, "session", s.id)
}

// shortAgent keeps the part of a User-Agent that names the browser, for the sessions page.
func shortAgent(ua string) string {
	for _, b := range []string{"Edg/", "Firefox/", "Chrome/", "Safari/", "curl/"} {
		if i := strings.Index(ua, b); i >= 0 {
			name := strings.TrimSuffix(b, "/")
			if name == "Edg" {
				name = "Edge"
			}
			if strings.Contains(ua, "HeadlessChrome") {
				name = "Headless Chrome"
			}
			return name
		}
	}
	if len(ua) > 40 {
		return ua[:40]
	}
	return ua
}

// requireUser wraps h so it runs only for a signed-in browser; others go to the sign-in page
// (or get 401 for the terminal socket, which cannot follow a redirect).
func (ui *UI) requireUser(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := ui.sessionErr(r)
		switch {
		case errors.Is(err, ErrUnverifiable):
			if strings.HasSuffix(r.URL.Path, "/tty") {
				http.Error(w, "cannot check your session with GitLab now", http.StatusBadGateway)
				return
			}
			ui.render(w, r, http.StatusBadGateway, "message", nil, map[string]any{"Title": "GitLab cannot be reached",
				"Text": "The gateway checks your session with GitLab every minute and cannot reach it now. Try again in a moment."})
			return
		case err != nil:
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

// next returns where a sign-in continues: p when Config.NextAllowed allows it, else "/".
func (ui *UI) next(p string) string {
	if safeNext(p) == p && ui.cfg.NextAllowed(p) {
		return p
	}
	return "/"
}

// ownPage is the default Config.NextAllowed: the UI's own pages.
func ownPage(p string) bool {
	u, err := url.Parse(p)
	if err != nil {
		return false
	}
	return u.Path == "/" || u.Path == "/sessions" || strings.HasPrefix(u.Path, "/terminal/")
}

// MintLink returns a sign-in link for u that leads to path (UI-relative, e.g. "/" or a
// [TerminalPath]). The link works once, within [Config.LinkTTL]. token is the GitLab token
// that asked for the link: the session the link starts checks it again every
// Config.Recheck, so revoking it in GitLab signs the browser out.
func (ui *UI) MintLink(u User, token, path string) (string, error) {
	if safeNext(path) != path {
		return "", errors.New("sign-in link path must start with a single /")
	}
	if token == "" {
		return "", errors.New("a sign-in link needs the token that asked for it")
	}
	tok := secret()
	now := ui.now()
	st := ui.store
	st.mu.Lock()
	st.sweepLocked(now, false)
	// At most MaxSessionsPerUser unused links per user: the oldest goes.
	for dropOldest(st.links, ui.cfg.MaxSessionsPerUser,
		func(l *link) bool { return l.user.ID == u.ID && !l.used },
		func(a, b *link) bool { return a.expires.Before(b.expires) }, func(k string) { delete(st.links, k) }) {
	}
	st.links[key(tok)] = &link{user: u, token: token, path: path, expires: now.Add(ui.cfg.LinkTTL)}
	st.mu.Unlock()
	return strings.TrimSuffix(ui.cfg.PublicURL, "/") + "/signin/link/" + tok, nil
}

func (ui *UI) handleLink(w http.ResponseWriter, r *http.Request) {
	now := ui.now()
	ui.store.mu.Lock()
	l, ok := ui.store.links[key(r.PathValue("token"))]
	var lv link
	if ok {
		lv = *l
		l.used = true
		l.token = "" // spent: the session keeps it
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
		ui.startSession(w, r, lv.user, "link", staticToken(lv.token))
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
	next := ui.next(r.URL.Query().Get("next"))
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
	next := ui.next(r.PostFormValue("next"))
	c, err := r.Cookie(ui.csrfCookie())
	if err != nil || !ui.sameOrigin(r) || !equal(c.Value, r.PostFormValue("csrf")) {
		ui.log.Warn("webui: sign-in form refused: no CSRF token or another origin", "origin", r.Header.Get("Origin"), "ip", clientIP(r))
		ui.signInPage(w, r, http.StatusForbidden, next, "The form expired or came from another site. Try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		ui.signInPage(w, r, http.StatusBadRequest, next, "Enter a GitLab token.")
		return
	}
	ip := clientIP(r)
	if !ui.store.allowAttempt(ip, ui.now()) {
		ui.log.Warn("webui: token sign-in rate-limited", "ip", ip)
		ui.signInPage(w, r, http.StatusTooManyRequests, next, "Too many failed sign-ins from your address. Wait a minute and try again.")
		return
	}
	u, err := ui.b.UserFromToken(r.Context(), token)
	if err != nil {
		ui.store.failedAttempt(ip, ui.now())
		ui.log.Warn("webui: token sign-in refused", "ip", ip, "err", err) // the error, never the token
		ui.signInPage(w, r, http.StatusUnauthorized, next, "GitLab did not accept this token. It needs the read_user or api scope.")
		return
	}
	ui.setCookie(w, ui.csrfCookie(), "", -1, http.SameSiteStrictMode)
	ui.startSession(w, r, u, "token", staticToken(token))
	http.Redirect(w, r, ui.path(next), http.StatusSeeOther)
}

func (ui *UI) handleSignOut(w http.ResponseWriter, r *http.Request) {
	s, ok := ui.session(r)
	if ok && ui.sameOrigin(r) && equal(s.csrf, r.PostFormValue("csrf")) {
		ui.store.mu.Lock()
		ui.store.dropLocked(ui.store.byID[s.id])
		ui.store.mu.Unlock()
		ui.log.Info("webui: signed out", "user", s.user.Username, "session", s.id)
	} else if ok {
		ui.message(w, r, http.StatusForbidden, "Sign-out refused", "The form expired or came from another site. Try again.")
		return
	}
	ui.setCookie(w, ui.sessionCookie(), "", -1, http.SameSiteLaxMode)
	http.Redirect(w, r, ui.path("/signin"), http.StatusSeeOther)
}

// handleSessions lists the user's sessions, each with a button that ends it.
func (ui *UI) handleSessions(w http.ResponseWriter, r *http.Request, s *session) {
	list := ui.Sessions(s.user.ID)
	for i := range list {
		list[i].Current = list[i].ID == s.id
	}
	ui.render(w, r, http.StatusOK, "sessions", s, map[string]any{"Sessions": list, "Now": ui.now()})
}

// handleSessionEnd ends one of the user's sessions ("id"), or all but this one ("others").
func (ui *UI) handleSessionEnd(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !ui.sameOrigin(r) || !equal(s.csrf, r.PostFormValue("csrf")) {
		ui.message(w, r, http.StatusForbidden, "Refused", "The form expired or came from another site. Try again.")
		return
	}
	ended := 0
	for _, other := range ui.Sessions(s.user.ID) {
		if (r.PostFormValue("others") != "" && other.ID != s.id) || other.ID == r.PostFormValue("id") {
			if ui.EndSession(s.user.ID, other.ID) {
				ended++
			}
		}
	}
	ui.log.Info("webui: sessions ended by their user", "user", s.user.Username, "count", ended)
	if r.PostFormValue("id") == s.id {
		http.Redirect(w, r, ui.path("/signin"), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, ui.path("/sessions"), http.StatusSeeOther)
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
