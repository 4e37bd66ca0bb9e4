package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ws-dev/ws/internal/gwapi"
	"github.com/ws-dev/ws/internal/kv"
	"github.com/ws-dev/ws/tunnel"
)

// Config configures a gateway.
type Config struct {
	// GitLabURL is the GitLab instance that issues job and user tokens;
	// required unless Auth is set.
	GitLabURL string
	// Auth verifies agents' and users' tokens (default: GitLabAuth for
	// GitLabURL with HTTPClient).
	Auth Authenticator
	// PublicURL is the gateway's own external URL (https://ws.example.com).
	PublicURL string
	// EndpointDomain is the wildcard DNS domain of host-based endpoint
	// URLs (<port>-<name>--<project-id>.<domain>); default: PublicURL's host.
	EndpointDomain string
	// PathURLs serves and advertises path-based endpoint URLs
	// (/w/<project-id>/<name>/<port>/ on the gateway's own host), for set-ups
	// without wildcard DNS. Off by default, and unsafe where several users
	// share the gateway: workspace content then runs on the gateway's own
	// origin, beside every user's web session (docs/gateway.md, "Threat
	// model"). 'ws up --local', with one user, turns it on.
	PathURLs bool
	// AllowMaintainers lets project maintainers and owners attach to
	// workspaces launched by others.
	AllowMaintainers bool
	// AllowedOrigins are extra Origin host patterns for the
	// /api/v1/.../terminal WebSocket (the gateway's own origin is always
	// allowed). A pattern that would match an endpoint host is refused.
	AllowedOrigins []string
	// HTTPClient calls GitLab (default: 10s timeout client).
	HTTPClient *http.Client
	// Logger receives request and connection logs; tokens never reach it.
	Logger *slog.Logger
	// UserCacheTTL is how long a verified user token is trusted (default 60s).
	UserCacheTTL time.Duration
	// SessionTTL is the browser session lifetime (default 12h).
	SessionTTL time.Duration
	// AuthFailLimit failures per AuthFailWindow from one address are
	// answered 429 (defaults 20 per minute).
	AuthFailLimit  int
	AuthFailWindow time.Duration
	// JobCheckInterval is how often a connected agent's job token is
	// checked again (default 60s; negative: never). A refused token or a
	// job no longer running drops the agent (phase stopped).
	JobCheckInterval time.Duration
	// TLS says the gateway itself serves TLS: every cookie is then Secure even
	// when PublicURL says http ([SecureCookies]).
	TLS bool
	// Clock is the clock of every expiry, cache and re-check (default: the
	// real one). Socket deadlines use the OS clock.
	Clock clockwork.Clock
	// MaxTunnelStreams bounds the streams one CLI tunnel has open (default
	// DefaultMaxTunnelStreams); MaxAgentStreams the streams and port data
	// connections open to one agent (default DefaultMaxAgentStreams), which,
	// with the yamux window, bounds the memory one workspace can take.
	MaxTunnelStreams int
	MaxAgentStreams  int
	// MaxUserConns bounds the long-lived connections one user holds on one replica: CLI
	// tunnels, web terminals and data connections (port-forward, SSH); default
	// DefaultMaxUserConns.
	MaxUserConns int
	// MaxSessionsPerUser bounds one user's browser sessions (default
	// DefaultMaxSessionsPerUser); a new one ends the oldest.
	MaxSessionsPerUser int
	// OAuthClientID (and OAuthClientSecret, for a confidential application) enable "Sign in
	// with GitLab" on the web page: a GitLab application with redirect URI
	// PublicURL/oauth/callback and scope read_user. Empty leaves tokens and links.
	OAuthClientID     string
	OAuthClientSecret string
	// Store keeps sessions, sign-in links and codes, endpoint cookies, cached GitLab answers
	// and failure counts (default: this process's memory, for one gateway). Replicas share
	// one (a sealed internal/kv/rediskv store) together with Replica.
	Store kv.Store
	// Replica makes this gateway one of several sharing Store: agent leases, forwarding
	// to the replica holding an agent (ReplicaHandler), /healthz following the store.
	// Nil: a single gateway.
	Replica *ReplicaConfig
}

