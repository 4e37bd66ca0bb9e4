// Package gateway implements 'ws gateway serve'.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/cmd/cmdutil"
	gw "github.com/ws-dev/ws/gateway"
	"github.com/ws-dev/ws/internal/kv"
	"github.com/ws-dev/ws/internal/kv/rediskv"
)

// ServeOptions are the inputs of 'ws gateway serve'.
type ServeOptions struct {
	IO               *cmdutil.IOStreams
	Getenv           func(string) string
	ConfigFile       string
	Listen           string
	GitLabURL        string
	PublicURL        string
	TLSCert          string
	TLSKey           string
	EndpointDomain   string
	PathURLs         bool
	AllowMaintainers bool
	AllowedOrigins   []string
	OAuthClientID    string
	// OAuthClientSecret comes from its flag, env or key, or from OAuthClientSecretFile.
	OAuthClientSecret     string
	OAuthClientSecretFile string
	// Limits (0: the gateway's defaults).
	MaxTunnelStreams   int
	MaxAgentStreams    int
	MaxUserConns       int
	MaxSessionsPerUser int
	// Replicas (docs/gateway.md, "Replicas"): the shared Redis, this replica's channel
	// listener and the address the others reach it at, and the replicas' secret
	// (WS_GATEWAY_REPLICA_SECRET or its file; never a flag value).
	RedisURL          string
	ReplicaListen     string
	ReplicaAddr       string
	ReplicaSecretFile string
	ReplicaSecret     []byte
	// DrainTimeout bounds a graceful stop (SIGTERM): streams still open then are closed.
	DrainTimeout time.Duration
	// Ready, when set, receives the bound address (tests).
	Ready func(net.Addr)
	set   map[string]bool // flags given on the command line
}

// fileConfig is the YAML config file; keys match the flags.
type fileConfig struct {
	Listen           string   `yaml:"listen"`
	GitLabURL        string   `yaml:"gitlab-url"`
	PublicURL        string   `yaml:"public-url"`
	TLSCert          string   `yaml:"tls-cert"`
	TLSKey           string   `yaml:"tls-key"`
	EndpointDomain   string   `yaml:"endpoint-domain"`
	PathURLs         *bool    `yaml:"path-urls"`
	AllowMaintainers *bool    `yaml:"allow-maintainers"`
	AllowedOrigins   []string `yaml:"allowed-origins"`
	OAuthClientID    string   `yaml:"oauth-client-id"`
	OAuthSecret      string   `yaml:"oauth-client-secret"`
	OAuthSecretFile  string   `yaml:"oauth-client-secret-file"`
	MaxTunnelStreams *int     `yaml:"max-tunnel-streams"`
	MaxAgentStreams  *int     `yaml:"max-agent-streams"`
	MaxUserConns     *int     `yaml:"max-user-conns"`
	MaxSessions      *int     `yaml:"max-sessions-per-user"`
	RedisURL         string   `yaml:"redis-url"`
	ReplicaListen    string   `yaml:"replica-listen"`
	ReplicaAddr      string   `yaml:"replica-addr"`
	ReplicaSecret    string   `yaml:"replica-secret-file"`
	DrainTimeout     string   `yaml:"drain-timeout"`
}

