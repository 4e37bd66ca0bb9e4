package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	reg          *prometheus.Registry
	agents       prometheus.Gauge
	terminals    prometheus.Gauge
	portStreams  prometheus.Gauge
	sshConns     prometheus.Gauge
	toAgent      prometheus.Counter
	fromAgent    prometheus.Counter
	authFailures *prometheus.CounterVec
	agentConns   prometheus.Counter
	portConns    prometheus.Counter
	streamLimit  *prometheus.CounterVec
	crossSite    prometheus.Counter
	// Replicas (shared state).
	forwarded       *prometheus.CounterVec
	forwardedActive prometheus.Gauge
	redisErrors     prometheus.Counter
	redisUp         prometheus.Gauge
	leasesLost      prometheus.Counter
	replicaRefused  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.agents = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws_gateway_agents_connected", Help: "Agents currently connected."})
	m.terminals = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws_gateway_terminals_active", Help: "Shell and command sessions currently open (CLI and browser)."})
	m.portStreams = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws_gateway_port_streams_active", Help: "TCP streams to workspace ports currently open (port-forward and endpoint URLs)."})
	m.sshConns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws_gateway_ssh_connections_active", Help: "SSH connections to workspaces currently open (ws ssh, OpenSSH through ws ssh --stdio)."})
	m.toAgent = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_bytes_to_agent_total", Help: "Payload bytes sent to agents."})
	m.fromAgent = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_bytes_from_agent_total", Help: "Payload bytes received from agents."})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ws_gateway_auth_failures_total", Help: "Rejected credentials, by who presented them (agent, user) and the answer (unauthorized, forbidden, rate_limited)."}, []string{"who", "reason"})
	m.agentConns = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_agent_connections_total", Help: "Agent connections accepted since start."})
	m.portConns = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_port_data_connections_total", Help: "Port streams (port-forward, endpoint URLs) and SSH connections carried on spliced data connections (not yamux) since start."})
	m.streamLimit = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ws_gateway_stream_limit_refusals_total", Help: "Streams and connections refused because a limit was reached: where=tunnel (streams of one CLI tunnel), agent (streams and port data connections to one agent) or user (tunnels, terminals and data connections of one user)."}, []string{"where"})
	m.crossSite = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_cross_site_refusals_total", Help: "Cookie-authenticated, state-changing or WebSocket requests refused because another origin made them."})
	m.forwarded = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ws_gateway_forwarded_streams_total", Help: "Streams forwarded between replicas: direction=out (this replica forwarded a user's stream to the agent's holder) or in (this replica, the holder, carried one for another)."}, []string{"direction"})
	m.forwardedActive = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws_gateway_forwarded_streams_active", Help: "Streams this replica currently forwards to or carries for another replica."})
	m.redisErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_redis_errors_total", Help: "Errors from the shared state (Redis): commands that failed or could not reach it."})
	m.redisUp = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws_gateway_redis_up", Help: "1 when the last ping of the shared state (Redis) succeeded; 0 when it failed. Absent without shared state."})
	m.leasesLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_agent_leases_lost_total", Help: "Agent connections this replica dropped because the agent had connected to another replica since."})
	m.replicaRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_gateway_replica_requests_refused_total", Help: "Requests on the replica channel refused: unsigned, badly signed, too old or replayed."})
	m.reg.MustRegister(m.agents, m.terminals, m.portStreams, m.sshConns, m.toAgent, m.fromAgent, m.authFailures, m.agentConns, m.portConns, m.streamLimit, m.crossSite,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// registerReplicas adds the metrics of a replica (shared state).
func (m *metrics) registerReplicas() {
	m.redisUp.Set(1)
	m.reg.MustRegister(m.forwarded, m.forwardedActive, m.redisErrors, m.redisUp, m.leasesLost, m.replicaRefused)
}
