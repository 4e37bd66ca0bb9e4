package gateway

// The gateway's access policy: every decision about who may do what, as pure functions of
// the facts a handler has gathered. Handlers gather facts (who presented which credential,
// which host and route they addressed, what the browser said about where the request came
// from, what GitLab answered) and call these; they decide nothing themselves. Read this file
// to know what the gateway allows; policy_test.go is its table. docs/gateway.md ("Threat
// model") says the same in prose.

import (
	"net/url"
	"path"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ws-dev/ws/internal/names"
	"github.com/ws-dev/ws/tunnel"
)

// Credential is what authenticated a request.
type Credential int

const (
	// CredNone: no credential at all.
	CredNone Credential = iota
	// CredBearer: a GitLab token in "Authorization: Bearer" or PRIVATE-TOKEN (the CLI,
	// scripts). A browser never sends one by itself, so it needs no origin check.
	CredBearer
	// CredWebSession: the web page's session cookie, host-only on the gateway's host
	// (__Host-ws_web_session with TLS). Endpoint hosts never receive it.
	CredWebSession
	// CredEndpointSession: an endpoint cookie, host-only on one endpoint host and bound,
	// on the server, to that one endpoint and to the web session that made it.
	CredEndpointSession
)

func (c Credential) String() string {
	return [...]string{"none", "bearer", "web-session", "endpoint-session"}[c]
}

// Route is a class of request: what the credential is used for.
type Route int

const (
	// RouteStatus: GET /api/v1/workspaces and /api/v1/workspaces/{p}/{n}.
	RouteStatus Route = iota
	// RouteTunnel: the CLI's tunnel and port data connections (shell, exec, ports).
	RouteTunnel
	// RouteLinks: POST /api/v1/links, which mints a sign-in link (itself a credential).
	RouteLinks
	// RouteTerminalAPI: the /api/v1/workspaces/{p}/{n}/terminal WebSocket.
	RouteTerminalAPI
	// RouteEndpoint: a workspace's HTTP endpoint, on its own host or (when the operator
	// turned them on) a /w/ path of the gateway.
	RouteEndpoint
	// RouteEndpointAuth: GET /endpoint-auth, which hands a signed-in browser on to an
	// endpoint host with a one-time code.
	RouteEndpointAuth
)

func (r Route) String() string {
	return [...]string{"status", "tunnel", "links", "terminal-api", "endpoint", "endpoint-auth"}[r]
}

// Grants reports whether credential c may be used for route r: least authority.
//
//   - A bearer token is the CLI's: everything, but it never creates a browser session.
//   - The web session is the browser's on the gateway's own origin: the terminal
//     WebSocket and the endpoint hand-off, never the tunnel, the ports or new links, and
//     (pathEndpoints: the operator's unsafe choice) path-based endpoints on that origin.
//   - An endpoint cookie reaches its own endpoint only (see EndpointCookieGrants).
func Grants(c Credential, r Route, pathEndpoints bool) bool {
	switch c {
	case CredBearer:
		return r != RouteEndpointAuth
	case CredWebSession:
		return r == RouteTerminalAPI || r == RouteEndpointAuth || (r == RouteEndpoint && pathEndpoints)
	case CredEndpointSession:
		return r == RouteEndpoint
	}
	return false
}

// EndpointCookieGrants reports whether an endpoint cookie made for endpoint bound may be
// used on endpoint host: only the very endpoint it was made for.
func EndpointCookieGrants(bound, host EndpointRef) bool { return bound == host }

// EndpointRef names one endpoint: a port of a workspace (project id, name).
type EndpointRef struct {
	ProjectID string
	Name      string
	Port      int
}

// Attach is what GitLab and the registry say about a user and a workspace.
type Attach struct {
	UserID, OwnerID int64
	// Maintainers is the operator's --allow-maintainers.
	Maintainers bool
	// AccessLevel is the user's access level in the workspace's project (GitLab's 40 is
	// Maintainer, 50 Owner); only asked for when it matters.
	AccessLevel int
}

// MaintainerLevel is GitLab's access level of a project maintainer.
const MaintainerLevel = 40

// MayAttach reports whether a user may use a workspace (shell, ports, terminal, endpoints,
// links): the user who launched it, or with --allow-maintainers a maintainer or owner.
func MayAttach(a Attach) bool {
	return a.UserID == a.OwnerID || (a.Maintainers && a.AccessLevel >= MaintainerLevel)
}

// NeedsAccessLevel reports whether MayAttach depends on the user's access level (so the
// gateway asks GitLab only then).
func NeedsAccessLevel(userID, ownerID int64, maintainers bool) bool {
	return userID != ownerID && maintainers
}

// TunnelStreamAllowed reports whether a CLI may open a stream of kind on its tunnel (which
// RouteTunnel and MayAttach already admitted). Every kind a client may open grants the one
// right MayAttach gave, that of `ws shell`: a shell runs any program in the job, so an SSH
// connection (its commands, file transfer and forwards to and from the job's network, all
// as the agent's user) reaches nothing a shell does not. Kinds that only the agent opens
// (control) or only the gateway sends (portconn) are refused.
func TunnelStreamAllowed(kind string) bool {
	switch kind {
	case tunnel.KindShell, tunnel.KindExec, tunnel.KindData, tunnel.KindStderr, tunnel.KindPort, tunnel.KindSSH:
		return true
	}
	return false
}