// NewCmdGateway returns 'ws gateway' with its 'serve' subcommand.
func NewCmdGateway(f *cmdutil.Factory, runF func(*ServeOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		GroupID: "admin",
		Use:     "gateway <command>",
		Short:   "Run the ws gateway that agents dial out to",
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	cmd.AddCommand(newCmdServe(f, runF))
	return cmd
}

func newCmdServe(f *cmdutil.Factory, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO, Getenv: f.Getenv}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve agents, terminals and endpoint URLs",
		Long: `Serve the ws gateway. Each setting comes from its flag, else the environment
variable WS_GATEWAY_<FLAG> (for example WS_GATEWAY_PUBLIC_URL), else the YAML
config file (--config or WS_GATEWAY_CONFIG; keys are the flag names).

One gateway keeps its state in memory. Several replicas behind a load balancer
share it in Redis (--redis-url) and forward requests for an agent another
replica holds over the replica channel (--replica-listen, signed with the
secret in WS_GATEWAY_REPLICA_SECRET or --replica-secret-file).
See docs/gateway.md.`,
		Example: `  $ ws gateway serve --listen :8443 --gitlab-url https://gitlab.example.com \
      --public-url https://ws.example.com --tls-cert cert.pem --tls-key key.pem

  # one of several replicas (the secret: openssl rand -hex 32)
  $ WS_GATEWAY_REPLICA_SECRET=... ws gateway serve --gitlab-url https://gitlab.example.com \
      --public-url https://ws.example.com --redis-url rediss://:PASSWORD@redis:6379/0 \
      --replica-listen :8081 --replica-addr 10.0.0.5:8081`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.set = map[string]bool{}
			for _, name := range []string{"listen", "gitlab-url", "public-url", "tls-cert", "tls-key", "endpoint-domain", "path-urls", "allow-maintainers", "allowed-origins", "oauth-client-id", "oauth-client-secret", "oauth-client-secret-file", "max-tunnel-streams", "max-agent-streams", "max-user-conns", "max-sessions-per-user", "redis-url", "replica-listen", "replica-addr", "replica-secret-file", "drain-timeout"} {
				opts.set[name] = c.Flags().Changed(name)
			}
			if err := opts.resolve(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return serveRun(c.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.ConfigFile, "config", "", "YAML config `file`")
	fl.StringVar(&opts.Listen, "listen", ":8080", "address to listen on")
	fl.StringVar(&opts.GitLabURL, "gitlab-url", "", "GitLab instance that issues the tokens")
	fl.StringVar(&opts.PublicURL, "public-url", "", "the gateway's external URL, e.g. https://ws.example.com")
	fl.StringVar(&opts.TLSCert, "tls-cert", "", "TLS certificate `file` (PEM); without it, plain HTTP behind a TLS proxy")
	fl.StringVar(&opts.TLSKey, "tls-key", "", "TLS key `file` (PEM)")
	fl.StringVar(&opts.EndpointDomain, "endpoint-domain", "", "wildcard domain of endpoint URLs (default: the public URL's host)")
	fl.BoolVar(&opts.PathURLs, "path-urls", false, "serve and advertise path-based endpoint URLs (no wildcard DNS); unsafe with several users, see docs/gateway.md")
	fl.BoolVar(&opts.AllowMaintainers, "allow-maintainers", false, "let project maintainers attach to others' workspaces")
	fl.StringSliceVar(&opts.AllowedOrigins, "allowed-origins", nil, "extra Origin host patterns for the terminal API WebSocket (never endpoint hosts)")
	fl.StringVar(&opts.OAuthClientID, "oauth-client-id", "", "GitLab OAuth application ID: enables \"Sign in with GitLab\" on the web page")
	fl.StringVar(&opts.OAuthClientSecret, "oauth-client-secret", "", "the OAuth application's secret (confidential applications; prefer the file)")
	fl.StringVar(&opts.OAuthClientSecretFile, "oauth-client-secret-file", "", "`file` holding the OAuth application's secret")
	fl.IntVar(&opts.MaxTunnelStreams, "max-tunnel-streams", gw.DefaultMaxTunnelStreams, "streams one CLI tunnel may have open")
	fl.IntVar(&opts.MaxAgentStreams, "max-agent-streams", gw.DefaultMaxAgentStreams, "streams and port connections open to one workspace's agent")
	fl.IntVar(&opts.MaxUserConns, "max-user-conns", gw.DefaultMaxUserConns, "CLI tunnels, web terminals and port/SSH data connections one user holds open on this replica")
	fl.IntVar(&opts.MaxSessionsPerUser, "max-sessions-per-user", gw.DefaultMaxSessionsPerUser, "browser sessions per user; a new one ends the oldest")
	fl.StringVar(&opts.RedisURL, "redis-url", "", "shared Redis of several replicas: redis://[:password@]host:port/db, rediss://, redis+sentinel://, redis+cluster:// (docs/gateway.md); none: one gateway, state in memory")
	fl.StringVar(&opts.ReplicaListen, "replica-listen", ":8081", "with --redis-url: address of the replica channel listener (other replicas only, never the public load balancer)")
	fl.StringVar(&opts.ReplicaAddr, "replica-addr", "", "with --redis-url: host:port at which the other replicas reach this one's replica listener (e.g. the pod IP)")
	fl.DurationVar(&opts.DrainTimeout, "drain-timeout", 10*time.Second, "on SIGTERM: how long agents' open streams may go on after they were told to reconnect elsewhere")
	fl.StringVar(&opts.ReplicaSecretFile, "replica-secret-file", "", "with --redis-url: `file` holding the replicas' shared secret (at least 32 bytes; or WS_GATEWAY_REPLICA_SECRET)")
	return cmd
}

func (o *ServeOptions) resolve() error {
	var fc fileConfig
	path := o.ConfigFile
	if path == "" {
		path = o.Getenv("WS_GATEWAY_CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read gateway config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil && !errors.Is(err, errEOF) {
			return &cmdutil.HintError{Err: fmt.Errorf("%s: %w", path, err), Hint: "keys are the flag names: listen, gitlab-url, public-url, tls-cert, tls-key, endpoint-domain, path-urls, allow-maintainers, allowed-origins, oauth-client-id, oauth-client-secret, oauth-client-secret-file, max-tunnel-streams, max-agent-streams, max-user-conns, max-sessions-per-user, redis-url, replica-listen, replica-addr, replica-secret-file, drain-timeout"}
		}
	}
	str := func(flag string, dst *string, file string) {
		if o.set[flag] {
			return
		}
		env := "WS_GATEWAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
		if v := o.Getenv(env); v != "" {
			*dst = v
		} else if file != "" {
			*dst = file
		}
	}
	boolean := func(flag string, dst *bool, file *bool) error {
		if o.set[flag] {
			return nil
		}
		env := "WS_GATEWAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
		if v := o.Getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cmdutil.FlagErrorf("gateway serve", "%s=%q: want true or false", env, v)
			}
			*dst = b
		} else if file != nil {
			*dst = *file
		}
		return nil
	}
	str("listen", &o.Listen, fc.Listen)
	str("gitlab-url", &o.GitLabURL, fc.GitLabURL)
	str("public-url", &o.PublicURL, fc.PublicURL)
	str("tls-cert", &o.TLSCert, fc.TLSCert)
	str("tls-key", &o.TLSKey, fc.TLSKey)
	str("endpoint-domain", &o.EndpointDomain, fc.EndpointDomain)
	str("oauth-client-id", &o.OAuthClientID, fc.OAuthClientID)
	str("oauth-client-secret", &o.OAuthClientSecret, fc.OAuthSecret)
	str("oauth-client-secret-file", &o.OAuthClientSecretFile, fc.OAuthSecretFile)
	if err := boolean("path-urls", &o.PathURLs, fc.PathURLs); err != nil {
		return err
	}
	if err := boolean("allow-maintainers", &o.AllowMaintainers, fc.AllowMaintainers); err != nil {
		return err
	}
	for _, n := range []struct {
		flag string
		dst  *int
		file *int
	}{{"max-tunnel-streams", &o.MaxTunnelStreams, fc.MaxTunnelStreams}, {"max-agent-streams", &o.MaxAgentStreams, fc.MaxAgentStreams}, {"max-user-conns", &o.MaxUserConns, fc.MaxUserConns},
		{"max-sessions-per-user", &o.MaxSessionsPerUser, fc.MaxSessions}} {
		if !o.set[n.flag] {
			env := "WS_GATEWAY_" + strings.ToUpper(strings.ReplaceAll(n.flag, "-", "_"))
			if v := o.Getenv(env); v != "" {
				i, err := strconv.Atoi(v)
				if err != nil {
					return cmdutil.FlagErrorf("gateway serve", "%s=%q: want a number", env, v)
				}
				*n.dst = i
			} else if n.file != nil {
				*n.dst = *n.file
			}
		}
		if *n.dst < 1 {
			return cmdutil.FlagErrorf("gateway serve", "--%s must be at least 1", n.flag)
		}
	}
	if !o.set["allowed-origins"] {
		if v := o.Getenv("WS_GATEWAY_ALLOWED_ORIGINS"); v != "" {
			o.AllowedOrigins = strings.Split(v, ",")
		} else if fc.AllowedOrigins != nil {
			o.AllowedOrigins = fc.AllowedOrigins
		}
	}
	if o.GitLabURL == "" {
		return cmdutil.FlagErrorf("gateway serve", "missing --gitlab-url (or WS_GATEWAY_GITLAB_URL, or gitlab-url in the config file)")
	}
	if o.PublicURL == "" {
		return cmdutil.FlagErrorf("gateway serve", "missing --public-url (or WS_GATEWAY_PUBLIC_URL, or public-url in the config file)")
	}
	if o.OAuthClientSecret != "" && o.OAuthClientSecretFile != "" {
		return cmdutil.FlagErrorf("gateway serve", "give the OAuth client secret or its file, not both")
	}
	if o.OAuthClientSecretFile != "" {
		b, err := os.ReadFile(o.OAuthClientSecretFile)
		if err != nil {
			return fmt.Errorf("read OAuth client secret: %w", err)
		}
		o.OAuthClientSecret = strings.TrimSpace(string(b))
	}
	if o.OAuthClientSecret != "" && o.OAuthClientID == "" {
		return cmdutil.FlagErrorf("gateway serve", "an OAuth client secret needs --oauth-client-id")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return cmdutil.FlagErrorf("gateway serve", "--tls-cert and --tls-key go together")
	}
	return o.resolveReplica(fc)
}

