package gateway

// Replicas: several gateways behind a load balancer share Config.Store (Redis). Each
// agent connects to one of them, its holder, which keeps a lease on the workspace in the
// store — who holds it, on which connection, how to reach it, and what the status API
// says about it — renewed every third of LeaseTTL and removed when the agent goes. A
// request for a workspace whose agent another replica holds is forwarded there on the
// replica channel (forward.go). This follows GitLab's agent server (KAS): connected
// agents registered in Redis with a TTL refreshed by their server, a private
// server-to-server endpoint protected by a shared secret, and a receiver that does only
// what it is told.
//
//	gw/agent/<project-id>/<name>   the workspace's lease (leaseInfo), for LeaseTTL
//	gw/byname/<name>               the workspaces of that name (list of "<project-id>/<name>")
//	gw/byuser/<user-id>            the workspaces a user launched (same)
//	gw/replica/<id>                the replica channel address of replica id, for LeaseTTL

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws-dev/ws/internal/kv"
	"github.com/ws-dev/ws/tunnel"
)

// ReplicaConfig makes a gateway one replica of several that share Config.Store.
type ReplicaConfig struct {
	// ID names this replica in leases (lowercase letters, digits, '-'; default: random).
	// A restarted replica takes a new one.
	ID string
	// Addr is the host:port of this replica's replica listener (ReplicaHandler), as the
	// other replicas dial it (a pod IP and port; never the public load balancer).
	Addr string
	// Secret is the replicas' shared secret (at least 32 bytes): it signs the replica
	// channel both ways. Seal Config.Store with it too (kv.Sealed).
	Secret []byte
	// LeaseTTL is how long a lease outlives its holder (default 30s); holders renew it
	// every third of it.
	LeaseTTL time.Duration
	// HealthInterval is how often the store is pinged (default 1s): /healthz answers 503
	// while it cannot be reached, and a line is logged when it comes back.
	HealthInterval time.Duration
}

var replicaIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// leaseInfo is the value of a workspace's lease: where its agent is, and what the status
// API says about it (so any replica answers status and lists).
type leaseInfo struct {
	Replica     string            `json:"replica"`
	Addr        string            `json:"addr"`
	Conn        uint64            `json:"conn"`
	Job         int64             `json:"job"`
	Pipeline    int64             `json:"pipeline"`
	Project     int64             `json:"project"`
	ProjectPath string            `json:"project_path"`
	Name        string            `json:"name"`
	User        int64             `json:"user"`
	Username    string            `json:"username"`
	Connected   time.Time         `json:"connected"`
	Phase       string            `json:"phase,omitempty"`
	Error       string            `json:"error,omitempty"`
	Version     string            `json:"version,omitempty"`
	Endpoints   []tunnel.Endpoint `json:"endpoints,omitempty"`
	PortConns   bool              `json:"port_conns,omitempty"`
	SSHConns    bool              `json:"ssh_conns,omitempty"`
	SSHHostKey  string            `json:"ssh_host_key,omitempty"` // as VouchedSSHHostKey accepted it
	WorkingDir  string            `json:"working_dir,omitempty"`
}

func (l *leaseInfo) facts() LeaseFacts {
	if l == nil {
		return LeaseFacts{}
	}
	return LeaseFacts{Held: true, Job: l.Job, Replica: l.Replica, Conn: l.Conn}
}

func leaseKey(ws string) string                { return "gw/agent/" + ws }
func replicaKey(id string) string              { return "gw/replica/" + id }
func byNameKey(name string) string             { return "gw/byname/" + name }
func byUserKey(uid int64) string               { return "gw/byuser/" + itoa(uid) }
func indexTTL(ttl time.Duration) time.Duration { return 6 * ttl }

// held is a lease this replica holds, with the value it last wrote.
type held struct {
	raw   []byte // nil: not written yet (the store was out of reach)
	dirty bool   // the agent's status changed since
}

// replicas is a gateway's part in a set of replicas.
type replicas struct {
	s       *Server
	cfg     ReplicaConfig
	chanKey []byte // HMAC key of requests on the replica channel
	ansKey  []byte // HMAC key of their answers

	mu    sync.Mutex
	held  map[*agentConn]*held
	nonce map[string]time.Time // nonces seen on the replica channel, until they are too old
	wake  chan struct{}
	round int

	up      atomic.Bool // the store answered the last ping
	full    atomic.Bool // the next round renews every lease
	reindex atomic.Bool // the next full round writes the name and user indexes again (the store came back empty)
	stopped chan struct{}
	once    sync.Once
}

