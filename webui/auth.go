package webui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ws-dev/ws/internal/kv"
)

// maxFailures is how many refused token sign-ins one client address gets per minute.
const maxFailures = 10

// maxPending bounds the GitLab sign-ins started (OAuth states) in one OAuth TTL: what anyone
// can make the store hold without signing in.
const maxPending = 10000

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

// secret returns 32 random bytes, base64url-encoded.
func secret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// key is the store key of a secret: its SHA-256, in hex.
func key(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
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
	s, err := ui.getSession(ctx, k)
	if err != nil {
		return nil, err
	}
	if now.Sub(s.rec.LastUsed) >= time.Minute { // coarse: one write a minute per session
		s.rec.LastUsed = now
		defer ui.updateSession(ctx, s)
	}
	if now.Sub(s.rec.Checked) < ui.cfg.Recheck {
		return s, nil
	}
	c := ui.credential(s)
	u, err := ui.check(ctx, c)
	switch {
	case errors.Is(err, ErrTokenRejected) || (err == nil && u.ID != s.rec.User.ID):
		ui.log.Info("webui: session ended: GitLab no longer accepts its credential", "user", s.rec.User.Username, "session", s.rec.ID)
		ui.dropSession(ctx, k)
		return nil, ErrNoSession
	case err != nil:
		ui.log.Warn("webui: cannot re-check a session", "user", s.rec.User.Username, "session", s.rec.ID, "err", err)
		return nil, ErrUnverifiable
	}
	s.rec.Checked = now
	if oc, ok := c.(*oauthCredential); ok {
		s.rec.OAuth = oc.tok // refreshed, perhaps
	}
	if now.Sub(s.rec.LastUsed) < time.Minute {
		s.rec.LastUsed = now
	}
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
	return Session{ID: s.rec.ID, User: s.rec.User}, nil
}

// Alive returns the user of session id while it lives, re-checking it like [UI.SessionOf].
// Endpoint cookies made from a session live only as long as it does.
func (ui *UI) Alive(ctx context.Context, id string) (User, error) {
	k, err := ui.kv.Get(ctx, sidKey(id))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return User{}, ErrNoSession
	case err != nil:
		return User{}, ErrUnverifiable
	}
	s, err := ui.live(ctx, string(k))
	if err != nil {
		return User{}, err
	}
	return s.rec.User, nil
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
	var out []SessionInfo
	for _, s := range ui.sessionsOf(context.Background(), userID) {
		r := s.rec
		out = append(out, SessionInfo{ID: r.ID, How: r.How, From: r.From, Browser: r.Agent, Created: r.Created, LastUsed: r.LastUsed, Expires: r.Expires})
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
	ctx := context.Background()
	k, err := ui.kv.Get(ctx, sidKey(id))
	if err != nil {
		return false
	}
	s, err := ui.getSession(ctx, string(k))
	if err != nil || s.rec.User.ID != userID {
		return false
	}
	ui.dropSession(ctx, s.k)
	ui.log.Info("webui: session ended by its user", "user_id", userID, "session", id)
	return true
}

// startSession signs the browser in as u with credential c (a static token or OAuth's
// tokens), replacing any session it had. A user has at most MaxSessionsPerUser sessions:
// the oldest ends.
func (ui *UI) startSession(w http.ResponseWriter, r *http.Request, u User, how string, token string, oauth *oauth2.Token) bool {
	ctx := r.Context()
	id := secret()
	now := ui.now()
	for _, old := range r.CookiesNamed(ui.sessionCookie()) {
		ui.dropSession(ctx, key(old.Value))
	}
	mine := ui.sessionsOf(ctx, u.ID)
	for len(mine) >= ui.cfg.MaxSessionsPerUser {
		ui.dropSession(ctx, mine[0].k)
		mine = mine[1:]
		ui.log.Info("webui: session limit reached; the oldest session ended", "user", u.Username, "limit", ui.cfg.MaxSessionsPerUser)
	}
	s := &session{k: key(id), rec: sessionRecord{ID: secret()[:16], User: u, CSRF: secret(), How: how, From: clientIP(r),
		Agent: shortAgent(r.UserAgent()), Created: now, Expires: now.Add(ui.cfg.SessionTTL), Checked: now, LastUsed: now,
		Token: token, OAuth: oauth}}
	if err := ui.putSession(ctx, s); err != nil {
		ui.log.Error("webui: cannot store a session", "user", u.Username, "err", err)
		ui.message(w, r, http.StatusServiceUnavailable, "Sign-in failed", "The gateway cannot store your session now. Try again in a moment.")
		return false
	}
	// Lax, not Strict: the first request after OAuth or a link opened from another app is a
	// top-level navigation that started elsewhere, and Strict would drop the cookie on it.
	ui.setCookie(w, ui.sessionCookie(), id, ui.cfg.SessionTTL, http.SameSiteLaxMode)
	ui.log.Info("webui: signed in", "user", u.Username, "how", how, "session", s.rec.ID)
	return true
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
	ctx := context.Background()
	tok := secret()
	now := ui.now()
	// At most MaxSessionsPerUser unused links per user: the oldest goes.
	keys, err := ui.kv.List(ctx, userLinks(u.ID))
	if err != nil {
		return "", storeErr(err)
	}
	var unused []string
	for _, k := range keys {
		if _, err := ui.kv.Get(ctx, linkKey(k)); err == nil {
			unused = append(unused, k)
		} else {
			_ = ui.kv.ListRemove(ctx, userLinks(u.ID), k)
		}
	}
	for ; len(unused) >= ui.cfg.MaxSessionsPerUser; unused = unused[1:] {
		_ = ui.kv.Del(ctx, linkKey(unused[0]))
		_ = ui.kv.ListRemove(ctx, userLinks(u.ID), unused[0])
	}
	rec, _ := json.Marshal(linkRecord{User: u, Token: token, Path: path, Expires: now.Add(ui.cfg.LinkTTL)})
	// Kept twice its life, so a link opened late says "expired" rather than "not valid".
	if err := ui.kv.Set(ctx, linkKey(key(tok)), rec, 2*ui.cfg.LinkTTL); err != nil {
		return "", storeErr(err)
	}
	if err := ui.kv.ListAdd(ctx, userLinks(u.ID), key(tok), now.Add(ui.cfg.LinkTTL).UnixNano(), 2*ui.cfg.LinkTTL); err != nil {
		return "", storeErr(err)
	}
	return strings.TrimSuffix(ui.cfg.PublicURL, "/") + "/signin/link/" + tok, nil
}