// resolveReplica reads the replica settings: with a Redis URL, the replica channel needs
// an address the other replicas reach and the shared secret.
func (o *ServeOptions) resolveReplica(fc fileConfig) error {
	str := func(flag string, dst *string, file string) {
		if o.set[flag] {
			return
		}
		if v := o.Getenv("WS_GATEWAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))); v != "" {
			*dst = v
		} else if file != "" {
			*dst = file
		}
	}
	str("redis-url", &o.RedisURL, fc.RedisURL)
	str("replica-listen", &o.ReplicaListen, fc.ReplicaListen)
	str("replica-addr", &o.ReplicaAddr, fc.ReplicaAddr)
	str("replica-secret-file", &o.ReplicaSecretFile, fc.ReplicaSecret)
	drain := ""
	str("drain-timeout", &drain, fc.DrainTimeout)
	if drain != "" {
		d, err := time.ParseDuration(drain)
		if err != nil {
			return cmdutil.FlagErrorf("gateway serve", "drain-timeout %q: want a duration such as 10s", drain)
		}
		o.DrainTimeout = d
	}
	if o.DrainTimeout <= 0 {
		return cmdutil.FlagErrorf("gateway serve", "--drain-timeout must be positive")
	}
	if o.RedisURL == "" {
		return nil
	}
	env := o.Getenv("WS_GATEWAY_REPLICA_SECRET")
	switch {
	case env != "" && o.ReplicaSecretFile != "":
		return cmdutil.FlagErrorf("gateway serve", "give the replica secret in WS_GATEWAY_REPLICA_SECRET or --replica-secret-file, not both")
	case env != "":
		o.ReplicaSecret = []byte(env)
	case o.ReplicaSecretFile != "":
		b, err := os.ReadFile(o.ReplicaSecretFile)
		if err != nil {
			return fmt.Errorf("read replica secret: %w", err)
		}
		o.ReplicaSecret = []byte(strings.TrimSpace(string(b)))
	default:
		return cmdutil.FlagErrorf("gateway serve", "--redis-url needs the replicas' shared secret: --replica-secret-file or WS_GATEWAY_REPLICA_SECRET (at least 32 bytes, e.g. from 'openssl rand -hex 32')")
	}
	if len(o.ReplicaSecret) < 32 {
		return cmdutil.FlagErrorf("gateway serve", "the replica secret is %d bytes; it must be at least 32 (e.g. 'openssl rand -hex 32')", len(o.ReplicaSecret))
	}
	if o.ReplicaAddr == "" {
		host, port, err := net.SplitHostPort(o.ReplicaListen)
		if err != nil || host == "" || net.ParseIP(host).IsUnspecified() {
			return cmdutil.FlagErrorf("gateway serve", "--redis-url needs --replica-addr: the host:port at which the other replicas reach this one's --replica-listen %s (in Kubernetes, the pod IP)", o.ReplicaListen)
		}
		o.ReplicaAddr = net.JoinHostPort(host, port)
	}
	return nil
}

