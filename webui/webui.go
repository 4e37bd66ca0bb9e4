package webui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/internal/kv"
)

// Errors that [Backend.OpenTerminal] wraps so the page can say what went wrong.
var (
	ErrForbidden   = errors.New("forbidden")
	ErrNotFound    = errors.New("workspace not found")
	ErrUnavailable = errors.New("workspace not running")
	// ErrTokenRejected is wrapped by [Backend.UserFromToken] when GitLab refused the token
	// (any other error means GitLab could not be asked). A session whose token is
	// rejected on a re-check ends.
	ErrTokenRejected = errors.New("token rejected")
)

// User is a GitLab user, as [Backend.UserFromToken] found it.
type User struct {
	ID       int64  // GitLab user ID (int64, as in GitLab's API client)
	Username string // GitLab username, without the @
	Name     string // display name
}

// Endpoint is a URL at which a workspace serves one of its devfile endpoints.
type Endpoint struct {
	Name, URL string
}

// Workspace is one workspace in the list page.
type Workspace struct {
	Project   string // GitLab project path, e.g. group/app
	Name      string // workspace name (branch ws/<name>)
	Status    string // "running" lets the page offer a terminal; any other text is shown as is
	Started   time.Time
	Endpoints []Endpoint
}

// Terminal is an interactive shell in a workspace PTY. Read returns the PTY's output and
// an error (io.EOF) when the shell has ended; Wait then reports its exit code, or an error
// wrapping [ErrUnavailable] when the workspace stopped or its tunnel dropped. Close ends the
// shell and may be called at any time, also concurrently with Read.
type Terminal interface {
	io.ReadWriteCloser
	Resize(cols, rows int) error
	Wait() (exitCode int, err error)
}

// Backend is what the page needs from the gateway.
type Backend interface {
	// UserFromToken verifies a GitLab token (personal or OAuth access token); a refused
	// token is an error wrapping ErrTokenRejected. It is called again for every session
	// every Config.Recheck.
	UserFromToken(ctx context.Context, gitlabToken string) (User, error)
	// Workspaces lists u's workspaces.
	Workspaces(ctx context.Context, u User) ([]Workspace, error)
	// OpenTerminal starts a shell of the given size in workspace (project, name) for u.
	// Errors wrap ErrForbidden, ErrNotFound or ErrUnavailable where one applies.
	OpenTerminal(ctx context.Context, u User, project, name string, cols, rows int) (Terminal, error)
}

// Config configures [New].
type Config struct {
	// PublicURL is the URL users reach the UI at, e.g. https://ws.example.com or
	// https://example.com/ws. Links use it, WebSocket Origins must match its scheme and
	// host, and the UI serves the paths under its path.
	PublicURL string
	// Secure marks cookies Secure. It is implied when PublicURL is https; set it when a
	// proxy terminates TLS in front of a gateway whose PublicURL still says http.
	Secure bool
	// Clock is the clock of expiry and re-checks; the real one when nil.
	Clock clockwork.Clock
	// Recheck is how often a session's credential is checked again with
	// [Backend.UserFromToken] (default 60 seconds): a token revoked in GitLab ends the
	// sessions it made, and their open terminals, within this time.
	Recheck time.Duration
	// MaxSessionsPerUser bounds one user's sessions, and one user's unused sign-in links
	// (default 20); a new one ends the oldest.
	MaxSessionsPerUser int
	// NextAllowed says which UI-relative paths a sign-in may continue to (the "next" of
	// /signin, OAuth and links); default: the UI's own pages (/, /sessions, /terminal/...).
	// Anything else continues to "/".
	NextAllowed func(path string) bool
	// LinkTTL is how long a link from MintLink stays valid (default 2 minutes).
	LinkTTL time.Duration
	// SessionTTL is how long a browser stays signed in (default 12 hours).
	SessionTTL time.Duration
	// OAuth enables "Sign in with GitLab"; nil leaves only tokens and links.
	OAuth *OAuthConfig
	// HTTPClient is used for the OAuth token exchange; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Logger receives sign-in and terminal events (never tokens); slog.Default when nil.
	Logger *slog.Logger
	// Store keeps sessions, links, GitLab sign-ins in progress and failure counts (default:
	// this process's memory). Gateway replicas share one, sealed with their secret.
	Store kv.Store
}

// UI serves the pages. It is an [http.Handler]; create one with [New].
type UI struct {
	cfg    Config
	b      Backend
	base   string // mount path without the trailing slash; "" at the root
	origin string // scheme://host of PublicURL
	secure bool
	log    *slog.Logger
	mux    *http.ServeMux
	kv     kv.Store
}