func newReplicas(s *Server, cfg ReplicaConfig) (*replicas, error) {
	if cfg.ID == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		cfg.ID = hex.EncodeToString(b)
	}
	if !replicaIDPattern.MatchString(cfg.ID) {
		return nil, fmt.Errorf("gateway: replica ID %q: want lowercase letters, digits and '-'", cfg.ID)
	}
	if cfg.Addr == "" {
		return nil, errors.New("gateway: a replica needs the address other replicas reach it at (host:port of its replica listener)")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("gateway: the replica secret must be at least 32 bytes")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Second
	}
	rp := &replicas{s: s, cfg: cfg, held: map[*agentConn]*held{}, nonce: map[string]time.Time{},
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	rp.chanKey, rp.ansKey = deriveKey(cfg.Secret, "ws replica request"), deriveKey(cfg.Secret, "ws replica answer")
	rp.up.Store(true)
	return rp, nil
}

// start runs the lease keeper and the store's health check until stop.
func (rp *replicas) start() {
	go rp.keep()
	go rp.watchStore()
}

func (rp *replicas) stop() { rp.once.Do(func() { close(rp.stopped) }) }

func (rp *replicas) poke() {
	select {
	case rp.wake <- struct{}{}:
	default:
	}
}

func (rp *replicas) info(ac *agentConn) leaseInfo {
	phase, perr := ac.getPhase()
	return leaseInfo{Replica: rp.cfg.ID, Addr: rp.cfg.Addr, Conn: ac.id, Job: ac.jobID, Pipeline: ac.pipelineID,
		Project: ac.projectID, ProjectPath: ac.projectPath, Name: ac.name, User: ac.userID, Username: ac.username,
		Connected: ac.connectedAt, Phase: phase, Error: perr, Version: ac.version, Endpoints: ac.endpoints, PortConns: ac.portConns, SSHConns: ac.sshConns,
		SSHHostKey: ac.sshHostKey, WorkingDir: ac.workingDir}
}

// readLease returns the lease of workspace ws and its value as stored; nil when there is none.
func (rp *replicas) readLease(ctx context.Context, ws string) (*leaseInfo, []byte, error) {
	b, err := rp.s.store.Get(ctx, leaseKey(ws))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	}
	var l leaseInfo
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, nil, nil // unreadable: as if absent
	}
	return &l, b, nil
}

// errNewerHolds: another replica holds the workspace for a newer job.
var errNewerHolds = errors.New("a newer job holds this workspace")

// claim takes the lease of ac's workspace for ac ([ClaimLease]). A store out of reach is
// no refusal: the agent serves users of this replica, and the keeper writes the lease once
// the store answers.
func (rp *replicas) claim(ctx context.Context, ac *agentConn) error {
	h := &held{}
	defer func() {
		rp.mu.Lock()
		rp.held[ac] = h
		rp.mu.Unlock()
	}()
	val, _ := json.Marshal(rp.info(ac))
	for range 5 {
		cur, raw, err := rp.readLease(ctx, ac.key())
		if err != nil {
			rp.s.log.Warn("agent lease: cannot reach the shared state; the agent serves this replica until it can", "workspace", ac.key(), "err", err)
			return nil
		}
		if !ClaimLease(cur.facts(), ac.jobID) {
			return errNewerHolds
		}
		ok, err := rp.s.store.Swap(ctx, leaseKey(ac.key()), raw, val, rp.cfg.LeaseTTL)
		if err != nil {
			return nil
		}
		if ok {
			h.raw = val
			if cur != nil && cur.Replica != rp.cfg.ID {
				rp.s.log.Info("agent lease taken over", "workspace", ac.key(), "from_replica", cur.Replica, "job", ac.jobID)
			}
			rp.index(ctx, ac)
			return nil
		}
	}
	return nil // contended: the keeper settles it
}

func (rp *replicas) index(ctx context.Context, ac *agentConn) {
	ttl := indexTTL(rp.cfg.LeaseTTL)
	_ = rp.s.store.ListAdd(ctx, byNameKey(ac.name), ac.key(), ac.projectID, ttl)
	_ = rp.s.store.ListAdd(ctx, byUserKey(ac.userID), ac.key(), ac.projectID, ttl)
}