func serveRun(ctx context.Context, o *ServeOptions) error {
	logger := slog.New(slog.NewTextHandler(o.IO.ErrOut, nil))
	cfg := gw.Config{
		GitLabURL: o.GitLabURL, PublicURL: o.PublicURL, EndpointDomain: o.EndpointDomain,
		PathURLs: o.PathURLs, AllowMaintainers: o.AllowMaintainers, AllowedOrigins: o.AllowedOrigins, Logger: logger,
		TLS: o.TLSCert != "", OAuthClientID: o.OAuthClientID, OAuthClientSecret: o.OAuthClientSecret,
		MaxTunnelStreams: o.MaxTunnelStreams, MaxAgentStreams: o.MaxAgentStreams, MaxUserConns: o.MaxUserConns, MaxSessionsPerUser: o.MaxSessionsPerUser,
	}
	var counter atomic.Pointer[gw.Server] // counts Redis errors once the gateway exists
	var rln net.Listener                  // the replica channel
	if o.RedisURL != "" {
		rs, err := rediskv.New(rediskv.Options{URL: o.RedisURL, OnError: func(err error) {
			if s := counter.Load(); s != nil {
				s.CountStoreError(err)
			}
		}})
		if err != nil {
			return cmdutil.FlagErrorf("gateway serve", "%v", err)
		}
		defer rs.Close()
		if cfg.Store, err = kv.Sealed(rs, o.ReplicaSecret); err != nil {
			return cmdutil.FlagErrorf("gateway serve", "%v", err)
		}
		if rln, err = net.Listen("tcp", o.ReplicaListen); err != nil {
			return fmt.Errorf("listen on %s (replica channel): %w", o.ReplicaListen, err)
		}
		defer rln.Close()
		if host, port, _ := net.SplitHostPort(o.ReplicaAddr); port == "0" { // derived from a listen address on port 0
			o.ReplicaAddr = net.JoinHostPort(host, strconv.Itoa(rln.Addr().(*net.TCPAddr).Port))
		}
		cfg.Replica = &gw.ReplicaConfig{Addr: o.ReplicaAddr, Secret: o.ReplicaSecret}
	}
	s, err := gw.New(cfg)
	if err != nil {
		return cmdutil.FlagErrorf("gateway serve", "%v", err)
	}
	counter.Store(s)
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		s.Shutdown(ctx)
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	var rsrv *http.Server
	if rln != nil {
		rsrv = &http.Server{Handler: s.ReplicaHandler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		go func() { _ = rsrv.Serve(rln) }()
		logger.Info("replica channel listening", "addr", rln.Addr().String(), "replica", s.ReplicaID(), "advertised", o.ReplicaAddr, "redis", rediskv.Redact(o.RedisURL))
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("gateway listening", "addr", ln.Addr().String(), "public_url", o.PublicURL, "gitlab", o.GitLabURL, "tls", o.TLSCert != "", "oauth", o.OAuthClientID != "")
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		if o.TLSCert != "" {
			errc <- srv.ServeTLS(ln, o.TLSCert, o.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting (the load balancer's health check fails from here), let requests in
	// flight end, tell the agents to reconnect (elsewhere), then stop the replica channel.
	logger.Info("gateway shutting down; agents will reconnect", "agents", s.Agents())
	sctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	_ = srv.Shutdown(sctx)
	s.Shutdown(sctx)
	if rsrv != nil {
		_ = rsrv.Shutdown(sctx)
	}
	logger.Info("gateway stopped")
	return nil
}

var errEOF = io.EOF
