package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/net/http/httpproxy"

	"github.com/ws-dev/ws/internal/proctree"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

// Config is what the agent needs; cmd/agent fills it from the plan, flags
// and the job's environment.
type Config struct {
	Plan *plan.Plan
	// Token is the job's CI_JOB_TOKEN; it is sent only to the gateway.
	Token string
	// Gateway is the gateway base URL; empty runs without a tunnel.
	Gateway string
	// Out is the job log.
	Out io.Writer
	// LogFile also receives everything written to Out; empty for none.
	LogFile string
	// IdleTimeout ends the agent after this long with no shell and no
	// port traffic; 0 disables it.
	IdleTimeout time.Duration
	// StopTimeout bounds the preStop commands (default 8s: runners send
	// SIGKILL about 10s after SIGTERM).
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound reconnect delays (defaults 250ms, 15s).
	MinBackoff, MaxBackoff time.Duration
	// Env is the environment for commands and shells (default os.Environ()).
	Env []string
	// Version is reported to the gateway.
	Version string
	// HTTPClient dials the gateway (default http.DefaultClient).
	HTTPClient *http.Client
	// NoPortConns leaves CapPortConn out of the Hello: port streams then
	// stay on the yamux session (tests; agents before data connections).
	NoPortConns bool
	// Deadline, when not zero, ends the agent cleanly at that time
	// (ReasonDeadline): cmd/agent sets it to the job's start + timeout −
	// the plan's stop margin (JobDeadline), so preStop, after_script and
	// the uploads run before GitLab's hard cap.
	Deadline time.Time
	// StopClaim is a file in the job's project directory whose creation
	// claims this job's preStop run: whoever creates it first, the agent
	// or after_script ('--hook stop'), runs preStop; empty: always run it.
	StopClaim string
	// Sentinel is the command that runs this binary as the stop sentinel
	// (see sentinel.go); empty: no sentinel (set on the Docker executor).
	Sentinel []string
	// Cgroup names the cgroup v2 the agent makes for the workspace's
	// processes when it may (e.g. ws-job-<CI_JOB_ID>); empty: subreaper only.
	Cgroup string
	// ReapOrphans: this process is the agent alone (agent/cli), so in
	// subreaper mode it reaps every orphan reparented to it; leave it off
	// when the agent shares its process with other code (tests).
	ReapOrphans bool
	// CredentialHelper runs this binary's git credential helper (agent/cli's
	// 'git-credential'): sessions get git configured to ask it for the job's
	// GitLab (gitcred.go); empty: git is left alone.
	CredentialHelper []string
	// NoSSH leaves the SSH server out (no host key in the Hello).
	NoSSH bool
}

// Reason says why Run returned.
type Reason string

const (
	ReasonStopped  Reason = "stopped"  // the context was cancelled (SIGTERM)
	ReasonIdle     Reason = "idle"     // the idle timeout expired
	ReasonDeadline Reason = "deadline" // Config.Deadline came: the job's time is nearly up
	ReasonRunner   Reason = "runner"   // the runner is signalling the job's processes (the sentinel heard it)
)

// why is the reason in words, for the users of the workspace.
func (r Reason) why(idle time.Duration) string {
	switch r {
	case ReasonIdle:
		return fmt.Sprintf("no shell, SSH connection or port traffic for %s", idle)
	case ReasonDeadline:
		return "it reached the job's time limit"
	case ReasonRunner:
		return "the job was cancelled or ended"
	}
	return "it was asked to stop"
}

// Agent is one running agent.
type Agent struct {
	cfg  Config
	tree *proctree.Tree
	// treeErr is a warning from making the tree (orphans may escape).
	treeErr error

	sentinelMu  sync.Mutex
	sentinel    *sentinel          // the current one: it listens, highest PID
	sentinels   map[*sentinel]bool // every live one
	sentinelSeq int
	newestReady chan struct{}
	runnerStop  chan struct{} // closed when the sentinel heard the runner's SIGTERM
	stopOnce    sync.Once
	stopping    atomic.Bool

	logMu   sync.Mutex
	logFile *os.File

	active       atomic.Int64 // open shell/exec sessions
	lastActivity atomic.Int64 // unix nanos

	phaseMu  sync.Mutex
	phase    string
	phaseErr string
	ctrlMu   sync.Mutex
	ctrl     func(tunnel.Control) // sends on the current control stream

	connected atomic.Bool

	sshd *sshd // the SSH server (ssh.go); nil without one
}