// release removes ac's lease if it is still ac's.
func (rp *replicas) release(ac *agentConn) {
	rp.mu.Lock()
	h := rp.held[ac]
	delete(rp.held, ac)
	rp.mu.Unlock()
	if h == nil || h.raw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = rp.s.store.Swap(ctx, leaseKey(ac.key()), h.raw, nil, 0)
}

// changed marks ac's lease for rewriting (its phase changed).
func (rp *replicas) changed(ac *agentConn) {
	rp.mu.Lock()
	if h := rp.held[ac]; h != nil {
		h.dirty = true
	}
	rp.mu.Unlock()
	rp.poke()
}

// keep renews this replica's leases and its address every third of LeaseTTL, and at once
// when an agent's status changes or the store comes back.
func (rp *replicas) keep() {
	t := rp.s.clock.NewTicker(rp.cfg.LeaseTTL / 3)
	defer t.Stop()
	all := true
	for {
		rp.renew(all)
		select {
		case <-rp.stopped:
			return
		case <-t.Chan():
			all = true
		case <-rp.wake:
			// A burst of changes (agents connecting together) is one round; the store
			// coming back asks for all.
			all = rp.full.Swap(false)
		}
	}
}

// renew writes the leases this replica holds: all of them, or only those whose agent
// changed (or that were never written).
func (rp *replicas) renew(all bool) {
	ctx, cancel := context.WithTimeout(context.Background(), rp.cfg.LeaseTTL/3)
	defer cancel()
	rp.mu.Lock()
	reindex := false
	if all {
		rp.round++
		reindex = rp.round%6 == 1 || rp.reindex.Swap(false)
	}
	type item struct {
		ac *agentConn
		h  held
	}
	var items []item
	for ac, h := range rp.held {
		if all || h.dirty || h.raw == nil {
			items = append(items, item{ac, *h})
			h.dirty = false
		}
	}
	rp.mu.Unlock()
	if all {
		_ = rp.s.store.Set(ctx, replicaKey(rp.cfg.ID), []byte(rp.cfg.Addr), rp.cfg.LeaseTTL)
	}
	for _, it := range items {
		raw, lost, err := rp.renewOne(ctx, it.ac, it.h.raw)
		if err != nil {
			continue // counted as a store error; the next round tries again
		}
		if lost {
			rp.mu.Lock()
			delete(rp.held, it.ac)
			rp.mu.Unlock()
			rp.s.m.leasesLost.Inc()
			if rp.s.draining.Load() {
				continue // the agent moved as asked; its streams here end on their own (Shutdown)
			}
			rp.s.log.Info("agent moved to another replica: closing this replica's connection", "workspace", it.ac.key(), "job", it.ac.jobID)
			it.ac.sess.Close()
			continue
		}
		rp.mu.Lock()
		if h := rp.held[it.ac]; h != nil {
			h.raw = raw
		}
		rp.mu.Unlock()
		if reindex || it.h.raw == nil {
			rp.index(ctx, it.ac)
		}
	}
}

// renewOne extends (or rewrites, when the agent changed) ac's lease, whose value was last
// raw; it writes it again when it is gone ([KeepLease]) and reports lost when another
// connection holds it now.
func (rp *replicas) renewOne(ctx context.Context, ac *agentConn, raw []byte) (newRaw []byte, lost bool, err error) {
	val, _ := json.Marshal(rp.info(ac))
	if raw != nil {
		ok, err := rp.s.store.Swap(ctx, leaseKey(ac.key()), raw, val, rp.cfg.LeaseTTL)
		if err != nil {
			return raw, false, err
		}
		if ok {
			return val, false, nil
		}
	}
	cur, curRaw, err := rp.readLease(ctx, ac.key())
	if err != nil {
		return raw, false, err
	}
	if !KeepLease(cur.facts(), rp.cfg.ID, ac.id) {
		return nil, true, nil
	}
	ok, err := rp.s.store.Swap(ctx, leaseKey(ac.key()), curRaw, val, rp.cfg.LeaseTTL)
	if err != nil || !ok {
		return raw, false, err
	}
	if cur == nil {
		rp.s.log.Info("agent lease written again", "workspace", ac.key())
	}
	return val, false, nil
}

