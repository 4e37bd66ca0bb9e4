package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ws-dev/ws/tunnel"
)

// proxy forwards HTTP and WebSocket requests to workspace ports through
// the tunnel. Its transport dials "a<conn-id>:<port>", so pooled
// connections never outlive the agent connection they belong to.
type proxy struct {
	s  *Server
	tr *http.Transport
}

func newProxy(s *Server) *proxy {
	p := &proxy{s: s}
	p.tr = &http.Transport{
		DialContext:           p.dial,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		ForceAttemptHTTP2:     false,
	}
	return p
}

func (p *proxy) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(host, "a"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad tunnel address %q", addr)
	}
	port, _ := strconv.Atoi(portS)
	ac := p.s.reg.byConnID(id)
	if ac == nil {
		return nil, errors.New("the workspace agent disconnected")
	}
	c, err := p.s.openToAgent(ac, tunnel.Header{Kind: tunnel.KindPort, Port: port})
	if err != nil {
		return nil, err
	}
	p.s.m.portStreams.Inc()
	return &gaugedConn{Conn: c, done: p.s.m.portStreams.Dec}, nil
}

type gaugedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *gaugedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// endpoint host label: <port>-<name>--<project-id>
var hostLabel = regexp.MustCompile(`^([0-9]{1,5})-([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)--([0-9]+)$`)

// hostLabelOK reports whether a workspace name fits the host-based URL form
// (a DNS label: lowercase letters, digits and inner hyphens).
func hostLabelOK(name string) bool {
	return hostLabel.MatchString("1-" + name + "--1")
}

func (s *Server) parseEndpointHost(hostport string) (port int, name, project string, ok bool) {
	host := strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, found := strings.CutSuffix(host, "."+s.cfg.EndpointDomain)
	if !found || strings.Contains(label, ".") {
		return 0, "", "", false
	}
	m := hostLabel.FindStringSubmatch(label)
	if m == nil {
		return 0, "", "", false
	}
	port, _ = strconv.Atoi(m[1])
	return port, m[2], m[3], true
}

func (s *Server) handleHostProxy(w http.ResponseWriter, r *http.Request, port int, name, project string) {
	s.proxyTo(w, r, project, name, port, "")
}

func (s *Server) handlePathProxy(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil {
		httpError(w, http.StatusNotFound, "")
		return
	}
	prefix := fmt.Sprintf("/w/%s/%s/%d", url.PathEscape(r.PathValue("project")), url.PathEscape(r.PathValue("name")), port)
	s.proxyTo(w, r, r.PathValue("project"), r.PathValue("name"), port, prefix)
}

func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, project, name string, port int, prefix string) {
	if port < 1 || port > 65535 {
		httpError(w, http.StatusNotFound, "")
		return
	}
	if tok, sid := credential(r); tok == "" && sid == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		// A browser without a session: send it to sign in first.
		next := "https://" + r.Host + r.URL.RequestURI()
		if r.TLS == nil && s.public.Scheme == "http" {
			next = "http://" + r.Host + r.URL.RequestURI()
		}
		http.Redirect(w, r, s.public.String()+"/login?next="+url.QueryEscape(next), http.StatusFound)
		return
	}
	u := s.userFor(w, r)
	if u == nil {
		return
	}
	ac := s.workspaceFor(w, r, u, project, name)
	if ac == nil {
		return
	}
	rp := &httputil.ReverseProxy{
		Transport: s.proxy.tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = fmt.Sprintf("a%d:%d", ac.id, port)
			pr.Out.Host = fmt.Sprintf("localhost:%d", port)
			if prefix != "" {
				pr.Out.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(pr.In.URL.Path, prefix), "/")
				pr.Out.URL.RawPath = ""
				pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
			}
			stripCredentials(pr.Out, u)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			msg := fmt.Sprintf("workspace port %d is not reachable", port)
			var re *tunnel.RemoteError
			if errors.As(err, &re) {
				msg += ": " + re.Msg
			}
			httpError(w, http.StatusBadGateway, msg)
		},
		FlushInterval: -1,
	}
	rp.ServeHTTP(w, r)
}

// stripCredentials removes the gateway credentials from a proxied request,
// so the workspace's application never sees the user's GitLab token.
func stripCredentials(out *http.Request, u *user) {
	out.Header.Del("PRIVATE-TOKEN")
	if u.viaHeader {
		out.Header.Del("Authorization")
	}
	cookies := out.Cookies()
	out.Header.Del("Cookie")
	for _, c := range cookies {
		// The web page's cookies (ws_web_*, __Host-ws_web_* with TLS) reach path-based
		// endpoint URLs on the gateway's host too.
		if c.Name != SessionCookie && !strings.HasPrefix(strings.TrimPrefix(c.Name, "__Host-"), "ws_web_") {
			out.AddCookie(c)
		}
	}
}

// ---- browser sign-in (the page is the web UI's /signin; see handleLogin) ----

// handleSessionCreate exchanges a GitLab token (form field or JSON
// {"token":...}) for a session cookie valid on the gateway and on the
// endpoint domain.
func (s *Server) handleSessionCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	var tok, next string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			Token string `json:"token"`
		}
		_ = jsonDecode(r, &body)
		tok = body.Token
	} else {
		tok, next = r.PostFormValue("token"), r.PostFormValue("next")
	}
	r.Header.Del("Cookie")
	r.Header.Set("Authorization", "Bearer "+tok)
	if tok == "" {
		r.Header.Del("Authorization")
	}
	u := s.userFor(w, r)
	if u == nil {
		return
	}
	sid := s.auth.newSession(u)
	c := &http.Cookie{Name: SessionCookie, Value: sid, Path: "/", HttpOnly: true, Secure: s.public.Scheme == "https",
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.cfg.SessionTTL.Seconds())}
	if s.cfg.EndpointDomain != "" && s.cfg.EndpointDomain != "localhost" {
		c.Domain = s.cfg.EndpointDomain
	}
	http.SetCookie(w, c)
	if next != "" && s.safeNext(next) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": u.Username})
}

// safeNext allows redirects only to the gateway and its endpoint hosts.
func (s *Server) safeNext(next string) bool {
	u, err := url.Parse(next)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == s.public.Hostname() || strings.HasSuffix(h, "."+s.cfg.EndpointDomain)
}

func (s *Server) handleSessionDelete(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.auth.endSession(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}