// New returns an agent for cfg.
func New(cfg Config) *Agent {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 8 * time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 15 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Plan == nil {
		cfg.Plan = &plan.Plan{Version: plan.Version}
	}
	if !cfg.NoPortConns && behindProxy(cfg.Gateway) {
		// Port data connections dial the gateway directly; behind an HTTP
		// proxy they would only fail after a timeout, so keep port streams
		// on the tunnel, which goes through the proxy.
		cfg.NoPortConns = true
	}
	a := &Agent{cfg: cfg, phase: "starting", runnerStop: make(chan struct{}), sentinels: map[*sentinel]bool{}}
	a.tree, a.treeErr = proctree.New(proctree.Options{Name: cfg.Cgroup, Reap: cfg.ReapOrphans})
	if !cfg.NoSSH {
		// Without a host key (no randomness) the workspace still serves shells and ports.
		a.sshd, _ = newSSHD(a)
	}
	a.touch()
	return a
}

// Connected reports whether the agent currently holds a gateway connection.
func (a *Agent) Connected() bool { return a.connected.Load() }

// Run runs postStart, serves the tunnel, and returns when ctx is cancelled
// (after running preStop) or when the idle timeout expires.
func (a *Agent) Run(ctx context.Context) (Reason, error) {
	if err := a.openLog(); err != nil {
		return "", err
	}
	defer a.closeLog()
	defer a.tree.Close()
	a.logf("workspace %q: agent starting; its processes are kept %s", a.cfg.Plan.Workspace, a.treeText())
	if a.treeErr != nil {
		a.logf("warning: %v", a.treeErr)
	}
	if !a.cfg.Deadline.IsZero() {
		a.logf("the workspace stops itself cleanly at %s, before the job's time limit", a.cfg.Deadline.UTC().Format(time.RFC3339))
	}
	a.respawnSentinel()

	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.keepSentinelOnTop(runCtx)
	var wg sync.WaitGroup
	if a.cfg.Gateway != "" {
		wg.Add(1)
		go func() { defer wg.Done(); a.connectLoop(runCtx) }()
	} else {
		a.logf("no gateway configured: running start-up commands only; no terminal or ports")
	}
	go func() {
		a.prepareVolumes()     // agent/volumes.go: the devfile's volumes, before anything uses them
		a.installDotfiles(ctx) // agent/dotfiles.go: before postStart, as Codespaces does
		if err := a.RunSteps(ctx, "postStart", a.cfg.Plan.PostStart); err != nil {
			if ctx.Err() == nil {
				a.logf("%v; the workspace stays up so you can look (ws shell)", err)
				a.setPhase("failed", err.Error())
			}
			return
		}
		// Ready once the stop sentinel is in place above what postStart started.
		a.waitSentinel(5 * time.Second)
		a.logf("workspace %q is ready", a.cfg.Plan.Workspace)
		a.setPhase("running", "")
	}()

	reason := a.wait(ctx)
	a.stopping.Store(true)
	switch reason {
	case ReasonIdle:
		a.logf("no shell and no port traffic for %s: stopping the workspace", a.cfg.IdleTimeout)
	case ReasonDeadline:
		a.logf("the workspace reached its time limit: stopping cleanly so that after_script (postStop) and the cache upload still run")
	case ReasonRunner:
		a.logf("the runner is stopping the job (SIGTERM to the job's processes): running preStop first")
	default:
		a.logf("stop requested")
	}
	a.setPhase("stopping", "")
	if a.sshd != nil {
		a.sshd.stopping(reason.why(a.cfg.IdleTimeout))
	}
	a.preStop()
	a.stopSentinel()
	a.terminate(2 * time.Second)
	cancel()
	wg.Wait()
	a.logf("agent stopped (%s)", reason)
	return reason, nil
}

// HookStop is the hook after_script runs: preStop, unless the agent already
// claimed it for this job (Config.StopClaim), then postStop, then the end
// of whatever the job left in its cgroup.
const HookStop = "stop"

// RunHook runs one stage of the plan, or HookStop, and returns.
func (a *Agent) RunHook(ctx context.Context, hook string) error {
	if err := a.openLog(); err != nil {
		return err
	}
	defer a.closeLog()
	defer a.tree.Close()
	var err error
	switch hook {
	case HookStop:
		a.preStop()
		err = a.RunSteps(ctx, "postStop", a.cfg.Plan.PostStop)
	case "postStart":
		a.prepareVolumes()
		err = a.RunSteps(ctx, hook, a.cfg.Plan.PostStart)
	case "preStop":
		err = a.RunSteps(ctx, hook, a.cfg.Plan.PreStop)
	case "postStop":
		err = a.RunSteps(ctx, hook, a.cfg.Plan.PostStop)
	default:
		return fmt.Errorf("unknown hook %q: want stop, postStart, preStop or postStop", hook)
	}
	a.terminate(2 * time.Second)
	return err
}

