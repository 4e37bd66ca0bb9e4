package gateway

// Agents: the in-job agent dials out to GET /api/v1/agent/connect with its job token. The
// connection is admitted in three steps, each its own function: the job token is checked
// with GitLab (admitJob), the yamux handshake reads the agent's Hello and the policy
// decides again with the workspace it names (registerAgent), and then the control stream
// carries status updates until the agent goes (serveAgent).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ws-dev/ws/internal/identity"
	"github.com/ws-dev/ws/tunnel"
)

func (s *Server) handleAgent(w http.ResponseWriter, r *http.Request) {
	job, tok, name, ok := s.admitJob(w, r)
	if !ok {
		return
	}
	sess, stop, ok := acceptSession(w, r)
	if !ok {
		return
	}
	defer stop()
	defer sess.Close()
	ac, lr, ok := s.registerAgent(sess, job, tok, name)
	if !ok {
		return
	}
	defer s.unregisterAgent(ac)
	if err := ac.sendWelcome(tunnel.Welcome{OK: true, Workspace: ac.key(), URL: s.statusURL(ac)}); err != nil {
		return
	}
	phase, _ := ac.getPhase()
	s.log.Info("agent connected", "workspace", ac.key(), "project", ac.projectPath, "job", ac.jobID, "user", ac.username, "phase", phase)
	defer s.watchJob(ac, tok)()
	s.serveAgent(ac, lr)
}

// admitJob checks an agent's request before the upgrade: not draining, not rate-limited,
// the tunnel version, and the job token with GitLab ([AgentAdmission] without the Hello).
// It answers the refusal itself.
func (s *Server) admitJob(w http.ResponseWriter, r *http.Request) (job *identity.Job, tok, name string, ok bool) {
	ip := clientIP(r)
	if s.draining.Load() {
		httpError(w, http.StatusServiceUnavailable, "gateway is shutting down")
		return nil, "", "", false
	}
	if s.rateLimited(w, r, "agent") {
		return nil, "", "", false
	}
	if v := r.Header.Get(tunnel.VersionHeader); v != strconv.Itoa(tunnel.Version) {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("tunnel version %q not supported (want %d); use matching ws releases", v, tunnel.Version))
		return nil, "", "", false
	}
	tok = r.Header.Get(tunnel.JobTokenHeader)
	if tok == "" {
		s.auth.fail(ip)
		s.m.authFailures.WithLabelValues("agent", "unauthorized").Inc()
		httpError(w, http.StatusUnauthorized, "")
		return nil, "", "", false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	job, err := s.cfg.Auth.Job(ctx, tok)
	cancel()
	if err != nil {
		if errors.Is(err, identity.ErrTokenInvalid) {
			s.auth.fail(ip)
			s.m.authFailures.WithLabelValues("agent", "unauthorized").Inc()
			httpError(w, http.StatusUnauthorized, "")
			return nil, "", "", false
		}
		s.log.Warn("agent: cannot verify job token", "remote", ip, "err", err)
		httpError(w, http.StatusBadGateway, "cannot reach GitLab to verify the job")
		return nil, "", "", false
	}
	name, refusal := AgentAdmission(JobFacts{Ref: job.Ref, Status: job.Status}, "")
	if refusal != "" {
		s.m.authFailures.WithLabelValues("agent", "forbidden").Inc()
		s.log.Info("agent refused: "+refusal, "job", job.JobID, "project", job.ProjectID, "ref", job.Ref, "status", job.Status)
		httpError(w, http.StatusForbidden, "")
		return nil, "", "", false
	}
	return job, tok, name, true
}