// VouchedSSHHostKey is the SSH host key the gateway hands to the clients of a workspace (on
// their tunnel's 101, for them to pin): the one its admitted agent announced in its Hello,
// when that is a well-formed public key (authorized_keys form, no options), else none, and
// clients then refuse to connect over SSH. The agent is the one GitLab confirmed runs the
// workspace, so no other job or user can have its key vouched for under this workspace.
func VouchedSSHHostKey(announced string) string {
	if announced == "" || len(announced) > 8<<10 {
		return ""
	}
	k, _, opts, rest, err := ssh.ParseAuthorizedKey([]byte(announced))
	if err != nil || len(opts) > 0 || len(rest) > 0 {
		return ""
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// JobFacts is what GitLab says about the job whose token an agent presents.
type JobFacts struct {
	Ref    string // the job's ref; a workspace runs on ws/<name>
	Status string // "running" while the job runs
}

// AgentAdmission decides whether an agent may register: its job must be running on
// ws/<name>, and its Hello must name that same workspace. Identity comes from GitLab,
// never from the agent. It returns the workspace name, or why not.
func AgentAdmission(job JobFacts, hello string) (name, refusal string) {
	name, ok := strings.CutPrefix(job.Ref, names.BranchPrefix)
	switch {
	case !ok || name == "":
		return "", "the job does not run on a ws/<name> branch"
	case job.Status != "running":
		return "", "the job is not running"
	case hello != "" && hello != name:
		return "", "this job runs on ref " + job.Ref + ", not " + names.Branch(hello)
	}
	return name, ""
}

// AgentReplaces reports whether an agent of job newJob takes a workspace over from one of
// curJob: the same job reconnecting, or a newer job; never an older one.
func AgentReplaces(curJob, newJob int64) bool { return newJob >= curJob }

// Fetch is what a browser says about where a request came from.
type Fetch struct {
	Method    string
	Origin    string // the Origin header; "" when absent
	Site      string // Sec-Fetch-Site: same-origin, same-site, cross-site, none; "" when absent
	Mode      string // Sec-Fetch-Mode: navigate, cors, no-cors, websocket, ...
	WebSocket bool   // an Upgrade: websocket request
}

func safeMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "OPTIONS" }

// CookieRequest decides whether a cookie-authenticated request may proceed, for a cookie
// of the origin self (scheme://host[:port]). trusted says which other origins may use it
// (nil: none). Navigations (GET links from other sites) are allowed where navigable says
// so: pages, yes; WebSockets and APIs, no. A non-browser client that sends neither
// Sec-Fetch-Site nor Origin is not a cross-site request and passes.
func CookieRequest(f Fetch, self string, trusted func(origin string) bool, navigable bool) (ok bool, refusal string) {
	originOK := func() bool {
		return f.Origin == self || (trusted != nil && f.Origin != "" && f.Origin != "null" && trusted(f.Origin))
	}
	if f.WebSocket {
		// Browsers always send Origin on a WebSocket; a missing one is a non-browser
		// client, which has no business with a cookie here either.
		if !originOK() {
			return false, "WebSocket from origin " + quoteOrigin(f.Origin)
		}
		return true, ""
	}
	if f.Origin != "" && !originOK() && !(navigable && f.Mode == "navigate" && safeMethod(f.Method)) {
		return false, "request from origin " + quoteOrigin(f.Origin)
	}
	switch f.Site {
	case "same-origin":
		return true, ""
	case "none": // typed, bookmarked, opened from another program
		if safeMethod(f.Method) {
			return true, ""
		}
		return false, "a " + f.Method + " without a page"
	case "same-site", "cross-site":
		if f.Origin != "" && originOK() {
			return true, ""
		}
		if navigable && f.Mode == "navigate" && safeMethod(f.Method) {
			return true, ""
		}
		return false, f.Site + " " + f.Mode + " " + f.Method
	case "":
		return true, "" // an older browser (Origin checked above) or no browser at all
	}
	return false, "Sec-Fetch-Site " + f.Site
}

func quoteOrigin(o string) string {
	if o == "" {
		return "(none)"
	}
	return o
}

// SiblingEndpoint returns the trusted-origin rule of an endpoint host: another endpoint of
// the same workspace, on the same scheme (a front end on one port calling its API on
// another). parse turns a host into an endpoint, as the gateway routes it.
func SiblingEndpoint(self EndpointRef, scheme string, parse func(host string) (EndpointRef, bool)) func(origin string) bool {
	return func(origin string) bool {
		u, err := url.Parse(origin)
		if err != nil || u.Scheme != scheme || u.Path != "" {
			return false
		}
		e, ok := parse(u.Host)
		return ok && e.ProjectID == self.ProjectID && e.Name == self.Name
	}
}

// NextAllowed reports whether a sign-in may continue to p: a path of the web page (the
// workspace list, a terminal, the sessions page, the endpoint hand-off), never an endpoint,
// an API, another sign-in step, or another host.
func NextAllowed(p string) bool {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return false
	}
	clean := path.Clean(u.Path)
	if clean != u.Path && clean+"/" != u.Path {
		return false // dot segments: say exactly where to go
	}
	switch {
	case u.Path == "/", u.Path == "/sessions", u.Path == EndpointAuthPath:
		return true
	case strings.HasPrefix(u.Path, "/terminal/"):
		return true
	}
	return false
}