// Server is a gateway.
type Server struct {
	cfg      Config
	public   *url.URL
	origin   string // scheme://host[:port] of public
	clock    clockwork.Clock
	eps      *endpointAuth // endpoint hand-off codes and endpoint cookies (endpoints.go)
	store    kv.Store      // state replicas share (Config.Store)
	rp       *replicas     // nil: a single gateway
	log      *slog.Logger
	reg      *registry
	auth     *auth
	m        *metrics
	mux      *http.ServeMux
	proxy    *proxy
	web      *webState // the web page (webui.go)
	draining atomic.Bool

	mu        sync.Mutex
	clients   map[*yamux.Session]struct{}
	userConns map[int64]int // open long-lived connections by user ID (MaxUserConns)
	ports     *portConns
	// userLimitLogged is when the per-user limit was last logged (once a minute at most).
	userLimitLogged atomic.Int64
}

// New returns a gateway for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.GitLabURL == "" && cfg.Auth == nil {
		return nil, errors.New("gateway: GitLab URL is required")
	}
	if cfg.PublicURL == "" {
		return nil, errors.New("gateway: public URL is required")
	}
	pu, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, fmt.Errorf("gateway: public URL %q must look like https://ws.example.com", cfg.PublicURL)
	}
	if cfg.EndpointDomain == "" {
		cfg.EndpointDomain = pu.Hostname()
	}
	cfg.EndpointDomain = strings.ToLower(strings.TrimPrefix(cfg.EndpointDomain, "*."))
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Auth == nil {
		cfg.Auth = GitLabAuth{URL: cfg.GitLabURL, HTTP: cfg.HTTPClient}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.UserCacheTTL == 0 {
		cfg.UserCacheTTL = time.Minute
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.AuthFailLimit == 0 {
		cfg.AuthFailLimit = 20
	}
	if cfg.AuthFailWindow == 0 {
		cfg.AuthFailWindow = time.Minute
	}
	if cfg.JobCheckInterval == 0 {
		cfg.JobCheckInterval = time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Store == nil {
		cfg.Store = kv.NewMemory(cfg.Clock, 0)
	}
	if cfg.MaxTunnelStreams <= 0 {
		cfg.MaxTunnelStreams = DefaultMaxTunnelStreams
	}
	if cfg.MaxAgentStreams <= 0 {
		cfg.MaxAgentStreams = DefaultMaxAgentStreams
	}
	if cfg.MaxUserConns <= 0 {
		cfg.MaxUserConns = DefaultMaxUserConns
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	s := &Server{cfg: cfg, public: pu, origin: pu.Scheme + "://" + pu.Host, clock: cfg.Clock, log: cfg.Logger, reg: newRegistry(),
		m: newMetrics(), clients: map[*yamux.Session]struct{}{}, userConns: map[int64]int{}, ports: newPortConns(cfg.Clock), store: cfg.Store}
	s.eps = &endpointAuth{s: s}
	for _, o := range cfg.AllowedOrigins {
		if originMatches(o, "http://1-x--1."+cfg.EndpointDomain) || originMatches(o, "https://1-x--1."+cfg.EndpointDomain) {
			return nil, fmt.Errorf("gateway: allowed origin %q would let pages on endpoint hosts (*.%s) use the terminal API; name the origins of your own pages", o, cfg.EndpointDomain)
		}
	}
	if cfg.Replica != nil {
		if s.rp, err = newReplicas(s, *cfg.Replica); err != nil {
			return nil, err
		}
		s.ports.prefix = s.rp.cfg.ID + "."
		s.m.registerReplicas()
	}
	s.auth = newAuth(s)
	s.proxy = newProxy(s)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+tunnel.AgentPath, s.handleAgent)
	mux.HandleFunc("/api/v1/session", s.handleSessionGone)
	mux.HandleFunc("GET /api/v1/sessions", s.handleSessionList)
	mux.HandleFunc("DELETE /api/v1/sessions/{id}", s.handleSessionEnd)
	mux.HandleFunc("GET "+EndpointAuthPath, s.handleEndpointAuth)
	mux.HandleFunc("GET /api/v1/workspaces", s.handleList)
	mux.HandleFunc("GET /api/v1/workspaces/{project}/{name}", s.withWorkspace(RouteStatus, s.handleStatus))
	mux.HandleFunc("GET /api/v1/workspaces/{project}/{name}/tunnel", s.withWorkspace(RouteTunnel, s.handleTunnel))
	mux.HandleFunc("GET /api/v1/workspaces/{project}/{name}/port/{port}", s.handlePortConn)
	mux.HandleFunc("GET /api/v1/workspaces/{project}/{name}/ssh", s.handleSSHConn)
	mux.HandleFunc("GET "+tunnel.AgentPortPath, s.handleAgentPort)
	mux.HandleFunc("GET /api/v1/workspaces/{project}/{name}/terminal", s.withWorkspace(RouteTerminalAPI, s.handleTerminal))
	mux.HandleFunc("/w/", s.handlePathProxy)
	if err := s.mountWebUI(mux); err != nil { // the web page, GET /login and POST /api/v1/links
		return nil, err
	}
	s.mux = mux
	if s.rp != nil {
		s.rp.start()
	}
	return s, nil
}

// handleHealth is GET /healthz: 200 "ok", or 503 while shutting down or, for a replica,
// while the shared state cannot be reached (the load balancer then sends new connections
// to other replicas; connected agents and open streams stay).
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	switch {
	case s.draining.Load():
		http.Error(w, "draining", http.StatusServiceUnavailable)
	case s.rp != nil && !s.rp.up.Load():
		http.Error(w, "shared state (Redis) unreachable", http.StatusServiceUnavailable)
	default:
		_, _ = io.WriteString(w, "ok\n") // a prober that went away reads nothing either way
	}
}

// ReplicaID is this replica's ID in leases; "" for a single gateway.
func (s *Server) ReplicaID() string {
	if s.rp == nil {
		return ""
	}
	return s.rp.cfg.ID
}

// sessionPrefix makes the session IDs this gateway gives shells unique among replicas
// (they meet at one agent).
func (s *Server) sessionPrefix() string {
	if s.rp == nil {
		return ""
	}
	return s.rp.cfg.ID + "-"
}

// Handler returns the gateway's HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if ep, ok := s.parseEndpointHost(r.Host); ok {
		s.handleHostEndpoint(w, r, ep)
		return
	}
	if !s.gate(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// gate refuses, on the gateway's own host, any request that carries cookies, changes
// state, or upgrades to a WebSocket, when the browser says another origin made it
// ([CookieRequest]). Bearer-token requests pass: a page cannot send one.
func (s *Server) gate(w http.ResponseWriter, r *http.Request) bool {
	if tok, _ := bearer(r); tok != "" {
		return true
	}
	// Without a cookie a safe request carries no credential a page could borrow (agents and
	// the CLI send headers, browsers cannot).
	if len(r.Cookies()) == 0 && safeMethod(r.Method) {
		return true
	}
	f := fetchOf(r)
	var trusted func(string) bool
	if isTerminalAPI(r.URL.Path) {
		trusted = s.allowedOrigin
	}
	ok, why := CookieRequest(f, s.origin, trusted, !strings.HasPrefix(r.URL.Path, "/api/"))
	if !ok {
		s.refuseCrossSite(w, r, why)
	}
	return ok
}

func (s *Server) refuseCrossSite(w http.ResponseWriter, r *http.Request, why string) {
	s.m.crossSite.Inc()
	s.log.Warn("cross-site request refused", "host", r.Host, "method", r.Method, "path", r.URL.Path, "why", why, "remote", clientIP(r))
	httpError(w, http.StatusForbidden, "cross-site request refused")
}

// fetchOf reads what the browser says about where r came from.
func fetchOf(r *http.Request) Fetch {
	return Fetch{Method: r.Method, Origin: r.Header.Get("Origin"), Site: r.Header.Get("Sec-Fetch-Site"),
		Mode: r.Header.Get("Sec-Fetch-Mode"), WebSocket: strings.EqualFold(r.Header.Get("Upgrade"), "websocket")}
}

func isTerminalAPI(p string) bool {
	return strings.HasPrefix(p, "/api/v1/workspaces/") && strings.HasSuffix(p, "/terminal")
}

// allowedOrigin says whether origin is one of --allowed-origins (host patterns, as
// coder/websocket matches them).
func (s *Server) allowedOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, p := range s.cfg.AllowedOrigins {
		if originMatches(p, origin) {
			return true
		}
	}
	return false
}

