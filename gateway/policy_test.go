package gateway

import (
	"strings"
	"testing"
	"time"
)

// The policy's table: each row is a decision a reviewer can check against docs/gateway.md.

func TestGrants(t *testing.T) {
	routes := []Route{RouteStatus, RouteTunnel, RouteLinks, RouteTerminalAPI, RouteEndpoint, RouteEndpointAuth}
	// want[credential] lists the routes it grants, without and with path-based URLs.
	for _, tc := range []struct {
		c             Credential
		want, wantPth string
	}{
		{CredNone, "", ""},
		{CredBearer, "status tunnel links terminal-api endpoint", "status tunnel links terminal-api endpoint"},
		{CredWebSession, "terminal-api endpoint-auth", "terminal-api endpoint endpoint-auth"},
		{CredEndpointSession, "endpoint", "endpoint"},
	} {
		for i, pathURLs := range []bool{false, true} {
			var got []string
			for _, r := range routes {
				if Grants(tc.c, r, pathURLs) {
					got = append(got, r.String())
				}
			}
			want := []string{tc.want, tc.wantPth}[i]
			if strings.Join(got, " ") != want {
				t.Errorf("Grants(%s, path URLs %v) = %q, want %q", tc.c, pathURLs, got, want)
			}
		}
	}
}

func TestEndpointCookieGrantsOnlyItsEndpoint(t *testing.T) {
	a := EndpointRef{ProjectID: "42", Name: "demo", Port: 8080}
	for _, tc := range []struct {
		host EndpointRef
		want bool
	}{
		{a, true},
		{EndpointRef{ProjectID: "42", Name: "demo", Port: 3000}, false},  // another port
		{EndpointRef{ProjectID: "42", Name: "other", Port: 8080}, false}, // another workspace
		{EndpointRef{ProjectID: "43", Name: "demo", Port: 8080}, false},  // another project
	} {
		if got := EndpointCookieGrants(a, tc.host); got != tc.want {
			t.Errorf("EndpointCookieGrants(%v, %v) = %v, want %v", a, tc.host, got, tc.want)
		}
	}
}

func TestMayAttach(t *testing.T) {
	for _, tc := range []struct {
		a    Attach
		want bool
	}{
		{Attach{UserID: 7, OwnerID: 7}, true},
		{Attach{UserID: 8, OwnerID: 7}, false},
		{Attach{UserID: 8, OwnerID: 7, AccessLevel: 50}, false},                    // rule off
		{Attach{UserID: 8, OwnerID: 7, Maintainers: true, AccessLevel: 30}, false}, // developer
		{Attach{UserID: 8, OwnerID: 7, Maintainers: true, AccessLevel: 40}, true},  // maintainer
		{Attach{UserID: 8, OwnerID: 7, Maintainers: true, AccessLevel: 50}, true},  // owner
	} {
		if got := MayAttach(tc.a); got != tc.want {
			t.Errorf("MayAttach(%+v) = %v, want %v", tc.a, got, tc.want)
		}
	}
	if NeedsAccessLevel(7, 7, true) || NeedsAccessLevel(8, 7, false) || !NeedsAccessLevel(8, 7, true) {
		t.Error("NeedsAccessLevel asks GitLab when the answer does not depend on it, or not when it does")
	}
}

func TestAgentAdmission(t *testing.T) {
	for _, tc := range []struct {
		job         JobFacts
		hello, name string
		refused     string
	}{
		{JobFacts{"ws/demo", "running"}, "demo", "demo", ""},
		{JobFacts{"ws/demo", "running"}, "", "demo", ""}, // before the Hello
		{JobFacts{"ws/demo", "running"}, "other", "", "not ws/other"},
		{JobFacts{"main", "running"}, "demo", "", "ws/<name>"},
		{JobFacts{"ws/", "running"}, "", "", "ws/<name>"},
		{JobFacts{"ws/demo", "success"}, "demo", "", "not running"},
	} {
		name, refusal := AgentAdmission(tc.job, tc.hello)
		if name != tc.name || (tc.refused == "") != (refusal == "") || !strings.Contains(refusal, tc.refused) {
			t.Errorf("AgentAdmission(%+v, %q) = %q, %q; want %q, refusal with %q", tc.job, tc.hello, name, refusal, tc.name, tc.refused)
		}
	}
	if !AgentReplaces(5, 5) || !AgentReplaces(5, 6) || AgentReplaces(6, 5) {
		t.Error("AgentReplaces: want the same or a newer job, never an older one")
	}
}

