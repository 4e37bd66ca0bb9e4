package gateway

// The replica channel: how a replica reaches an agent another replica holds. The
// replica that authenticated the user (the front) dials the holder's replica listener
// (ReplicaConfig.Addr, never behind the public load balancer) with an HTTP/1.1 Upgrade,
// as port data connections do, naming one operation in a header signed with the replicas'
// secret; the holder checks it ([ReplicaRequest]), does it, and answers with one JSON line
// signed back ([ReplicaAnswer]); then the connection carries the stream's bytes both ways.
// One TCP connection per stream: byte streams are relayed, whatever their kind, so a new
// stream kind needs nothing here, and port data connections stay spliced end to end.
//
// Operations:
//   - stream: open a stream with the given tunnel.Header to agent connection Conn of
//     Workspace (shells, exec, data, port streams, endpoint requests, web terminals);
//   - portconn: ask that agent for a port data connection to Port and splice it here;
//   - agentport: an agent's data connection reached the front through the load balancer,
//     but the one-time token was issued by the holder (its ID prefixes the token).

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ws-dev/ws/tunnel"
)

// ReplicaPath is the route of the replica channel, on the replica listener only.
const ReplicaPath = "/replica/v1/forward"

// Headers of a replica channel request.
const (
	replicaOpHeader   = "WS-Replica-Op"   // base64url(JSON replicaOp)
	replicaAuthHeader = "WS-Replica-Auth" // <unix ms>.<nonce>.<base64url HMAC>
)

type replicaOp struct {
	Op        string         `json:"op"` // stream, portconn, agentport
	Workspace string         `json:"workspace,omitempty"`
	Conn      uint64         `json:"conn,omitempty"`
	Header    *tunnel.Header `json:"header,omitempty"`
	Port      int            `json:"port,omitempty"`
	SSH       bool           `json:"ssh,omitempty"` // portconn: an SSH data connection
	Token     string         `json:"token,omitempty"`
	JobHash   string         `json:"job_hash,omitempty"` // hex SHA-256 of the agent's job token
}

type replicaReply struct {
	OK     bool   `json:"ok"`
	Status int    `json:"status,omitempty"` // an HTTP status for the user, when not OK
	Error  string `json:"error,omitempty"`
	MAC    string `json:"mac"`
}

func deriveKey(secret []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil {
		panic(err) // only for lengths SHA-256 cannot give
	}
	return k
}

func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (rp *replicas) replyMAC(nonce string, r replicaReply) string {
	return mac(rp.ansKey, "answer", nonce, strconv.FormatBool(r.OK), strconv.Itoa(r.Status), r.Error)
}

// errHolderGone: the replica holding the agent did not answer (it stopped or crashed); the
// agent reconnects to a survivor within seconds.
var errHolderGone = errors.New("the workspace's agent is moving to another gateway replica; try again in a few seconds")

// sign gives set the headers of a request for op, signed now, and returns its nonce.
func (rp *replicas) sign(op replicaOp, set func(http.Header)) string {
	body, _ := json.Marshal(op)
	opb := base64.RawURLEncoding.EncodeToString(body)
	nb := make([]byte, 16)
	_, _ = rand.Read(nb)
	nonce := hex.EncodeToString(nb)
	ts := strconv.FormatInt(rp.s.clock.Now().UnixMilli(), 10)
	h := http.Header{}
	h.Set(replicaOpHeader, opb)
	h.Set(replicaAuthHeader, ts+"."+nonce+"."+mac(rp.chanKey, "request", ts, nonce, opb))
	set(h)
	return nonce
}

// dial opens the replica channel to addr for op and returns the connection, any bytes
// read past the answer, and the holder's answer (checked).
func (rp *replicas) dial(ctx context.Context, addr string, op replicaOp) (net.Conn, []byte, replicaReply, error) {
	var h http.Header
	nonce := rp.sign(op, func(hh http.Header) { h = hh })
	c, prefix, err := tunnel.DialUpgrade(ctx, "http://"+addr+ReplicaPath, h, nil)
	if err != nil {
		var ue *tunnel.UpgradeError
		if errors.As(err, &ue) {
			rp.s.log.Error("replica channel refused: check that every replica has the same secret", "replica", addr, "status", ue.Status)
			return nil, nil, replicaReply{}, fmt.Errorf("gateway replica %s refused the request (%d)", addr, ue.Status)
		}
		return nil, nil, replicaReply{}, errHolderGone
	}
	_ = c.SetReadDeadline(time.Now().Add(portPairTimeout + tunnel.HandshakeTimeout))
	lr := tunnel.NewLineReader(tunnel.WithPrefix(c, prefix), tunnel.MaxHeaderBytes)
	var r replicaReply
	err = lr.Read(&r)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, nil, replicaReply{}, errHolderGone
	}
	if !ReplicaAnswer(hmac.Equal([]byte(r.MAC), []byte(rp.replyMAC(nonce, r)))) {
		c.Close()
		rp.s.m.replicaRefused.Inc()
		rp.s.log.Error("replica channel: an answer not signed with the replica secret: refused", "replica", addr)
		return nil, nil, replicaReply{}, errors.New("the gateway replica holding the workspace did not answer correctly")
	}
	return c, lr.Buffered(), r, nil
}