// watchStore pings the store every HealthInterval: /healthz follows it, and when the store
// comes back every lease is written again at once.
func (rp *replicas) watchStore() {
	t := rp.s.clock.NewTicker(rp.cfg.HealthInterval)
	defer t.Stop()
	var downSince time.Time
	for {
		select {
		case <-rp.stopped:
			return
		case <-t.Chan():
		}
		ctx, cancel := context.WithTimeout(context.Background(), rp.cfg.HealthInterval)
		err := rp.s.store.Ping(ctx)
		cancel()
		switch {
		case err != nil && rp.up.Load():
			rp.up.Store(false)
			rp.s.m.redisUp.Set(0)
			downSince = rp.s.clock.Now()
			rp.s.log.Error("shared state (Redis) unreachable: /healthz answers 503; agents stay connected", "err", err)
		case err == nil && !rp.up.Load():
			rp.up.Store(true)
			rp.s.m.redisUp.Set(1)
			rp.s.log.Info("shared state (Redis) reachable again: writing this replica's leases", "down_for", rp.s.clock.Since(downSince).Round(time.Millisecond).String())
			rp.reindex.Store(true)
			rp.full.Store(true)
			rp.poke()
		}
	}
}

// remote returns a workspace whose agent another replica holds, as the status API and the
// policy see it; streams to it are forwarded (forward.go).
func (rp *replicas) remote(l *leaseInfo) *agentConn {
	ac := &agentConn{id: l.Conn, jobID: l.Job, pipelineID: l.Pipeline, projectID: l.Project, projectPath: l.ProjectPath,
		name: l.Name, userID: l.User, username: l.Username, version: l.Version, endpoints: l.Endpoints,
		connectedAt: l.Connected, portConns: l.PortConns, sshConns: l.SSHConns, sshHostKey: l.SSHHostKey, workingDir: l.WorkingDir, remote: l}
	ac.phase.Store(&[2]string{l.Phase, l.Error})
	return ac
}

// lookup finds a workspace held by another replica, as registry.find does locally.
func (rp *replicas) lookup(ctx context.Context, project, name string, userID int64) (ac *agentConn, ambiguous bool, err error) {
	if _, err := strconv.ParseInt(project, 10, 64); err == nil {
		l, _, err := rp.readLease(ctx, project+"/"+name)
		if err != nil || l == nil || l.Replica == rp.cfg.ID {
			return nil, false, err
		}
		return rp.remote(l), false, nil
	}
	ls, err := rp.leases(ctx, byNameKey(name))
	if err != nil {
		return nil, false, err
	}
	for _, l := range ls {
		if !named(project, name, userID, l.Name, l.ProjectPath, l.User) {
			continue
		}
		if ac != nil {
			return nil, true, nil
		}
		ac = rp.remote(l)
	}
	return ac, false, nil
}

// leases returns the live leases of another replica listed in index key, forgetting
// those that are gone.
func (rp *replicas) leases(ctx context.Context, index string) ([]*leaseInfo, error) {
	keys, err := rp.s.store.List(ctx, index)
	if err != nil {
		return nil, err
	}
	var out []*leaseInfo
	for _, k := range keys {
		l, _, err := rp.readLease(ctx, k)
		switch {
		case err != nil:
			return nil, err
		case l == nil:
			_ = rp.s.store.ListRemove(ctx, index, k)
		case l.Replica != rp.cfg.ID:
			out = append(out, l)
		}
	}
	return out, nil
}

// ofUser returns the workspaces of user uid that other replicas hold.
func (rp *replicas) ofUser(ctx context.Context, uid int64) []*agentConn {
	ls, err := rp.leases(ctx, byUserKey(uid))
	if err != nil {
		rp.s.log.Warn("cannot list workspaces held by other replicas", "err", err)
	}
	var out []*agentConn
	for _, l := range ls {
		if l.User == uid {
			out = append(out, rp.remote(l))
		}
	}
	return out
}

// addrOf returns the replica channel address of replica id.
func (rp *replicas) addrOf(ctx context.Context, id string) (string, error) {
	b, err := rp.s.store.Get(ctx, replicaKey(id))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// releaseAll removes every lease this replica still holds and its address (shutdown).
func (rp *replicas) releaseAll() {
	rp.mu.Lock()
	var acs []*agentConn
	for ac := range rp.held {
		acs = append(acs, ac)
	}
	rp.mu.Unlock()
	for _, ac := range acs {
		rp.release(ac)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rp.s.store.Del(ctx, replicaKey(rp.cfg.ID))
}

// CountStoreError counts an error of the shared state (ws_gateway_redis_errors_total):
// give it to the store (rediskv.Options.OnError).
func (s *Server) CountStoreError(error) { s.m.redisErrors.Inc() }