func originMatches(pattern, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(u.Host))
	return ok
}

// Shutdown stops accepting agents (/healthz answers 503), tells connected agents to
// reconnect (to another replica, or the restarted gateway) and drains: an agent keeps this
// connection while streams on it are open and closes it when they end; at ctx's end (2 s
// when ctx has no deadline) the rest are closed, then every tunnel.
func (s *Server) Shutdown(ctx context.Context) {
	s.draining.Store(true)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	var wg sync.WaitGroup
	for _, ac := range s.reg.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ac.send(tunnel.Control{Type: tunnel.MsgReconnect})
			select {
			case <-ac.sess.CloseChan():
			case <-ctx.Done():
			}
			ac.sess.Close()
		}()
	}
	wg.Wait()
	if s.rp != nil {
		s.rp.releaseAll()
		s.rp.stop()
	}
	s.mu.Lock()
	for c := range s.clients {
		c.Close()
	}
	s.mu.Unlock()
	s.ports.closeAll()
	s.proxy.tr.CloseIdleConnections()
}

// Agents returns the number of connected agents.
func (s *Server) Agents() int { return len(s.reg.all()) }

// acceptSession upgrades r to a WebSocket and runs the server side of a
// yamux session on it (agents and CLIs alike); the caller defers stop.
func acceptSession(w http.ResponseWriter, r *http.Request) (sess *yamux.Session, stop func(), ok bool) {
	ws, err := tunnel.Accept(w, r)
	if err != nil {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancel(context.Background())
	sess, err = tunnel.Server(ctx, ws)
	if err != nil {
		cancel()
		ws.CloseNow()
		return nil, nil, false
	}
	return sess, cancel, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type apiError = gwapi.Error

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), Message: msg})
}

