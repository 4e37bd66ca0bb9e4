package gateway

// The web terminal page (package webui), mounted as the gateway's fallback handler, and the
// gateway side of its sign-in: POST /api/v1/links for 'ws open'. Endpoint URLs sign in
// through the page's session (endpoints.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws-dev/ws/internal/gwapi"
	"github.com/ws-dev/ws/internal/identity"
	"github.com/ws-dev/ws/tunnel"
	"github.com/ws-dev/ws/webui"
)

// webState is the gateway's part of the web page.
type webState struct {
	ui *webui.UI
}

type clientIPKey struct{}

// mountWebUI creates the web page and registers it and its gateway routes on mux.
func (s *Server) mountWebUI(mux *http.ServeMux) error {
	var oauth *webui.OAuthConfig
	if s.cfg.OAuthClientID != "" {
		oauth = &webui.OAuthConfig{GitLabURL: s.cfg.GitLabURL, ClientID: s.cfg.OAuthClientID, ClientSecret: s.cfg.OAuthClientSecret}
	}
	ui, err := webui.New(webui.Config{
		PublicURL:          s.public.String(),
		Secure:             s.secureCookies(),
		SessionTTL:         s.cfg.SessionTTL,
		Clock:              s.clock,
		Recheck:            s.cfg.UserCacheTTL,
		MaxSessionsPerUser: s.cfg.MaxSessionsPerUser,
		NextAllowed:        NextAllowed,
		OAuth:              oauth,
		HTTPClient:         s.cfg.HTTPClient,
		Logger:             s.log,
		Store:              s.store,
	}, webBackend{s})
	if err != nil {
		return fmt.Errorf("gateway: web page: %w", err)
	}
	s.web = &webState{ui: ui}
	mux.HandleFunc("POST /api/v1/links", s.handleLinkCreate)
	mux.HandleFunc("GET /login", s.handleLogin)
	// The UI is the fallback: ServeMux still routes /api/v1/..., /w/..., /endpoint-auth,
	// /healthz and /metrics to the gateway. There is no access log; keep it that way for /signin/link/
	// paths (their last segment is a credential) if one is ever added.
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The backend's token check counts failures per address like every other sign-in.
		ui.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, clientIP(r))))
	}))
	return nil
}

// remember keeps, only with AllowMaintainers, the last verified token of user id (who
// signed in to the page or minted a link), so the maintainers rule can ask GitLab about
// project membership when that user opens someone else's workspace: gw/token/<user> for
// SessionTTL, sealed with the replica secret in a shared store. Never logged.
func (s *Server) remember(id int64, tok string) {
	if !s.cfg.AllowMaintainers || tok == "" {
		return
	}
	_ = s.store.Set(context.Background(), "gw/token/"+itoa(id), []byte(tok), s.cfg.SessionTTL)
}

// token returns the token remembered for user id, if any.
func (s *Server) token(id int64) string {
	if !s.cfg.AllowMaintainers {
		return ""
	}
	b, err := s.store.Get(context.Background(), "gw/token/"+itoa(id))
	if err != nil {
		return ""
	}
	return string(b)
}

// displayName returns the cached GitLab display name of tok's user, else username.
func (a *auth) displayName(tok, username string) string {
	b, err := a.s.store.Get(context.Background(), "gw/user/"+tokenKey(tok))
	var id identity.User
	if err == nil && json.Unmarshal(b, &id) == nil && id.Name != "" {
		return id.Name
	}
	return username
}

// webBackend is the gateway as the web page sees it.
type webBackend struct{ s *Server }

var _ webui.Backend = webBackend{}

