package gateway

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ws-dev/ws/internal/identity"
)

// PhaseStopped is the phase of a workspace whose CI job has ended.
const PhaseStopped = "stopped"

// watchJob re-checks an agent's job token every JobCheckInterval (with
// ±10% jitter, so agents that connected together do not call GitLab
// together). When GitLab refuses the token, or the job is no longer
// running, the job has ended: the agent is marked stopped and dropped.
// When GitLab cannot be reached the agent is kept and checked again
// later. A timer, not a goroutine, waits between checks: idle agents cost
// no stack. The token stays in the closure; it is never logged. The
// returned function stops the checks.
func (s *Server) watchJob(ac *agentConn, token string) (stop func()) {
	every := s.cfg.JobCheckInterval
	if every <= 0 {
		return func() {}
	}
	next := func() time.Duration { return every - every/10 + rand.N(every/5+1) }
	var mu sync.Mutex // orders the assignment of t before its use in f
	var t clockwork.Timer
	mu.Lock()
	defer mu.Unlock()
	t = s.clock.AfterFunc(next(), func() {
		if ac.sess.IsClosed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		job, err := s.cfg.Auth.Job(ctx, token)
		cancel()
		ended := errors.Is(err, identity.ErrTokenInvalid) || (err == nil && (job.JobID != ac.jobID || job.Status != "running"))
		if !ended {
			if err != nil {
				s.log.Warn("agent: cannot re-check job token", "workspace", ac.key(), "job", ac.jobID, "err", err)
			}
			mu.Lock()
			t.Reset(next())
			mu.Unlock()
			return
		}
		ac.setPhase(PhaseStopped, "the CI job ended")
		s.log.Info("agent dropped: its job ended", "workspace", ac.key(), "job", ac.jobID)
		ac.sess.Close()
	})
	return func() {
		mu.Lock()
		t.Stop()
		mu.Unlock()
	}
}