// ---- users ----

// userFor authenticates r for route and writes 401/403/429/502 on failure. Which
// credentials count is [Grants]'s to say: a bearer token anywhere, the web session only
// where the policy lets it (the terminal API, path-based endpoints when turned on).
func (s *Server) userFor(w http.ResponseWriter, r *http.Request, route Route) *user {
	ip := clientIP(r)
	if s.rateLimited(w, r, "user") {
		return nil
	}
	u, cred, err := s.auth.authenticate(r, route)
	switch {
	case err == nil && !Grants(cred, route, s.cfg.PathURLs):
		err = errNoCredentials
	case errors.Is(err, errUnverifiable):
		httpError(w, http.StatusBadGateway, "cannot reach GitLab to verify the session")
		return nil
	}
	if err == nil {
		return u
	}
	if errors.Is(err, errNoCredentials) || errors.Is(err, errBadToken) {
		if errors.Is(err, errBadToken) {
			s.auth.fail(ip)
		}
		s.m.authFailures.WithLabelValues("user", "unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="ws"`)
		msg := ""
		if errors.Is(err, errNoCredentials) && len(r.Cookies()) > 0 {
			msg = "send your GitLab token as Authorization: Bearer; browser cookies do not reach this API"
		}
		httpError(w, http.StatusUnauthorized, msg)
		return nil
	}
	s.log.Warn("user: cannot verify token", "remote", ip, "err", err)
	httpError(w, http.StatusBadGateway, "cannot reach GitLab to verify the token")
	return nil
}

// rateLimited answers 429 when r's address failed too often recently (who: agent, user).
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, who string) bool {
	if !s.auth.limited(clientIP(r)) {
		return false
	}
	s.m.authFailures.WithLabelValues(who, "rate_limited").Inc()
	w.Header().Set("Retry-After", "60")
	httpError(w, http.StatusTooManyRequests, "")
	return true
}

// workspaceFor finds the workspace of the request path and checks that u
// may use it; it writes 404/403/409 otherwise.
func (s *Server) workspaceFor(w http.ResponseWriter, r *http.Request, u *user, project, name string) *agentConn {
	ac, ambiguous, err := s.find(r.Context(), project, name, u.ID)
	if err != nil {
		s.log.Warn("cannot look up a workspace in the shared state", "err", err)
		httpError(w, http.StatusServiceUnavailable, "the gateway cannot reach its shared state; try again")
		return nil
	}
	if ambiguous {
		httpError(w, http.StatusConflict, "several workspaces have this name; name the project")
		return nil
	}
	if ac == nil {
		httpError(w, http.StatusNotFound, "no agent is connected for this workspace")
		return nil
	}
	if !s.auth.mayAttach(r.Context(), u, ac) {
		s.m.authFailures.WithLabelValues("user", "forbidden").Inc()
		s.log.Info("user refused: not theirs", "user", u.Username, "workspace", ac.key(), "via", u.cred.String())
		httpError(w, http.StatusForbidden, "")
		return nil
	}
	return ac
}