func (a *Agent) wait(ctx context.Context) Reason {
	var deadline <-chan time.Time
	if !a.cfg.Deadline.IsZero() {
		t := time.NewTimer(time.Until(a.cfg.Deadline))
		defer t.Stop()
		deadline = t.C
	}
	var idle <-chan time.Time
	if a.cfg.IdleTimeout > 0 {
		tick := a.cfg.IdleTimeout / 20
		tick = max(min(tick, 5*time.Second), 50*time.Millisecond)
		t := time.NewTicker(tick)
		defer t.Stop()
		idle = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ReasonStopped
		case <-deadline:
			return ReasonDeadline
		case <-a.runnerStop:
			return ReasonRunner
		case <-idle:
			if a.active.Load() > 0 {
				a.touch()
				continue
			}
			if time.Since(time.Unix(0, a.lastActivity.Load())) >= a.cfg.IdleTimeout {
				return ReasonIdle
			}
		}
	}
}

func (a *Agent) touch() { a.lastActivity.Store(time.Now().UnixNano()) }

// terminate ends every process of the workspace, however it detached:
// SIGTERM, then SIGKILL to those still running after grace.
func (a *Agent) terminate(grace time.Duration) {
	if left := a.tree.Kill(grace); len(left) > 0 {
		a.logf("warning: processes still running after the stop: %v", left)
	}
}

func (a *Agent) setPhase(phase, errText string) {
	a.phaseMu.Lock()
	a.phase, a.phaseErr = phase, errText
	a.phaseMu.Unlock()
	a.sendControl(tunnel.Control{Type: tunnel.MsgStatus, Phase: phase, Error: errText})
}

func (a *Agent) currentPhase() (string, string) {
	a.phaseMu.Lock()
	defer a.phaseMu.Unlock()
	return a.phase, a.phaseErr
}

func (a *Agent) sendControl(m tunnel.Control) {
	a.ctrlMu.Lock()
	defer a.ctrlMu.Unlock()
	if a.ctrl != nil {
		a.ctrl(m)
	}
}