// New returns the UI for cfg, backed by b.
func New(cfg Config, b Backend) (*UI, error) {
	pu, err := url.Parse(cfg.PublicURL)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, fmt.Errorf("public URL %q: want http(s)://host[/path]", cfg.PublicURL)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = time.Minute
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = 20
	}
	if cfg.NextAllowed == nil {
		cfg.NextAllowed = ownPage
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 2 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Store == nil {
		cfg.Store = kv.NewMemory(cfg.Clock, 0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OAuth != nil {
		if err := cfg.OAuth.check(); err != nil {
			return nil, err
		}
	}
	ui := &UI{
		cfg:    cfg,
		b:      b,
		base:   strings.TrimSuffix(pu.EscapedPath(), "/"),
		origin: pu.Scheme + "://" + pu.Host,
		secure: cfg.Secure || pu.Scheme == "https",
		log:    cfg.Logger,
		kv:     cfg.Store,
	}
	ui.routes()
	return ui, nil
}

func (ui *UI) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", ui.requireUser(ui.handleList))
	m.HandleFunc("GET /signin", ui.handleSignInPage)
	m.HandleFunc("POST /signin", ui.handleSignInToken)
	m.HandleFunc("GET /signin/link/{token}", ui.handleLink)
	m.HandleFunc("GET /signin/oauth", ui.handleOAuthStart)
	m.HandleFunc("GET /oauth/callback", ui.handleOAuthCallback)
	m.HandleFunc("POST /signout", ui.handleSignOut)
	m.HandleFunc("GET /sessions", ui.requireUser(ui.handleSessions))
	m.HandleFunc("POST /sessions/end", ui.requireUser(ui.handleSessionEnd))
	m.HandleFunc("GET /assets/{file}", handleAsset)
	m.HandleFunc("GET /terminal/{path...}", ui.requireUser(ui.handleWorkspace))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ui.message(w, r, http.StatusNotFound, "Page not found", "There is nothing at this address.")
	})
	ui.mux = m
}

// ServeHTTP implements [http.Handler].
func (ui *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if ui.base != "" {
		rest, ok := strings.CutPrefix(p, ui.base)
		if !ok || (rest != "" && rest[0] != '/') {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			http.Redirect(w, r, ui.base+"/", http.StatusMovedPermanently)
			return
		}
		r2 := *r
		u2 := *r.URL
		u2.Path, u2.RawPath = rest, ""
		r2.URL = &u2
		r = &r2
	}
	h := w.Header()
	// The pages load only their own assets; xterm.js adds <style> elements, hence 'unsafe-inline'
	// for styles (scripts stay strict).
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' "+ui.oauthFormAction())
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer Chrome sends "Origin: null" on form
	// POSTs, which the CSRF checks must then refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	ui.mux.ServeHTTP(w, r)
}

func (ui *UI) oauthFormAction() string {
	if ui.cfg.OAuth == nil {
		return ""
	}
	return ui.cfg.OAuth.origin()
}

// path returns the public path of a UI-relative path p.
func (ui *UI) path(p string) string { return ui.base + p }

// TerminalPath is the UI-relative path of the terminal page of workspace (project, name);
// pass it to [UI.MintLink] to send a user straight to the terminal.
func TerminalPath(project, name string) string {
	var b strings.Builder
	b.WriteString("/terminal")
	for seg := range strings.SplitSeq(project, "/") {
		b.WriteString("/" + url.PathEscape(seg))
	}
	b.WriteString("/-/" + url.PathEscape(name))
	return b.String()
}

// parseWorkspacePath splits "group/app/-/name[/tty]" into its parts.
func parseWorkspacePath(p string) (project, name string, tty bool, ok bool) {
	project, rest, found := strings.Cut(p, "/-/")
	if !found || project == "" {
		return "", "", false, false
	}
	name, tty = strings.CutSuffix(rest, "/tty")
	if name == "" || strings.Contains(name, "/") || slices.Contains(strings.Split(project, "/"), "") {
		return "", "", false, false
	}
	return project, name, tty, true
}

func (ui *UI) handleList(w http.ResponseWriter, r *http.Request, s *session) {
	wss, err := ui.b.Workspaces(r.Context(), s.rec.User)
	if err != nil {
		ui.log.Error("webui: list workspaces", "user", s.rec.User.Username, "err", err)
		ui.message(w, r, http.StatusBadGateway, "Could not list workspaces", "The gateway could not list your workspaces. Try again in a moment.")
		return
	}
	now := ui.now()
	type row struct {
		Workspace
		Running  bool
		Age      string
		Terminal string
	}
	rows := make([]row, 0, len(wss))
	for _, ws := range wss {
		rows = append(rows, row{
			Workspace: ws,
			Running:   ws.Status == "running",
			Age:       age(now, ws.Started),
			Terminal:  ui.path(TerminalPath(ws.Project, ws.Name)),
		})
	}
	ui.render(w, r, http.StatusOK, "list", s, map[string]any{"Workspaces": rows})
}

func (ui *UI) handleWorkspace(w http.ResponseWriter, r *http.Request, s *session) {
	project, name, tty, ok := parseWorkspacePath(r.PathValue("path"))
	if !ok {
		ui.message(w, r, http.StatusNotFound, "Page not found", "A terminal address looks like /terminal/group/project/-/name.")
		return
	}
	if tty {
		ui.serveTerminal(w, r, s, project, name)
		return
	}
	ui.render(w, r, http.StatusOK, "terminal", s, map[string]any{
		"Project": project,
		"Name":    name,
		"Socket":  ui.path(TerminalPath(project, name) + "/tty"),
	})
}

// age says how long ago t was, coarsely: "45s", "12m", "3h 5m", "2d 4h".
func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// render writes page name inside the layout; s may be nil (signed out).
func (ui *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Base"] = ui.base
	data["CSS"] = ui.path(assetURL("app.css"))
	data["JS"] = ui.path(assetURL("app.js"))
	if s != nil {
		data["User"] = s.rec.User
		data["CSRF"] = s.rec.CSRF
	}
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		ui.log.Error("webui: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message renders a page that says one thing, with a way back.
func (ui *UI) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	s, _ := ui.session(r)
	ui.render(w, r, status, "message", s, map[string]any{"Title": title, "Text": text})
}