// registerAgent reads the agent's Hello on sess, admits it for the workspace it names and
// registers it (replacing the same or an older job's agent). It answers a refusal on the
// control stream itself; lr then reads the control stream.
func (s *Server) registerAgent(sess *yamux.Session, job *identity.Job, tok, name string) (ac *agentConn, lr *tunnel.LineReader, ok bool) {
	ac = &agentConn{
		id: s.reg.nextID.Add(1), jobID: job.JobID, pipelineID: job.PipelineID, projectID: job.ProjectID,
		projectPath: job.ProjectPath, name: name, userID: job.UserID, username: job.Username,
		connectedAt: s.clock.Now().UTC(), sess: sess, jobHash: jobTokenHash(tok), changes: &s.reg.changes,
	}
	hello, ctrl, lr, err := s.agentHandshake(sess)
	if err != nil {
		s.log.Info("agent handshake failed", "job", job.JobID, "err", err)
		return nil, nil, false
	}
	ac.ctrl = ctrl
	ac.version = hello.Agent
	ac.endpoints = hello.Endpoints
	ac.portConns = slices.Contains(hello.Caps, tunnel.CapPortConn)
	ac.sshConns = ac.portConns && slices.Contains(hello.Caps, tunnel.CapSSHConn)
	ac.sshHostKey, ac.workingDir = VouchedSSHHostKey(hello.SSHHostKey), hello.WorkingDir
	ac.setPhase(hello.Phase, "")
	if _, refusal := AgentAdmission(JobFacts{Ref: job.Ref, Status: job.Status}, hello.Workspace); refusal != "" || hello.Workspace == "" {
		if refusal == "" {
			refusal = "the Hello names no workspace"
		}
		_ = tunnel.WriteLine(ctrl, tunnel.Welcome{Error: refusal})
		s.m.authFailures.WithLabelValues("agent", "forbidden").Inc()
		s.log.Info("agent refused: "+refusal, "job", job.JobID, "project", job.ProjectID)
		return nil, nil, false
	}
	if s.rp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), tunnel.HandshakeTimeout)
		err := s.rp.claim(ctx, ac)
		cancel()
		if err != nil {
			_ = tunnel.WriteLine(ctrl, tunnel.Welcome{Error: err.Error()})
			return nil, nil, false
		}
		ac.onPhase = s.rp.changed
	}
	old, ok := s.reg.add(ac)
	if !ok {
		if s.rp != nil {
			s.rp.release(ac)
		}
		_ = tunnel.WriteLine(ctrl, tunnel.Welcome{Error: "a newer job holds this workspace"})
		return nil, nil, false
	}
	if old != nil {
		s.log.Info("agent replaced", "workspace", ac.key(), "old_job", old.jobID, "job", ac.jobID)
		old.sess.Close()
	}
	s.m.agents.Inc()
	s.m.agentConns.Inc()
	return ac, lr, true
}

// unregisterAgent forgets ac once its connection has ended.
func (s *Server) unregisterAgent(ac *agentConn) {
	if s.rp != nil {
		s.rp.release(ac)
	}
	s.reg.remove(ac)
	s.m.agents.Dec()
	s.log.Info("agent disconnected", "workspace", ac.key(), "job", ac.jobID)
}

// serveAgent reads ac's control stream (status updates) until the agent goes.
func (s *Server) serveAgent(ac *agentConn, lr *tunnel.LineReader) {
	for {
		var m tunnel.Control
		if err := lr.Read(&m); err != nil {
			return
		}
		if m.Type == tunnel.MsgStatus {
			if p, e := ac.getPhase(); p != m.Phase || e != m.Error {
				// A phase changes a few times in a workspace's life (starting, running,
				// failed, stopping): worth a line, and the tests wait for it.
				s.log.Info("agent phase", "workspace", ac.key(), "job", ac.jobID, "phase", m.Phase, "error", m.Error)
			}
			ac.setPhase(m.Phase, m.Error)
		}
	}
}

func (ac *agentConn) sendWelcome(w tunnel.Welcome) error {
	ac.wmu.Lock()
	defer ac.wmu.Unlock()
	_ = ac.ctrl.SetWriteDeadline(time.Now().Add(tunnel.WriteTimeout))
	return tunnel.WriteLine(ac.ctrl, w)
}

func (s *Server) agentHandshake(sess *yamux.Session) (*tunnel.Hello, net.Conn, *tunnel.LineReader, error) {
	type result struct {
		st  *yamux.Stream
		err error
	}
	ch := make(chan result, 1)
	go func() { st, err := sess.AcceptStream(); ch <- result{st, err} }()
	var st *yamux.Stream
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, nil, nil, r.err
		}
		st = r.st
	case <-time.After(tunnel.HandshakeTimeout):
		return nil, nil, nil, errors.New("no control stream")
	}
	_ = st.SetReadDeadline(time.Now().Add(tunnel.HandshakeTimeout))
	lr := tunnel.NewLineReader(st, tunnel.MaxHelloBytes)
	var h tunnel.Header
	if err := lr.Read(&h); err != nil {
		return nil, nil, nil, err
	}
	if h.Kind != tunnel.KindControl {
		return nil, nil, nil, fmt.Errorf("first stream is %q, not control", h.Kind)
	}
	var hello tunnel.Hello
	if err := lr.Read(&hello); err != nil {
		return nil, nil, nil, err
	}
	if hello.Version != tunnel.Version {
		_ = tunnel.WriteLine(st, tunnel.Welcome{Error: fmt.Sprintf("tunnel version %d not supported", hello.Version)})
		return nil, nil, nil, fmt.Errorf("agent speaks tunnel version %d", hello.Version)
	}
	if len(hello.Endpoints) > 256 {
		hello.Endpoints = hello.Endpoints[:256]
	}
	_ = st.SetReadDeadline(time.Time{})
	return &hello, st, lr, nil
}