func TestCookieRequest(t *testing.T) {
	const self = "https://ws.example.com"
	sibling := func(o string) bool { return o == "https://3000-demo--42.ws.example.com" }
	for _, tc := range []struct {
		name      string
		f         Fetch
		trusted   func(string) bool
		navigable bool
		want      bool
	}{
		{"same-origin fetch", Fetch{Method: "POST", Origin: self, Site: "same-origin", Mode: "cors"}, nil, false, true},
		{"same-origin form", Fetch{Method: "POST", Origin: self, Site: "same-origin", Mode: "navigate"}, nil, true, true},
		{"typed URL", Fetch{Method: "GET", Site: "none", Mode: "navigate"}, nil, true, true},
		{"POST without a page", Fetch{Method: "POST", Site: "none", Mode: "navigate"}, nil, true, false},
		{"link from another site", Fetch{Method: "GET", Site: "cross-site", Mode: "navigate"}, nil, true, true},
		{"link from another site to an API", Fetch{Method: "GET", Site: "cross-site", Mode: "navigate"}, nil, false, false},
		{"cross-site form POST (login CSRF)", Fetch{Method: "POST", Origin: "https://evil.example", Site: "cross-site", Mode: "navigate"}, nil, true, false},
		{"same-site form POST from an endpoint", Fetch{Method: "POST", Origin: "https://8080-x--43.ws.example.com", Site: "same-site", Mode: "navigate"}, nil, true, false},
		{"cross-site fetch", Fetch{Method: "GET", Origin: "https://evil.example", Site: "cross-site", Mode: "cors"}, nil, true, false},
		{"cross-site image", Fetch{Method: "GET", Site: "cross-site", Mode: "no-cors"}, nil, true, false},
		{"WebSocket from our page", Fetch{Method: "GET", Origin: self, Site: "same-origin", Mode: "websocket", WebSocket: true}, nil, false, true},
		{"WebSocket from an endpoint page", Fetch{Method: "GET", Origin: "https://8080-x--43.ws.example.com", Site: "same-site", Mode: "websocket", WebSocket: true}, nil, false, false},
		{"WebSocket without Origin", Fetch{Method: "GET", WebSocket: true}, nil, false, false},
		{"WebSocket from origin null", Fetch{Method: "GET", Origin: "null", WebSocket: true}, func(string) bool { return true }, false, false},
		{"WebSocket from a trusted origin", Fetch{Method: "GET", Origin: "https://3000-demo--42.ws.example.com", Site: "same-site", WebSocket: true}, sibling, false, true},
		{"fetch from a sibling endpoint", Fetch{Method: "POST", Origin: "https://3000-demo--42.ws.example.com", Site: "same-site", Mode: "cors"}, sibling, false, true},
		{"fetch from another workspace's endpoint", Fetch{Method: "POST", Origin: "https://3000-x--43.ws.example.com", Site: "same-site", Mode: "cors"}, sibling, false, false},
		{"older browser, same origin", Fetch{Method: "POST", Origin: self}, nil, false, true},
		{"older browser, other origin", Fetch{Method: "POST", Origin: "https://evil.example"}, nil, true, false},
		{"no browser (curl with a cookie)", Fetch{Method: "POST"}, nil, false, true},
		{"unknown Sec-Fetch-Site", Fetch{Method: "GET", Site: "weird"}, nil, true, false},
	} {
		ok, why := CookieRequest(tc.f, self, tc.trusted, tc.navigable)
		if ok != tc.want || (!ok && why == "") {
			t.Errorf("%s: CookieRequest(%+v) = %v %q, want %v (with a reason when refused)", tc.name, tc.f, ok, why, tc.want)
		}
	}
}

func TestSiblingEndpoint(t *testing.T) {
	parse := func(host string) (EndpointRef, bool) {
		g := &Server{cfg: Config{EndpointDomain: "ws.example.com"}}
		return g.parseEndpointHost(host)
	}
	trusted := SiblingEndpoint(EndpointRef{ProjectID: "42", Name: "demo", Port: 8080}, "https", parse)
	for origin, want := range map[string]bool{
		"https://3000-demo--42.ws.example.com":      true,
		"https://3000-demo--42.ws.example.com:8443": true,
		"http://3000-demo--42.ws.example.com":       false, // another scheme
		"https://3000-other--42.ws.example.com":     false,
		"https://3000-demo--43.ws.example.com":      false,
		"https://ws.example.com":                    false,
		"https://3000-demo--42.ws.example.com/x":    false,
		"null":                                      false,
	} {
		if got := trusted(origin); got != want {
			t.Errorf("sibling of 8080-demo--42: %s = %v, want %v", origin, got, want)
		}
	}
}