// withWorkspace is the preamble of every route of one workspace
// (/api/v1/workspaces/{project}/{name}/...): it authenticates r for route, finds the
// workspace and checks that the user may attach ([MayAttach]), answering 401, 403, 404,
// 409, 429 or 502 itself; then h serves the request.
func (s *Server) withWorkspace(route Route, h func(w http.ResponseWriter, r *http.Request, u *user, ac *agentConn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := s.userFor(w, r, route)
		if u == nil {
			return
		}
		ac := s.workspaceFor(w, r, u, r.PathValue("project"), r.PathValue("name"))
		if ac == nil {
			return
		}
		h(w, r, u, ac)
	}
}

// find returns the workspace named name in project (see registry.find) whose agent this
// replica holds or, with replicas, another one does.
func (s *Server) find(ctx context.Context, project, name string, userID int64) (ac *agentConn, ambiguous bool, err error) {
	ac, ambiguous = s.reg.find(project, name, userID)
	if ac != nil || ambiguous || s.rp == nil {
		return ac, ambiguous, nil
	}
	return s.rp.lookup(ctx, project, name, userID)
}

// workspacesOf returns the workspaces user uid launched, here and (with replicas) on
// the others, by ID.
func (s *Server) workspacesOf(ctx context.Context, uid int64) []*agentConn {
	var out []*agentConn
	here := map[string]bool{}
	for _, ac := range s.reg.all() {
		if ac.userID == uid {
			out = append(out, ac)
			here[ac.key()] = true
		}
	}
	if s.rp != nil {
		for _, ac := range s.rp.ofUser(ctx, uid) {
			if !here[ac.key()] {
				out = append(out, ac)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// WorkspaceStatus is the JSON of GET /api/v1/workspaces/{project}/{name}.
type WorkspaceStatus = gwapi.WorkspaceStatus

// EndpointStatus is one endpoint in a WorkspaceStatus.
type EndpointStatus = gwapi.EndpointStatus

func (s *Server) status(ac *agentConn) WorkspaceStatus {
	phase, perr := ac.getPhase()
	st := WorkspaceStatus{
		ID: ac.key(), ProjectID: ac.projectID, Project: ac.projectPath, Name: ac.name, User: ac.username,
		Connected: true, ConnectedAt: ac.connectedAt, JobID: ac.jobID, PipelineID: ac.pipelineID,
		Phase: phase, Error: perr, Agent: ac.version, Endpoints: []EndpointStatus{},
		SSHHostKey: ac.sshHostKey, WorkingDir: ac.workingDir,
	}
	wsURL := *s.public
	wsURL.Scheme = map[string]string{"http": "ws", "https": "wss"}[s.public.Scheme]
	st.TerminalURL = wsURL.String() + "/api/v1/workspaces/" + ac.key() + "/terminal"
	for _, e := range ac.endpoints {
		hu, pu := s.hostURL(ac, e.Port, e.Path), s.pathURL(ac, e.Port, e.Path)
		es := EndpointStatus{Name: e.Name, Port: e.Port, Protocol: e.Protocol, Exposure: e.Exposure, HostURL: hu, PathURL: pu, URL: hu}
		if s.cfg.PathURLs || !hostLabelOK(ac.name) {
			es.URL = pu
		}
		st.Endpoints = append(st.Endpoints, es)
	}
	return st
}

func (s *Server) statusURL(ac *agentConn) string {
	return s.public.String() + "/api/v1/workspaces/" + ac.key()
}

func (s *Server) hostURL(ac *agentConn, port int, path string) string {
	host := s.endpointHost(EndpointRef{ProjectID: ac.projectKey(), Name: ac.name, Port: port})
	return s.public.Scheme + "://" + host + "/" + strings.TrimPrefix(path, "/")
}

func (s *Server) pathURL(ac *agentConn, port int, path string) string {
	return fmt.Sprintf("%s/w/%d/%s/%d/%s", s.public.String(), ac.projectID, url.PathEscape(ac.name), port, strings.TrimPrefix(path, "/"))
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	u := s.userFor(w, r, RouteStatus)
	if u == nil {
		return
	}
	out := []WorkspaceStatus{}
	for _, ac := range s.workspacesOf(r.Context(), u.ID) {
		out = append(out, s.status(ac))
	}
	writeJSON(w, http.StatusOK, struct {
		User       string            `json:"user"`
		Workspaces []WorkspaceStatus `json:"workspaces"`
	}{u.Username, out})
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request, _ *user, ac *agentConn) {
	writeJSON(w, http.StatusOK, s.status(ac))
}

// handleTunnel carries a CLI's yamux session: each stream the CLI opens is
// checked, its session id scoped to this client, and relayed to the agent.
func (s *Server) handleTunnel(w http.ResponseWriter, r *http.Request, u *user, ac *agentConn) {
	if ac.portConns {
		w.Header().Set(tunnel.PortConnHeader, "1")
	}
	if ac.sshHostKey != "" {
		w.Header().Set(tunnel.SSHHostKeyHeader, ac.sshHostKey)
		if ac.sshConns {
			w.Header().Set(tunnel.SSHConnHeader, "1")
		}
	}
	release, ok := s.userConn(w, u)
	if !ok {
		return
	}
	defer release()
	sess, stop, ok := acceptSession(w, r)
	if !ok {
		return
	}
	defer stop()
	s.mu.Lock()
	s.clients[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, sess)
		s.mu.Unlock()
		sess.Close()
	}()
	go func() {
		select {
		case <-ac.done():
			sess.Close()
		case <-sess.CloseChan():
		}
	}()
	defer s.watchAccess(u, ac, func() { sess.Close() })()
	cid := s.reg.nextID.Add(1)
	refused := 0
	var open atomic.Int64 // streams being relayed, or waiting for their header
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		if !StreamAllowed(int(open.Load()), s.cfg.MaxTunnelStreams) {
			s.m.streamLimit.WithLabelValues("tunnel").Inc()
			refused++
			if refused == 1 {
				s.log.Warn("tunnel stream limit reached: refusing new streams", "user", u.Username, "workspace", ac.key(), "limit", s.cfg.MaxTunnelStreams)
			}
			st.Close()
			// A refused stream lingers until the client closes it too (at most
			// StreamCloseTimeout): a client that keeps opening streams over the limit
			// loses its tunnel, so one tunnel holds at most about twice the limit.
			if refused >= s.cfg.MaxTunnelStreams {
				s.log.Warn("tunnel closed: it kept opening streams over the limit", "user", u.Username, "workspace", ac.key(), "refused", refused)
				return
			}
			continue
		}
		open.Add(1)
		go s.relayClientStream(ac, st, cid, sync.OnceFunc(func() { open.Add(-1) }))
	}
}

// relayClientStream relays one stream of a CLI tunnel; release gives its place in the
// tunnel's stream limit back, before a refusal is answered (so the CLI can count on it).
func (s *Server) relayClientStream(ac *agentConn, st net.Conn, cid uint64, release func()) {
	defer release()
	refuse := func(c net.Conn, msg string) {
		release()
		_ = tunnel.WriteLine(c, tunnel.Reply{Error: msg})
		c.Close()
	}
	h, c, err := tunnel.ReadHeader(st)
	if err != nil {
		st.Close()
		return
	}
	if !TunnelStreamAllowed(h.Kind) {
		refuse(c, fmt.Sprintf("unknown stream kind %q", h.Kind))
		return
	}
	switch h.Kind {
	case tunnel.KindShell, tunnel.KindExec, tunnel.KindData, tunnel.KindStderr:
		h.Session = fmt.Sprintf("%sc%d.%s", s.sessionPrefix(), cid, h.Session)
	}
	up, err := s.openToAgent(ac, h)
	if err != nil {
		refuse(c, err.Error())
		return
	}
	if err := tunnel.WriteLine(c, tunnel.Reply{OK: true}); err != nil {
		c.Close()
		up.Close()
		return
	}
	g := s.gaugeFor(h.Kind)
	if g != nil {
		g.Inc()
		defer g.Dec()
	}
	tunnel.Relay(c, up)
}

// userConnsOf returns how many long-lived connections user id holds on this replica.
func (s *Server) userConnsOf(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userConns[id]
}

// userConn takes one of u's long-lived connections on this replica (a CLI tunnel, a web
// terminal, a data connection) until release; when u holds MaxUserConns already it answers
// 429 itself and returns false. Each of those is bounded on its own (streams per tunnel,
// per agent); this bounds how many of them one user can open in parallel.
func (s *Server) userConn(w http.ResponseWriter, u *user) (release func(), ok bool) {
	s.mu.Lock()
	n := s.userConns[u.ID]
	if ok = StreamAllowed(n, s.cfg.MaxUserConns); ok {
		s.userConns[u.ID] = n + 1
	}
	s.mu.Unlock()
	if !ok {
		s.m.streamLimit.WithLabelValues("user").Inc()
		now := s.clock.Now().UnixNano()
		if last := s.userLimitLogged.Load(); now-last >= int64(time.Minute) && s.userLimitLogged.CompareAndSwap(last, now) {
			s.log.Warn("user connection limit reached: refusing new connections", "user", u.Username, "limit", s.cfg.MaxUserConns)
		}
		httpError(w, http.StatusTooManyRequests, fmt.Sprintf("you have %d connections open through this gateway (tunnels, terminals, forwarded ports, SSH), the most it allows; close some and try again", n))
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.userConns[u.ID]--; s.userConns[u.ID] <= 0 {
				delete(s.userConns, u.ID)
			}
			s.mu.Unlock()
			s.reg.changes.notify()
		})
	}, true
}