// forwardStream opens a stream with header h to ac, held by another replica.
func (s *Server) forwardStream(ctx context.Context, ac *agentConn, h tunnel.Header) (net.Conn, error) {
	c, rest, r, err := s.rp.dial(ctx, ac.remote.Addr, replicaOp{Op: "stream", Workspace: ac.key(), Conn: ac.id, Header: &h})
	if err != nil {
		return nil, err
	}
	if !r.OK {
		c.Close()
		return nil, &tunnel.RemoteError{Msg: r.Error}
	}
	s.m.forwarded.WithLabelValues("out").Inc()
	s.m.forwardedActive.Inc()
	return &gaugedConn{Conn: tunnel.WithPrefix(c, rest), done: s.m.forwardedActive.Dec}, nil
}

// forwardPortConn serves a port data connection to ac, held by another replica: the
// holder pairs it with the agent's data connection, and the bytes go client ↔ this replica
// ↔ holder ↔ agent, spliced at each hop.
func (s *Server) forwardPortConn(w http.ResponseWriter, r *http.Request, u *user, ac *agentConn, t dataTarget) {
	ctx, cancel := context.WithTimeout(r.Context(), portPairTimeout+tunnel.HandshakeTimeout)
	rc, rest, rep, err := s.rp.dial(ctx, ac.remote.Addr, replicaOp{Op: "portconn", Workspace: ac.key(), Conn: ac.id, Port: t.Port, SSH: t.SSH})
	cancel()
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if !rep.OK {
		rc.Close()
		httpError(w, rep.Status, rep.Error)
		return
	}
	c, prefix, done, ok := s.upgradeForwarded(w, rc)
	if !ok {
		return
	}
	defer done()
	s.splicePort(u, ac, t, c, prefix, pairedConn{c: rc, prefix: rest})
}

// upgradeForwarded answers w with 101 once the holder accepted (rc), and counts the
// forwarded stream until done.
func (s *Server) upgradeForwarded(w http.ResponseWriter, rc net.Conn) (c net.Conn, prefix []byte, done func(), ok bool) {
	c, prefix, err := tunnel.HijackUpgrade(w, nil)
	if err != nil {
		rc.Close()
		return nil, nil, nil, false
	}
	s.m.forwarded.WithLabelValues("out").Inc()
	s.m.forwardedActive.Inc()
	return c, prefix, s.m.forwardedActive.Dec, true
}

// forwardAgentPort hands an agent's data connection, whose token replica id issued, to
// that replica.
func (s *Server) forwardAgentPort(w http.ResponseWriter, r *http.Request, id, tok, job string) {
	ctx, cancel := context.WithTimeout(r.Context(), tunnel.HandshakeTimeout)
	defer cancel()
	addr, err := s.rp.addrOf(ctx, id)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "the gateway replica that asked for this connection is gone")
		return
	}
	jh := jobTokenHash(job)
	rc, rest, rep, err := s.rp.dial(ctx, addr, replicaOp{Op: "agentport", Token: tok, JobHash: hex.EncodeToString(jh[:])})
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if !rep.OK {
		rc.Close()
		s.auth.fail(clientIP(r))
		s.m.authFailures.WithLabelValues("agent", "forbidden").Inc()
		httpError(w, http.StatusForbidden, "")
		return
	}
	c, prefix, done, ok := s.upgradeForwarded(w, rc)
	if !ok {
		return
	}
	defer done()
	s.ports.track(c, rc)
	defer s.ports.untrack(c, rc)
	tunnel.Splice(c, prefix, rc, rest)
}

// ReplicaHandler serves the replica channel. Serve it on its own listener, reachable by
// the other replicas only (ReplicaConfig.Addr); nil without replicas.
func (s *Server) ReplicaHandler() http.Handler {
	if s.rp == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ReplicaPath, s.rp.serve)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	return mux
}

// check verifies a request on the replica channel and returns its operation.
func (rp *replicas) check(r *http.Request) (replicaOp, string, error) {
	var op replicaOp
	opb := r.Header.Get(replicaOpHeader)
	ts, rest, _ := strings.Cut(r.Header.Get(replicaAuthHeader), ".")
	nonce, sig, _ := strings.Cut(rest, ".")
	ms, terr := strconv.ParseInt(ts, 10, 64)
	f := ReplicaFacts{Channel: true, MACValid: terr == nil && len(nonce) == 32 && opb != "" &&
		hmac.Equal([]byte(sig), []byte(mac(rp.chanKey, "request", ts, nonce, opb)))}
	now := rp.s.clock.Now()
	if f.MACValid {
		f.Skew = now.Sub(time.UnixMilli(ms))
		f.NonceSeen = rp.seen(nonce, now)
	}
	if ok, why := ReplicaRequest(f); !ok {
		return op, "", errors.New(why)
	}
	b, err := base64.RawURLEncoding.DecodeString(opb)
	if err != nil || json.Unmarshal(b, &op) != nil {
		return op, "", errors.New("bad operation")
	}
	return op, nonce, nil
}