// handleLink redeems a sign-in link: Take makes it single-use across every replica that
// shares the store; a used link is remembered until it would have expired, to say so.
func (ui *UI) handleLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	k := key(r.PathValue("token"))
	now := ui.now()
	b, err := ui.kv.Take(ctx, linkKey(k))
	var l linkRecord
	switch {
	case errors.Is(err, kv.ErrNotFound):
		if u, err := ui.kv.Get(ctx, usedKey(k)); err == nil {
			ui.log.Warn("webui: sign-in link reused", "user", string(u))
			ui.signInRefused(w, r, http.StatusGone, "This sign-in link was already used",
				"Each link signs in once. Run ws open again for a new one.")
			return
		}
		ui.signInRefused(w, r, http.StatusNotFound, "This sign-in link is not valid",
			"It may have been copied incompletely, or the gateway restarted since it was made.")
		return
	case err != nil:
		ui.log.Error("webui: cannot redeem a sign-in link", "err", err)
		ui.signInRefused(w, r, http.StatusServiceUnavailable, "Sign-in failed", "The gateway cannot check the link now. Try again in a moment.")
		return
	case json.Unmarshal(b, &l) != nil:
		ui.signInRefused(w, r, http.StatusNotFound, "This sign-in link is not valid", "")
		return
	}
	if left := l.Expires.Sub(now); left > 0 {
		_ = ui.kv.Set(ctx, usedKey(k), []byte(l.User.Username), left)
	}
	_ = ui.kv.ListRemove(ctx, userLinks(l.User.ID), k)
	if !now.Before(l.Expires) {
		ui.signInRefused(w, r, http.StatusGone, "This sign-in link has expired",
			"Links last "+ui.cfg.LinkTTL.String()+". Run ws open again for a new one.")
		return
	}
	if ui.startSession(w, r, l.User, "link", l.Token, nil) {
		http.Redirect(w, r, ui.path(l.Path), http.StatusSeeOther)
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
	if !ui.allowAttempt(r.Context(), ip) {
		ui.log.Warn("webui: token sign-in rate-limited", "ip", ip)
		ui.signInPage(w, r, http.StatusTooManyRequests, next, "Too many failed sign-ins from your address. Wait a minute and try again.")
		return
	}
	u, err := ui.b.UserFromToken(r.Context(), token)
	if err != nil {
		ui.failedAttempt(r.Context(), ip)
		ui.log.Warn("webui: token sign-in refused", "ip", ip, "err", err) // the error, never the token
		ui.signInPage(w, r, http.StatusUnauthorized, next, "GitLab did not accept this token. It needs the read_user or api scope.")
		return
	}
	ui.setCookie(w, ui.csrfCookie(), "", -1, http.SameSiteStrictMode)
	if ui.startSession(w, r, u, "token", token, nil) {
		http.Redirect(w, r, ui.path(next), http.StatusSeeOther)
	}
}

func (ui *UI) handleSignOut(w http.ResponseWriter, r *http.Request) {
	s, ok := ui.session(r)
	if ok && ui.sameOrigin(r) && equal(s.rec.CSRF, r.PostFormValue("csrf")) {
		ui.dropSession(r.Context(), s.k)
		ui.log.Info("webui: signed out", "user", s.rec.User.Username, "session", s.rec.ID)
	} else if ok {
		ui.message(w, r, http.StatusForbidden, "Sign-out refused", "The form expired or came from another site. Try again.")
		return
	}
	ui.setCookie(w, ui.sessionCookie(), "", -1, http.SameSiteLaxMode)
	http.Redirect(w, r, ui.path("/signin"), http.StatusSeeOther)
}

// handleSessions lists the user's sessions, each with a button that ends it.
func (ui *UI) handleSessions(w http.ResponseWriter, r *http.Request, s *session) {
	list := ui.Sessions(s.rec.User.ID)
	for i := range list {
		list[i].Current = list[i].ID == s.rec.ID
	}
	ui.render(w, r, http.StatusOK, "sessions", s, map[string]any{"Sessions": list, "Now": ui.now()})
}

// handleSessionEnd ends one of the user's sessions ("id"), or all but this one ("others").
func (ui *UI) handleSessionEnd(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !ui.sameOrigin(r) || !equal(s.rec.CSRF, r.PostFormValue("csrf")) {
		ui.message(w, r, http.StatusForbidden, "Refused", "The form expired or came from another site. Try again.")
		return
	}
	ended := 0
	for _, other := range ui.Sessions(s.rec.User.ID) {
		if (r.PostFormValue("others") != "" && other.ID != s.rec.ID) || other.ID == r.PostFormValue("id") {
			if ui.EndSession(s.rec.User.ID, other.ID) {
				ended++
			}
		}
	}
	ui.log.Info("webui: sessions ended by their user", "user", s.rec.User.Username, "count", ended)
	if r.PostFormValue("id") == s.rec.ID {
		http.Redirect(w, r, ui.path("/signin"), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, ui.path("/sessions"), http.StatusSeeOther)
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