// connectLoop keeps a gateway connection, reconnecting with exponential
// backoff and full jitter.
func (a *Agent) connectLoop(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		start := time.Now()
		quick, err := a.connectOnce(ctx)
		a.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 30*time.Second {
			attempt = 0
		}
		var d time.Duration
		if quick {
			attempt = 0
			d = time.Duration(rand.Int64N(int64(a.cfg.MinBackoff) + 1))
			a.logf("gateway asked to reconnect")
		} else {
			d = backoff(attempt, a.cfg.MinBackoff, a.cfg.MaxBackoff)
			attempt++
			a.logf("gateway connection: %v; retrying in %s", err, d.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// backoff is min·2^attempt capped at max, with full jitter in [d/2, d].
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 30)
	if d <= 0 || d > hi {
		d = hi
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// connectOnce dials the gateway and serves until the connection ends. quick
// reports a reconnect requested by the gateway.
func (a *Agent) connectOnce(ctx context.Context) (quick bool, err error) {
	url := strings.TrimRight(a.cfg.Gateway, "/") + tunnel.AgentPath
	h := http.Header{}
	h.Set(tunnel.JobTokenHeader, a.cfg.Token)
	ws, status, err := tunnel.Dial(ctx, url, h, a.cfg.HTTPClient)
	if err != nil {
		switch status {
		case http.StatusUnauthorized:
			return false, errors.New("gateway refused the job token (401): the job may have ended")
		case http.StatusForbidden:
			return false, errors.New("gateway refused this job (403): it must run on a ws/<name> branch")
		case 0:
			return false, fmt.Errorf("dial %s: %w", a.cfg.Gateway, err)
		}
		return false, fmt.Errorf("gateway answered %d", status)
	}
	connCtx, cancel := context.WithCancel(ctx)
	draining := false // the connection outlives this call, serving its open streams
	defer func() {
		if !draining {
			cancel()
		}
	}()
	sess, err := tunnel.Client(connCtx, ws)
	if err != nil {
		ws.CloseNow()
		return false, err
	}
	defer func() {
		if !draining {
			sess.Close()
		}
	}()
	ctrl, err := a.handshake(sess)
	if err != nil {
		return false, err
	}
	a.connected.Store(true)
	a.logf("connected to gateway %s", a.cfg.Gateway)

	var wmu sync.Mutex
	a.ctrlMu.Lock()
	a.ctrl = func(m tunnel.Control) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = ctrl.SetWriteDeadline(time.Now().Add(tunnel.WriteTimeout))
		_ = tunnel.WriteLine(ctrl, m)
	}
	a.ctrlMu.Unlock()
	// A phase set after the Hello read it (postStart ending during the handshake) was sent
	// to no one: send the current one again.
	phase, errText := a.currentPhase()
	a.sendControl(tunnel.Control{Type: tunnel.MsgStatus, Phase: phase, Error: errText})
	defer func() {
		a.ctrlMu.Lock()
		a.ctrl = nil
		a.ctrlMu.Unlock()
	}()

	// The gateway's "reconnect" (it is shutting down) stops the accepting of new streams:
	// the agent connects again (through the load balancer, to another replica) while the
	// streams open on this connection — shells, port connections — go on until they end
	// or the gateway closes the connection at the end of its drain.
	var reconnect atomic.Bool
	moving, move := context.WithCancel(connCtx)
	defer move()
	go func() {
		lr := tunnel.NewLineReader(ctrl, tunnel.MaxHeaderBytes)
		for {
			var m tunnel.Control
			if err := lr.Read(&m); err != nil {
				sess.Close()
				return
			}
			if m.Type == tunnel.MsgReconnect {
				reconnect.Store(true)
				move()
				return
			}
		}
	}()

	srv := newServer(a, sess)
	var handlers sync.WaitGroup
	for {
		st, err := sess.AcceptStreamWithContext(moving)
		if err != nil {
			if reconnect.Load() {
				draining = true
				go func() {
					handlers.Wait()
					srv.close()
					sess.Close()
					cancel()
				}()
				return true, nil
			}
			srv.close()
			if errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, io.EOF) {
				err = errors.New("connection closed")
			}
			return false, err
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			srv.handle(st)
		}()
	}
}

func (a *Agent) handshake(sess *yamux.Session) (*yamux.Stream, error) {
	st, err := sess.OpenStream()
	if err != nil {
		return nil, err
	}
	_ = st.SetDeadline(time.Now().Add(tunnel.HandshakeTimeout))
	phase, _ := a.currentPhase()
	hello := tunnel.Hello{Version: tunnel.Version, Workspace: a.cfg.Plan.Workspace, Agent: a.cfg.Version, Phase: phase, WorkingDir: a.cfg.Plan.WorkingDir}
	if a.sshd != nil {
		hello.SSHHostKey = a.sshd.hostKey
	}
	if !a.cfg.NoPortConns {
		hello.Caps = []string{tunnel.CapPortConn}
		if a.sshd != nil {
			hello.Caps = append(hello.Caps, tunnel.CapSSHConn)
		}
	}
	for _, e := range a.cfg.Plan.Endpoints {
		hello.Endpoints = append(hello.Endpoints, tunnel.Endpoint{Name: e.Name, Port: e.TargetPort, Protocol: e.Protocol, Exposure: e.Exposure, Path: e.Path})
	}
	if err := tunnel.WriteLine(st, tunnel.Header{Kind: tunnel.KindControl}); err != nil {
		return nil, err
	}
	if err := tunnel.WriteLine(st, hello); err != nil {
		return nil, err
	}
	var w tunnel.Welcome
	if err := tunnel.NewLineReader(st, tunnel.MaxHeaderBytes).Read(&w); err != nil {
		return nil, fmt.Errorf("gateway handshake: %w", err)
	}
	if !w.OK {
		return nil, fmt.Errorf("gateway refused the agent: %s", w.Error)
	}
	_ = st.SetDeadline(time.Time{})
	return st, nil
}

func (a *Agent) env() []string {
	env := append([]string(nil), a.cfg.Env...)
	// The job token stays with the agent: shells and commands get no copy
	// of it through us beyond what the job itself already exported.
	return append(env, "WS_WORKSPACE="+a.cfg.Plan.Workspace)
}

// sessionEnv is the environment of a user's shell, command or SSH session: the workspace's,
// with git set up to ask the agent's credential helper for the job's GitLab (gitcred.go).
func (a *Agent) sessionEnv() []string {
	return gitCredentialEnv(a.env(), a.cfg.CredentialHelper)
}

func (a *Agent) openLog() error {
	if a.cfg.LogFile == "" {
		return nil
	}
	f, err := os.OpenFile(a.cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open agent log: %w", err)
	}
	a.logMu.Lock()
	a.logFile = f
	a.logMu.Unlock()
	return nil
}

func (a *Agent) closeLog() {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	if a.logFile != nil {
		a.logFile.Close()
		a.logFile = nil
	}
}

func (a *Agent) writeLog(s string) {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	// A log line that cannot be written has nowhere else to be reported.
	_, _ = io.WriteString(a.cfg.Out, s)
	if a.logFile != nil {
		_, _ = a.logFile.WriteString(s)
	}
}

func (a *Agent) logf(format string, args ...any) {
	a.writeLog("ws-agent: " + fmt.Sprintf(format, args...) + "\n")
}

// behindProxy reports whether the environment (HTTPS_PROXY, HTTP_PROXY,
// NO_PROXY, as net/http reads them) sends requests to the gateway through a
// proxy. It reads the environment on each call (net/http caches it).
func behindProxy(gateway string) bool {
	if gateway == "" {
		return false
	}
	u, err := url.Parse(gateway)
	if err != nil {
		return false
	}
	p, err := httpproxy.FromEnvironment().ProxyFunc()(u)
	return err == nil && p != nil
}