// seen records nonce and reports whether it was used already (within the skew window).
func (rp *replicas) seen(nonce string, now time.Time) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.nonce) > 1024 {
		for n, t := range rp.nonce {
			if now.Sub(t) > 2*MaxReplicaSkew {
				delete(rp.nonce, n)
			}
		}
	}
	if _, ok := rp.nonce[nonce]; ok {
		return true
	}
	rp.nonce[nonce] = now
	return false
}

// serve carries out one operation for another replica.
func (rp *replicas) serve(w http.ResponseWriter, r *http.Request) {
	s := rp.s
	op, nonce, err := rp.check(r)
	if err != nil {
		s.m.replicaRefused.Inc()
		s.log.Warn("replica channel: request refused", "why", err.Error(), "remote", clientIP(r))
		httpError(w, http.StatusForbidden, "")
		return
	}
	if !tunnel.IsUpgrade(r) {
		httpError(w, http.StatusBadRequest, "want Connection: Upgrade, Upgrade: "+tunnel.PortProtocol)
		return
	}
	c, prefix, err := tunnel.HijackUpgrade(w, nil)
	if err != nil {
		return
	}
	answer := func(rep replicaReply) bool {
		rep.MAC = rp.replyMAC(nonce, rep)
		_ = c.SetWriteDeadline(time.Now().Add(tunnel.WriteTimeout))
		err := tunnel.WriteLine(c, rep)
		_ = c.SetWriteDeadline(time.Time{})
		if err != nil || !rep.OK {
			c.Close()
			return false
		}
		return true
	}
	switch op.Op {
	case "stream", "portconn":
		ac := s.reg.byConnID(op.Conn)
		if ac == nil || ac.key() != op.Workspace || ac.replaced.Load() {
			answer(replicaReply{Status: http.StatusServiceUnavailable, Error: errHolderGone.Error()})
			return
		}
		if op.Op == "stream" {
			rp.serveStream(c, prefix, ac, op, answer)
		} else {
			rp.servePort(c, prefix, ac, op, answer)
		}
	case "agentport":
		rp.serveAgentPort(c, prefix, op, answer)
	default:
		answer(replicaReply{Status: http.StatusBadRequest, Error: "unknown replica operation " + strconv.Quote(op.Op)})
	}
}

func (rp *replicas) serveStream(c net.Conn, prefix []byte, ac *agentConn, op replicaOp, answer func(replicaReply) bool) {
	s := rp.s
	if op.Header == nil {
		answer(replicaReply{Status: http.StatusBadRequest, Error: "no stream header"})
		return
	}
	up, err := s.openToAgent(ac, *op.Header)
	if err != nil {
		answer(replicaReply{Status: http.StatusBadGateway, Error: err.Error()})
		return
	}
	if !answer(replicaReply{OK: true}) {
		up.Close()
		return
	}
	s.m.forwarded.WithLabelValues("in").Inc()
	s.m.forwardedActive.Inc()
	defer s.m.forwardedActive.Dec()
	if g := s.gaugeFor(op.Header.Kind); g != nil {
		g.Inc()
		defer g.Dec()
	}
	tunnel.Relay(tunnel.WithPrefix(c, prefix), up)
}

func (rp *replicas) servePort(c net.Conn, prefix []byte, ac *agentConn, op replicaOp, answer func(replicaReply) bool) {
	s := rp.s
	ctx, cancel := context.WithTimeout(context.Background(), portPairTimeout)
	t := dataTarget{Port: op.Port, SSH: op.SSH}
	up, status, msg := s.pairPortConn(ctx, ac, t)
	cancel()
	if up.c == nil {
		answer(replicaReply{Status: status, Error: msg})
		return
	}
	if !answer(replicaReply{OK: true}) {
		up.c.Close()
		return
	}
	s.m.forwarded.WithLabelValues("in").Inc()
	s.m.forwardedActive.Inc()
	defer s.m.forwardedActive.Dec()
	s.splicePort(nil, ac, t, c, prefix, up)
}

func (rp *replicas) serveAgentPort(c net.Conn, prefix []byte, op replicaOp, answer func(replicaReply) bool) {
	s := rp.s
	p := s.ports.take(op.Token)
	want, err := hex.DecodeString(op.JobHash)
	if p != nil && (err != nil || subtle.ConstantTimeCompare(p.ac.jobHash[:], want) != 1) {
		p.deliver(pairedConn{}) // the token is spent: the requester need not wait
		p = nil
	}
	if p == nil {
		answer(replicaReply{Status: http.StatusForbidden})
		return
	}
	if !answer(replicaReply{OK: true}) {
		p.deliver(pairedConn{})
		return
	}
	s.m.forwarded.WithLabelValues("in").Inc()
	if !p.deliver(pairedConn{c: c, prefix: prefix}) {
		c.Close()
	}
}
