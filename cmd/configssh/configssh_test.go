package configssh

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	p := Params{Executable: "/usr/local/bin/ws", GitLabHost: "https://gitlab.example.com", Gateway: "https://ws.example.com", Dir: "/home/a b/.ssh/ws"}
	wss := []Workspace{
		{Name: "demo", Project: "group/app"},
		{Name: "api", Project: "group/app"},
		{Name: "api", Project: "other/svc"},  // the same name: long forms only
		{Name: "demo", Project: "group/app"}, // listed by two sources
		{Name: "scratch"},                    // local
		{Name: "bad name", Project: "group/app"},
	}
	got, skipped := Render(wss, p)
	want := `# Written by 'ws config-ssh'; it rewrites this file: do not edit. docs/ssh.md

Host ws.api.group.app
  HostName ws.api.group.app
  ProxyCommand /usr/local/bin/ws ssh --stdio --host https://gitlab.example.com --gateway https://ws.example.com -R group/app --known-hosts '/home/a b/.ssh/ws/known_hosts/ws.api.group.app' --host-key-alias ws.api.group.app api
  HostKeyAlias ws.api.group.app
  UserKnownHostsFile "/home/a b/.ssh/ws/known_hosts/ws.api.group.app"
  StrictHostKeyChecking yes
  Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr

Host ws.api.other.svc
  HostName ws.api.other.svc
  ProxyCommand /usr/local/bin/ws ssh --stdio --host https://gitlab.example.com --gateway https://ws.example.com -R other/svc --known-hosts '/home/a b/.ssh/ws/known_hosts/ws.api.other.svc' --host-key-alias ws.api.other.svc api
  HostKeyAlias ws.api.other.svc
  UserKnownHostsFile "/home/a b/.ssh/ws/known_hosts/ws.api.other.svc"
  StrictHostKeyChecking yes
  Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr

Host ws.demo ws.demo.group.app
  HostName ws.demo.group.app
  ProxyCommand /usr/local/bin/ws ssh --stdio --host https://gitlab.example.com --gateway https://ws.example.com -R group/app --known-hosts '/home/a b/.ssh/ws/known_hosts/ws.demo.group.app' --host-key-alias ws.demo.group.app demo
  HostKeyAlias ws.demo.group.app
  UserKnownHostsFile "/home/a b/.ssh/ws/known_hosts/ws.demo.group.app"
  StrictHostKeyChecking yes
  Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr

Host ws.scratch ws.scratch.local
  HostName ws.scratch.local
  ProxyCommand /usr/local/bin/ws ssh --stdio --known-hosts '/home/a b/.ssh/ws/known_hosts/ws.scratch.local' --host-key-alias ws.scratch.local scratch
  HostKeyAlias ws.scratch.local
  UserKnownHostsFile "/home/a b/.ssh/ws/known_hosts/ws.scratch.local"
  StrictHostKeyChecking yes
  Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr
`
	if string(got) != want {
		t.Errorf("Render =\n%s\nwant\n%s", got, want)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], `"bad name"`) {
		t.Errorf("skipped = %q, want the workspace whose name is no host name", skipped)
	}
	// The same workspaces in another order give the same bytes.
	again, _ := Render([]Workspace{wss[5], wss[4], wss[3], wss[2], wss[1], wss[0]}, p)
	if string(again) != string(got) {
		t.Errorf("Render depends on the order of its input:\n%s", again)
	}
}

// A name or path that would break out of the ProxyCommand or the config is never written.
func TestRenderRefusesInjection(t *testing.T) {
	for _, w := range []Workspace{
		{Name: "x\n  ProxyCommand evil"}, {Name: "x;rm -rf ~"}, {Name: "-oProxyCommand=evil"},
		{Name: "ok", Project: "g/a b"}, {Name: "ok", Project: "g/$(evil)"}, {Name: "*"},
	} {
		got, skipped := Render([]Workspace{w}, Params{Executable: "ws", Dir: "/d"})
		if len(skipped) != 1 || strings.Contains(string(got), "Host ") {
			t.Errorf("Render(%q) = %q, skipped %q; want it left out", w, got, skipped)
		}
	}
}

func TestEnsureInclude(t *testing.T) {
	const managed = "/home/a/.ssh/ws/config"
	user := "Host *\n  ServerAliveInterval 30\n"
	got := EnsureInclude([]byte(user), managed)
	want := includeMarker + "\nInclude \"/home/a/.ssh/ws/config\"\n\n" + user
	if string(got) != want {
		t.Fatalf("EnsureInclude = %q, want %q", got, want)
	}
	if again := EnsureInclude(got, managed); string(again) != string(got) {
		t.Errorf("a second EnsureInclude changed the config: %q", again)
	}
	if empty := EnsureInclude(nil, managed); !strings.HasSuffix(string(empty), "Include \"/home/a/.ssh/ws/config\"\n\n") {
		t.Errorf("EnsureInclude of no config = %q", empty)
	}
	if pct := EnsureInclude(nil, "/home/100%/ws/config"); !strings.Contains(string(pct), `Include "/home/100%%/ws/config"`) {
		t.Errorf("%% not escaped: %q", pct)
	}
}