// EndpointAuthPath is the route of the endpoint hand-off on the gateway's host.
const EndpointAuthPath = "/endpoint-auth"

// EndpointCodePath is the route on an endpoint host that trades a hand-off code for that
// host's endpoint cookie. The gateway answers it; it never reaches the workspace.
const EndpointCodePath = "/.ws/auth"

// SecureCookies says whether cookies carry Secure (and, where the name allows, the
// __Host- prefix): when the public URL is https, or the gateway serves TLS itself behind a
// public URL that says http.
func SecureCookies(publicScheme string, tls bool) bool { return publicScheme == "https" || tls }

// Resource limits. They are not access decisions, but they bound what one credential can
// make the gateway hold.
const (
	// DefaultMaxTunnelStreams bounds the streams one CLI tunnel has open at once.
	DefaultMaxTunnelStreams = 1024
	// DefaultMaxAgentStreams bounds the streams open to one agent (all users, all kinds),
	// and so, with the yamux window, the memory one agent can make the gateway hold.
	DefaultMaxAgentStreams = 4096
	// DefaultMaxUserConns bounds the CLI tunnels, web terminals and data connections one
	// user holds open on one replica.
	DefaultMaxUserConns = 256
	// DefaultMaxSessionsPerUser bounds a user's web sessions; the oldest goes first.
	DefaultMaxSessionsPerUser = 20
	// maxEndpointSessionsPerSession bounds the endpoint cookies one web session made.
	maxEndpointSessionsPerSession = 64
)

// StreamAllowed reports whether one more stream may open where open are open and max are
// allowed.
func StreamAllowed(open, max int) bool { return open < max }

// Replicas. With shared state (docs/gateway.md, "Replicas"), a request may reach a
// replica that does not hold the workspace's agent; that replica forwards it to the
// holder on the replica channel: a listener of its own, never behind the public load
// balancer, where every request is signed with the replicas' shared secret and every
// answer signed back.

// ReplicaFacts is what a replica knows about a request on its replica channel.
type ReplicaFacts struct {
	// Channel: the request arrived on the replica listener (not the public one).
	Channel bool
	// MACValid: its signature verifies with the replica secret over the operation, the
	// time and the nonce.
	MACValid bool
	// Skew is the distance between the request's time and the replica's clock.
	Skew time.Duration
	// NonceSeen: the nonce was already used within the skew window (a replay).
	NonceSeen bool
}

// MaxReplicaSkew is how far a replica request's time may be from the receiver's clock.
const MaxReplicaSkew = 30 * time.Second

// ReplicaRequest decides whether a replica-channel request is obeyed. Only another
// replica can make one: it must arrive on the replica listener, carry a signature made
// with the shared secret, be recent and not be a replay. Users and agents hold no secret,
// so a guessed or captured request gets nothing. The receiver then does only what it is
// told to (open a stream to an agent it holds, pair a data connection): it decides no
// access itself, the replica that authenticated the user did ([MayAttach]).
func ReplicaRequest(f ReplicaFacts) (ok bool, refusal string) {
	switch {
	case !f.Channel:
		return false, "not on the replica listener"
	case !f.MACValid:
		return false, "bad or missing signature"
	case f.Skew > MaxReplicaSkew || f.Skew < -MaxReplicaSkew:
		return false, "too old or from the future"
	case f.NonceSeen:
		return false, "replayed"
	}
	return true, ""
}

// ReplicaAnswer decides whether the replica that forwarded a request trusts the answer:
// only one signed with the secret over the request's nonce (a process that is not a
// replica, put in a lease by someone who can write to Redis, gets no user traffic).
func ReplicaAnswer(macValid bool) bool { return macValid }

// LeaseFacts is what the shared state says about the agent lease of a workspace.
type LeaseFacts struct {
	Held    bool  // a lease exists
	Job     int64 // the job of the agent that holds it
	Replica string
	Conn    uint64
}

// ClaimLease decides whether an agent of job newJob, just admitted on a replica, takes
// the workspace's lease: when there is none, or [AgentReplaces] lets its job replace the
// holder's (the same job reconnecting, on any replica, or a newer job).
func ClaimLease(cur LeaseFacts, newJob int64) bool {
	return !cur.Held || AgentReplaces(cur.Job, newJob)
}

// KeepLease decides what a holder does when renewing finds the lease changed: absent (it
// expired, or Redis restarted empty), the holder writes it again; held by another
// connection, the agent has moved there and the holder drops its own connection.
func KeepLease(cur LeaseFacts, replica string, conn uint64) (keep bool) {
	return !cur.Held || (cur.Replica == replica && cur.Conn == conn)
}
