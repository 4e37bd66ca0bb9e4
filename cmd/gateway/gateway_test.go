package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ws-dev/ws/cmd/cmdutil"
)

func TestServeOAuthSettings(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "gateway.yml")
	if err := os.WriteFile(cfgFile, []byte("oauth-client-id: from-file\noauth-client-secret-file: "+secretFile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"serve", "--gitlab-url", "https://gitlab.example.com", "--public-url", "https://ws.example.com"}
	tests := []struct {
		name           string
		args           []string
		env            map[string]string
		wantID, wantSc string
		wantErr        string
	}{
		{name: "none"},
		{name: "flags", args: []string{"--oauth-client-id", "app", "--oauth-client-secret", "sec"}, wantID: "app", wantSc: "sec"},
		{name: "secret file flag", args: []string{"--oauth-client-id", "app", "--oauth-client-secret-file", secretFile}, wantID: "app", wantSc: "s3cret-from-file"},
		{name: "env", env: map[string]string{"WS_GATEWAY_OAUTH_CLIENT_ID": "envapp", "WS_GATEWAY_OAUTH_CLIENT_SECRET": "envsec"}, wantID: "envapp", wantSc: "envsec"},
		{name: "config file", args: []string{"--config", cfgFile}, wantID: "from-file", wantSc: "s3cret-from-file"},
		{name: "flag beats file", args: []string{"--config", cfgFile, "--oauth-client-id", "flag"}, wantID: "flag", wantSc: "s3cret-from-file"},
		{name: "secret without id", args: []string{"--oauth-client-secret", "x"}, wantErr: "needs --oauth-client-id"},
		{name: "secret and file", args: []string{"--oauth-client-id", "a", "--oauth-client-secret", "x", "--oauth-client-secret-file", secretFile}, wantErr: "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServe(append(append([]string{}, base...), tt.args...), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.OAuthClientID != tt.wantID || got.OAuthClientSecret != tt.wantSc {
				t.Errorf("OAuth = %q, %q; want %q, %q", got.OAuthClientID, got.OAuthClientSecret, tt.wantID, tt.wantSc)
			}
		})
	}
}

func TestServeLimitSettings(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "gateway.yml")
	if err := os.WriteFile(cfgFile, []byte("max-tunnel-streams: 100\nmax-sessions-per-user: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"serve", "--gitlab-url", "https://gitlab.example.com", "--public-url", "https://ws.example.com"}
	for _, tt := range []struct {
		name                    string
		args                    []string
		env                     map[string]string
		tunnel, agent, sessions int
		wantErr                 string
	}{
		{name: "defaults", tunnel: 1024, agent: 4096, sessions: 20},
		{name: "flags", args: []string{"--max-tunnel-streams", "10", "--max-agent-streams", "20", "--max-sessions-per-user", "2"}, tunnel: 10, agent: 20, sessions: 2},
		{name: "env", env: map[string]string{"WS_GATEWAY_MAX_AGENT_STREAMS": "77"}, tunnel: 1024, agent: 77, sessions: 20},
		{name: "config file", args: []string{"--config", cfgFile}, tunnel: 100, agent: 4096, sessions: 3},
		{name: "flag beats file", args: []string{"--config", cfgFile, "--max-tunnel-streams", "5"}, tunnel: 5, agent: 4096, sessions: 3},
		{name: "zero", args: []string{"--max-tunnel-streams", "0"}, wantErr: "--max-tunnel-streams must be at least 1"},
		{name: "bad env", env: map[string]string{"WS_GATEWAY_MAX_SESSIONS_PER_USER": "many"}, wantErr: "want a number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServe(append(append([]string{}, base...), tt.args...), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxTunnelStreams != tt.tunnel || got.MaxAgentStreams != tt.agent || got.MaxSessionsPerUser != tt.sessions {
				t.Errorf("limits = %d, %d, %d; want %d, %d, %d", got.MaxTunnelStreams, got.MaxAgentStreams, got.MaxSessionsPerUser, tt.tunnel, tt.agent, tt.sessions)
			}
		})
	}
}

// parseServe runs 'ws gateway' with args and env up to the point of serving, and returns
// the options it would serve with.
func parseServe(args []string, env map[string]string) (*ServeOptions, error) {
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Getenv: func(k string) string { return env[k] }}
	var got *ServeOptions
	cmd := NewCmdGateway(f, func(o *ServeOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return got, cmd.Execute()
}

func TestServeReplicaSettings(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	secret := strings.Repeat("s", 40)
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"serve", "--gitlab-url", "https://gitlab.example.com", "--public-url", "https://ws.example.com"}
	redis := []string{"--redis-url", "rediss://:pw@redis.example.com:6380/2"}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantAddr  string
		wantDrain time.Duration
		wantErr   string
	}{
		{name: "no redis: one gateway", args: nil},
		{name: "secret file, addr", args: append(append([]string{}, redis...), "--replica-secret-file", secretFile, "--replica-addr", "10.0.0.5:8081"), wantAddr: "10.0.0.5:8081"},
		{name: "env", env: map[string]string{"WS_GATEWAY_REDIS_URL": "redis://r:6379", "WS_GATEWAY_REPLICA_SECRET": secret, "WS_GATEWAY_REPLICA_ADDR": "10.0.0.6:8081"}, wantAddr: "10.0.0.6:8081"},
		{name: "addr from a specific listen host", args: append(append([]string{}, redis...), "--replica-secret-file", secretFile, "--replica-listen", "10.0.0.7:9000"), wantAddr: "10.0.0.7:9000"},
		{name: "no secret", args: redis, wantErr: "shared secret"},
		{name: "short secret", args: redis, env: map[string]string{"WS_GATEWAY_REPLICA_SECRET": "short"}, wantErr: "at least 32"},
		{name: "secret twice", args: append(append([]string{}, redis...), "--replica-secret-file", secretFile), env: map[string]string{"WS_GATEWAY_REPLICA_SECRET": secret}, wantErr: "not both"},
		{name: "no address", args: append(append([]string{}, redis...), "--replica-secret-file", secretFile), wantErr: "--replica-addr"},
		{name: "drain timeout from env", env: map[string]string{"WS_GATEWAY_DRAIN_TIMEOUT": "25s"}, wantDrain: 25 * time.Second},
		{name: "bad drain timeout", env: map[string]string{"WS_GATEWAY_DRAIN_TIMEOUT": "soon"}, wantErr: "drain-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServe(append(append([]string{}, base...), tt.args...), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), ":pw@") {
					t.Errorf("the error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ReplicaAddr != tt.wantAddr {
				t.Errorf("replica addr = %q, want %q", got.ReplicaAddr, tt.wantAddr)
			}
			wantDrain := 10 * time.Second // the default
			if tt.wantDrain != 0 {
				wantDrain = tt.wantDrain
			}
			if got.DrainTimeout != wantDrain {
				t.Errorf("drain timeout = %s, want %s", got.DrainTimeout, wantDrain)
			}
			if tt.wantAddr != "" && string(got.ReplicaSecret) != secret {
				t.Errorf("replica secret not read (%d bytes)", len(got.ReplicaSecret))
			}
		})
	}
}