// UserFromToken implements [webui.Backend].
func (b webBackend) UserFromToken(ctx context.Context, tok string) (webui.User, error) {
	s := b.s
	ip, _ := ctx.Value(clientIPKey{}).(string)
	if ip != "" && s.auth.limited(ip) {
		s.m.authFailures.WithLabelValues("user", "rate_limited").Inc()
		return webui.User{}, errors.New("too many failed sign-ins from this address")
	}
	id, err := s.auth.verify(ctx, tok)
	if err != nil {
		if errors.Is(err, errBadToken) {
			if ip != "" {
				s.auth.fail(ip)
			}
			s.m.authFailures.WithLabelValues("user", "unauthorized").Inc()
			return webui.User{}, fmt.Errorf("%w: %w", webui.ErrTokenRejected, err)
		}
		return webui.User{}, err
	}
	s.remember(id.ID, tok)
	name := id.Name
	if name == "" {
		name = id.Username
	}
	return webui.User{ID: id.ID, Username: id.Username, Name: name}, nil
}

// Workspaces implements [webui.Backend]: the workspaces u launched whose agent is
// connected, like GET /api/v1/workspaces.
func (b webBackend) Workspaces(ctx context.Context, u webui.User) ([]webui.Workspace, error) {
	var out []webui.Workspace
	for _, ac := range b.s.workspacesOf(ctx, u.ID) {
		st := b.s.status(ac)
		w := webui.Workspace{Project: st.Project, Name: st.Name, Status: st.Phase, Started: st.ConnectedAt}
		if w.Status == "" { // an agent that reports no phase runs once connected
			w.Status = "running"
		}
		for _, e := range st.Endpoints {
			w.Endpoints = append(w.Endpoints, webui.Endpoint{Name: e.Name, URL: e.URL})
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Project != out[j].Project {
			return out[i].Project < out[j].Project
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// OpenTerminal implements [webui.Backend]: a login shell in a PTY, as handleTerminal opens.
func (b webBackend) OpenTerminal(ctx context.Context, u webui.User, project, name string, cols, rows int) (webui.Terminal, error) {
	s := b.s
	ac, ambiguous, err := s.find(ctx, project, name, u.ID)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: the gateway cannot reach its shared state", webui.ErrUnavailable)
	case ambiguous:
		return nil, fmt.Errorf("workspace %s in %s is ambiguous: %w", name, project, webui.ErrNotFound)
	case ac == nil:
		return nil, fmt.Errorf("no agent is connected for workspace %s in %s: %w", name, project, webui.ErrUnavailable)
	}
	gu := &user{ID: u.ID, Username: u.Username, token: s.token(u.ID)}
	if !s.auth.mayAttach(ctx, gu, ac) {
		s.m.authFailures.WithLabelValues("user", "forbidden").Inc()
		return nil, fmt.Errorf("workspace %s: %w", ac.key(), webui.ErrForbidden)
	}
	ctl, data, err := s.openShell(ac, fmt.Sprintf("%sw%d", s.sessionPrefix(), s.reg.nextID.Add(1)), tunnel.Header{Cols: cols, Rows: rows, Term: "xterm-256color"})
	if err != nil {
		return nil, openError(err)
	}
	s.m.terminals.Inc()
	t := &webTerminal{ctl: ctl, data: data, exited: make(chan struct{}), done: s.m.terminals.Dec, phase: ac.getPhase}
	go t.watch()
	return t, nil
}

// openError wraps a failure to reach the agent as unavailable; an agent's own refusal
// (e.g. no shell to start) stays a plain error.
func openError(err error) error {
	var re *tunnel.RemoteError
	if errors.As(err, &re) {
		return fmt.Errorf("agent refused the shell: %w", err)
	}
	return fmt.Errorf("%w: %v", webui.ErrUnavailable, err)
}

var errTerminalClosed = errors.New("terminal closed")

// webTerminal is a shell on an agent: a KindShell control stream and its KindData stream.
type webTerminal struct {
	ctl, data net.Conn
	wmu       sync.Mutex // serialises control messages
	exited    chan struct{}
	code      int
	err       error
	closed    atomic.Bool
	once      sync.Once
	done      func()
	// phase is the workspace's phase as its agent last reported it.
	phase func() (string, string)
}

// watch reads the control stream until the exit message, or until the stream ends: then
// the tunnel dropped (or Close was called).
func (t *webTerminal) watch() {
	defer close(t.exited)
	lr := tunnel.NewLineReader(t.ctl, tunnel.MaxHeaderBytes)
	for {
		var m tunnel.Control
		if err := lr.Read(&m); err != nil {
			if t.closed.Load() {
				t.err = errTerminalClosed
			} else {
				t.err = fmt.Errorf("%w: the tunnel ended before the shell did", webui.ErrUnavailable)
			}
			t.data.Close() // unblock Read
			return
		}
		if m.Type == tunnel.MsgExit && m.Code != nil {
			// The agent ends the data stream before it sends this, so Read drains the last
			// output and then returns io.EOF.
			t.code = *m.Code
			if m.Error != "" {
				t.err = errors.New(m.Error)
			}
			if p, _ := t.phase(); p == "stopping" {
				// The agent ends every shell when the workspace stops: say that,
				// not the signal's exit status.
				t.err = fmt.Errorf("%w: the workspace is stopping", webui.ErrUnavailable)
			}
			return
		}
	}
}

func (t *webTerminal) Read(p []byte) (int, error)  { return t.data.Read(p) }
func (t *webTerminal) Write(p []byte) (int, error) { return t.data.Write(p) }

// Resize sends the new size to the agent, which sets it on the PTY.
func (t *webTerminal) Resize(cols, rows int) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	_ = t.ctl.SetWriteDeadline(time.Now().Add(tunnel.WriteTimeout))
	return tunnel.WriteLine(t.ctl, tunnel.Control{Type: tunnel.MsgResize, Cols: cols, Rows: rows})
}

// Wait returns the shell's exit code once it has ended.
func (t *webTerminal) Wait() (int, error) {
	<-t.exited
	return t.code, t.err
}

// Close ends the shell: the agent hangs it up when the control stream closes.
func (t *webTerminal) Close() error {
	t.closed.Store(true)
	t.once.Do(func() {
		t.ctl.Close()
		t.data.Close()
		t.done()
	})
	return nil
}

// LinkRequest is the body of POST /api/v1/links (or its query or form fields).
type LinkRequest = gwapi.LinkRequest

// Link is the answer of POST /api/v1/links.
type Link = gwapi.Link

// handleLinkCreate mints a single-use sign-in link to a workspace's terminal page for the
// user whose token the request carries. A cookie is not enough: the link is a credential.
func (s *Server) handleLinkCreate(w http.ResponseWriter, r *http.Request) {
	if tok, _ := bearer(r); tok == "" {
		s.m.authFailures.WithLabelValues("user", "unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="ws"`)
		httpError(w, http.StatusUnauthorized, "send your GitLab token as Authorization: Bearer")
		return
	}
	u := s.userFor(w, r, RouteLinks)
	if u == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	var req LinkRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := jsonDecode(r, &req); err != nil {
			httpError(w, http.StatusBadRequest, `body: want {"project": "...", "name": "..."}`)
			return
		}
	}
	if req.Name == "" { // query or form fields
		req.Project, req.Name = r.FormValue("project"), r.FormValue("name")
	}
	if req.Name == "" {
		httpError(w, http.StatusBadRequest, "name is required")
		return
	}
	if req.Project == "" {
		req.Project = "-"
	}
	ac := s.workspaceFor(w, r, u, req.Project, req.Name)
	if ac == nil {
		return
	}
	s.remember(u.ID, u.token)
	wu := webui.User{ID: u.ID, Username: u.Username, Name: s.auth.displayName(u.token, u.Username)}
	link, err := s.web.ui.MintLink(wu, u.token, webui.TerminalPath(ac.projectPath, ac.name))
	if err != nil {
		s.log.Error("web: mint link", "workspace", ac.key(), "err", err)
		httpError(w, http.StatusInternalServerError, "")
		return
	}
	s.log.Info("web: sign-in link minted", "user", u.Username, "workspace", ac.key())
	writeJSON(w, http.StatusOK, Link{URL: link})
}

// handleLogin is GET /login?next=<endpoint URL>, where endpoint URLs sent browsers before
// the endpoint hand-off had its own route; old links still work through it.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, s.public.String()+EndpointAuthPath+"?url="+url.QueryEscape(r.URL.Query().Get("next")), http.StatusSeeOther)
}