// errAgentBusy: the agent has as many streams open as the gateway allows one agent.
var errAgentBusy = errors.New("the workspace has too many open connections through the gateway; close some and try again")

// agentStream opens a stream to ac, within the per-agent limit (streams and port data
// connections together): that bounds the memory one workspace can make the gateway hold.
func (s *Server) agentStream(ac *agentConn) (*yamux.Stream, error) {
	if !StreamAllowed(ac.sess.NumStreams()+int(ac.splices.Load()), s.cfg.MaxAgentStreams) {
		s.agentLimitHit(ac)
		return nil, errAgentBusy
	}
	st, err := ac.sess.OpenStream()
	if err != nil {
		return nil, errors.New("workspace agent is not reachable")
	}
	return st, nil
}

// agentLimitHit counts a refusal and logs it, at most once a minute per agent.
func (s *Server) agentLimitHit(ac *agentConn) {
	s.m.streamLimit.WithLabelValues("agent").Inc()
	now := s.clock.Now().UnixNano()
	if last := ac.limitLogged.Load(); now-last >= int64(time.Minute) && ac.limitLogged.CompareAndSwap(last, now) {
		s.log.Warn("agent stream limit reached: refusing new streams", "workspace", ac.key(), "limit", s.cfg.MaxAgentStreams)
	}
}

