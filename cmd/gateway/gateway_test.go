package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			ios, _, _, _ := cmdutil.Test()
			f := &cmdutil.Factory{IO: ios, Getenv: func(k string) string { return tt.env[k] }}
			var got *ServeOptions
			cmd := NewCmdGateway(f, func(o *ServeOptions) error { got = o; return nil })
			cmd.SetArgs(append(append([]string{}, base...), tt.args...))
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
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