func TestNextAllowed(t *testing.T) {
	for p, want := range map[string]bool{
		"/":                                  true,
		"/sessions":                          true,
		"/terminal/group/app/-/demo":         true,
		"/endpoint-auth?url=https%3A%2F%2Fx": true,
		"":                                   false,
		"/w/42/demo/8080/":                   false, // an endpoint on the gateway's origin
		"/api/v1/workspaces":                 false,
		"/signin":                            false,
		"/signin/link/abc":                   false,
		"/oauth/callback":                    false,
		"/login?next=x":                      false,
		"/terminal/../w/42/demo/8080/":       false,
		"//evil.example/":                    false,
		"/\\evil.example":                    false,
		"https://evil.example/":              false,
		"/terminal/x\r\nSet-Cookie: a=b":     false,
	} {
		if got := NextAllowed(p); got != want {
			t.Errorf("NextAllowed(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestSecureCookies(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		tls    bool
		want   bool
	}{{"https", false, true}, {"http", true, true}, {"http", false, false}, {"https", true, true}} {
		if got := SecureCookies(tc.scheme, tc.tls); got != tc.want {
			t.Errorf("SecureCookies(%s, tls %v) = %v, want %v", tc.scheme, tc.tls, got, tc.want)
		}
	}
}

func TestReplicaRequest(t *testing.T) {
	good := ReplicaFacts{Channel: true, MACValid: true, Skew: time.Second}
	for _, tc := range []struct {
		name string
		f    func(*ReplicaFacts)
		want string // refusal; "" = obeyed
	}{
		{"a replica's request", func(*ReplicaFacts) {}, ""},
		{"on the public listener", func(f *ReplicaFacts) { f.Channel = false }, "not on the replica listener"},
		{"unsigned or another secret", func(f *ReplicaFacts) { f.MACValid = false }, "bad or missing signature"},
		{"31 s old", func(f *ReplicaFacts) { f.Skew = 31 * time.Second }, "too old or from the future"},
		{"31 s ahead", func(f *ReplicaFacts) { f.Skew = -31 * time.Second }, "too old or from the future"},
		{"30 s old", func(f *ReplicaFacts) { f.Skew = 30 * time.Second }, ""},
		{"replayed", func(f *ReplicaFacts) { f.NonceSeen = true }, "replayed"},
	} {
		f := good
		tc.f(&f)
		ok, why := ReplicaRequest(f)
		if ok != (tc.want == "") || why != tc.want {
			t.Errorf("%s: ReplicaRequest = %v %q, want %q", tc.name, ok, why, tc.want)
		}
	}
	if ReplicaAnswer(false) || !ReplicaAnswer(true) {
		t.Error("ReplicaAnswer must trust exactly the signed answers")
	}
}

func TestLeases(t *testing.T) {
	held := LeaseFacts{Held: true, Job: 5, Replica: "r1", Conn: 3}
	for _, tc := range []struct {
		cur  LeaseFacts
		job  int64
		want bool
	}{
		{LeaseFacts{}, 1, true}, // no lease
		{held, 5, true},         // the same job reconnecting, on any replica
		{held, 6, true},         // a newer job
		{held, 4, false},        // an older job, wherever it connects
	} {
		if got := ClaimLease(tc.cur, tc.job); got != tc.want {
			t.Errorf("ClaimLease(%+v, job %d) = %v, want %v", tc.cur, tc.job, got, tc.want)
		}
	}
	for _, tc := range []struct {
		cur     LeaseFacts
		replica string
		conn    uint64
		want    bool
	}{
		{LeaseFacts{}, "r1", 3, true}, // gone (expired, Redis restarted): write it again
		{held, "r1", 3, true},         // still ours
		{held, "r1", 4, false},        // the agent reconnected to this replica since
		{held, "r2", 3, false},        // ... or to another one
	} {
		if got := KeepLease(tc.cur, tc.replica, tc.conn); got != tc.want {
			t.Errorf("KeepLease(%+v, %s, %d) = %v, want %v", tc.cur, tc.replica, tc.conn, got, tc.want)
		}
	}
}

// Every stream kind a client may open on its tunnel carries the right of `ws shell`, and no
// more; the kinds only the agent or the gateway opens are refused.
func TestTunnelStreamAllowed(t *testing.T) {
	for kind, want := range map[string]bool{
		"shell": true, "exec": true, "data": true, "stderr": true, "port": true, "ssh": true,
		"control": false, "portconn": false, "": false, "sftp": false,
	} {
		if got := TunnelStreamAllowed(kind); got != want {
			t.Errorf("TunnelStreamAllowed(%q) = %v, want %v", kind, got, want)
		}
	}
}

// The gateway vouches only for a plain public key: nothing an agent adds to it (options,
// a second key, a comment, garbage) reaches a client's known_hosts.
func TestVouchedSSHHostKey(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	for _, tc := range []struct{ in, want string }{
		{key, key},
		{key + " agent@job\n", key},
		{"", ""},
		{"ssh-ed25519 AAAA", ""},
		{`command="evil" ` + key, ""},
		{key + "\n" + key, ""},
		{"ws.demo " + key, ""},
		{strings.Repeat("x", 9<<10), ""},
	} {
		if got := VouchedSSHHostKey(tc.in); got != tc.want {
			t.Errorf("VouchedSSHHostKey(%.40q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