// openToAgent opens a stream to ac with h, counting its bytes.
func (s *Server) openToAgent(ac *agentConn, h tunnel.Header) (net.Conn, error) {
	if ac.remote != nil {
		ctx, cancel := context.WithTimeout(context.Background(), tunnel.HandshakeTimeout)
		defer cancel()
		return s.forwardStream(ctx, ac, h)
	}
	st, err := s.agentStream(ac)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), tunnel.HandshakeTimeout)
	defer cancel()
	c, err := tunnel.Request(ctx, &countConn{Conn: st, m: s.m}, h)
	if err != nil {
		st.Close()
		var re *tunnel.RemoteError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, errors.New("workspace agent did not answer")
	}
	return c, nil
}

func (s *Server) gaugeFor(kind string) interface {
	Inc()
	Dec()
} {
	switch kind {
	case tunnel.KindShell, tunnel.KindExec:
		return s.m.terminals
	case tunnel.KindPort:
		return s.m.portStreams
	case tunnel.KindSSH:
		return s.m.sshConns
	}
	return nil
}

// countConn counts bytes to and from an agent.
type countConn struct {
	net.Conn
	m *metrics
}

func (c *countConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.m.fromAgent.Add(float64(n))
	}
	return n, err
}

func (c *countConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.m.toAgent.Add(float64(n))
	}
	return n, err
}

func (c *countConn) CloseWrite() error { return tunnel.CloseWrite(c.Conn) }

func jsonDecode(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }
