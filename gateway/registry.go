package gateway

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ws-dev/ws/tunnel"
)

// agentConn is one connected agent.
type agentConn struct {
	id          uint64
	jobID       int64
	pipelineID  int64
	projectID   int64
	projectPath string
	name        string
	userID      int64
	username    string
	version     string
	endpoints   []tunnel.Endpoint
	connectedAt time.Time
	portConns   bool     // the agent opens port data connections (Hello caps)
	sshConns    bool     // ... and SSH data connections (Hello caps)
	sshHostKey  string   // the agent's SSH host key, as VouchedSSHHostKey accepted it
	workingDir  string   // where its sessions start (Hello)
	jobHash     [32]byte // SHA-256 of the job token, checked on data connections

	sess *yamux.Session
	ctrl net.Conn
	wmu  sync.Mutex

	phase    atomic.Pointer[[2]string] // phase, error
	replaced atomic.Bool
	// splices counts the port data connections spliced for this agent (they count
	// against MaxAgentStreams with its yamux streams); limitLogged is when the limit
	// was last logged (UnixNano of the gateway's clock).
	splices     atomic.Int64
	limitLogged atomic.Int64
	changes     *notifier // the gateway's, told of phase changes
	// onPhase, when set, is told of phase changes too (a replica rewrites its lease).
	onPhase func(*agentConn)
	// remote is set on a workspace whose agent another replica holds (replica.go): sess
	// and ctrl are nil, and streams are forwarded to the holder (forward.go).
	remote *leaseInfo
	// noDialBack: a data connection failed because the agent could not dial the gateway;
	// endpoint URLs then use tunnel streams only.
	noDialBack atomic.Bool
}

// done is closed when ac's connection ends; a workspace held by another replica has no
// connection here, and never is.
func (ac *agentConn) done() <-chan struct{} {
	if ac.remote != nil {
		return nil
	}
	return ac.sess.CloseChan()
}

func (ac *agentConn) projectKey() string { return strconv.FormatInt(ac.projectID, 10) }
func (ac *agentConn) key() string        { return ac.projectKey() + "/" + ac.name }

func (ac *agentConn) send(m tunnel.Control) error {
	ac.wmu.Lock()
	defer ac.wmu.Unlock()
	_ = ac.ctrl.SetWriteDeadline(time.Now().Add(tunnel.WriteTimeout))
	return tunnel.WriteLine(ac.ctrl, m)
}

func (ac *agentConn) setPhase(p, e string) {
	ac.phase.Store(&[2]string{p, e})
	if ac.changes != nil {
		ac.changes.notify()
	}
	if ac.onPhase != nil {
		ac.onPhase(ac)
	}
}

func (ac *agentConn) getPhase() (string, string) {
	if p := ac.phase.Load(); p != nil {
		return p[0], p[1]
	}
	return "", ""
}

// notifier wakes whoever waits for the gateway's state to change (agents coming and going,
// phases, port connections ending), so waiting until something holds needs no polling (the
// tests wait this way).
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next notify.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// registry maps workspaces (project id + name) to their agent.
type registry struct {
	changes notifier
	mu      sync.RWMutex
	byKey   map[string]*agentConn
	byID    map[uint64]*agentConn
	nextID  atomic.Uint64
}

func newRegistry() *registry {
	return &registry{byKey: map[string]*agentConn{}, byID: map[uint64]*agentConn{}}
}

// add registers ac. A connection from the same or a newer job replaces the
// current one (which is returned to be closed); an older job is refused.
func (r *registry) add(ac *agentConn) (old *agentConn, ok bool) {
	defer r.changes.notify()
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.byKey[ac.key()]
	if cur != nil && !AgentReplaces(cur.jobID, ac.jobID) {
		return nil, false
	}
	if cur != nil {
		cur.replaced.Store(true)
		delete(r.byID, cur.id)
	}
	r.byKey[ac.key()] = ac
	r.byID[ac.id] = ac
	return cur, true
}

// remove unregisters ac if it is still the current agent of its workspace.
func (r *registry) remove(ac *agentConn) bool {
	defer r.changes.notify()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byID, ac.id)
	if r.byKey[ac.key()] == ac {
		delete(r.byKey, ac.key())
		return true
	}
	return false
}

func (r *registry) byConnID(id uint64) *agentConn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[id]
}

// find returns the workspace named name in project, which is a numeric
// project id, a full path (group/project), or "-" for "the only workspace
// of that name launched by userID".
func (r *registry) find(project, name string, userID int64) (ac *agentConn, ambiguous bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, err := strconv.ParseInt(project, 10, 64); err == nil {
		return r.byKey[project+"/"+name], false
	}
	var found *agentConn
	for _, c := range r.byKey {
		if !named(project, name, userID, c.name, c.projectPath, c.userID) {
			continue
		}
		if found != nil {
			return nil, true
		}
		found = c
	}
	return found, false
}

// named says whether a workspace (wsName in project wsPath, launched by wsUser) is the one
// "project/name" names for userID: project is a full path, or "-" (or empty) for the
// user's own workspace of that name.
func named(project, name string, userID int64, wsName, wsPath string, wsUser int64) bool {
	switch {
	case wsName != name:
		return false
	case project == "-" || project == "":
		return wsUser == userID
	}
	return strings.EqualFold(wsPath, project)
}

func (r *registry) all() []*agentConn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*agentConn, 0, len(r.byKey))
	for _, c := range r.byKey {
		out = append(out, c)
	}
	return out
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
