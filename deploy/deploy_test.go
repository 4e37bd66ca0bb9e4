package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/testutil"
)

var (
	chartDir     = filepath.Join(testutil.RepoRoot(), "deploy", "helm", "ws-gateway")
	manifestPath = filepath.Join(testutil.RepoRoot(), "deploy", "kubernetes", "ws-gateway.yaml")
)

// helm returns the helm binary ($HELM, else helm on PATH, else the one
// 'make tools-helm' installed), or skips the test. With WS_REQUIRE_HELM=1
// ('make check-deploy') a missing helm fails.
func helm(t *testing.T) string {
	t.Helper()
	if h := findTool("HELM", "helm"); h != "" {
		return h
	}
	if os.Getenv("WS_REQUIRE_HELM") == "1" {
		t.Fatal("helm not found: set HELM or run 'make check-deploy', which installs it")
	}
	t.Skip("skipping: helm not found (set HELM, or run 'make check-deploy', which installs it from the Go module proxy)")
	return ""
}

// findTool returns $env, else name on PATH, else the newest
// bin/tools/<name>-<version>/<name> that the Makefile installed, else "".
func findTool(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	m, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(), "bin", "tools", name+"-*", name))
	if len(m) > 0 {
		return m[len(m)-1]
	}
	return ""
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// object is one decoded Kubernetes object.
type object = map[string]any

func decodeAll(t *testing.T, data []byte) []object {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("manifests are not valid YAML: %v", err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

// get walks a path of map keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// want describes the site a rendering is for.
type want struct {
	domain     string
	gitlabURL  string
	publicURL  string
	ingress    bool
	gatewayTLS bool
	// replicas > 1: replicas sharing Redis (docs/deploy.md, "Several replicas").
	replicas int
}

// checkManifests checks the objects a gateway deployment needs and how
// they refer to each other.
func checkManifests(t *testing.T, objs []object, w want) {
	t.Helper()
	byKind := map[string][]object{}
	for _, o := range objs {
		for _, f := range []string{"apiVersion", "kind"} {
			if str(o[f]) == "" {
				t.Errorf("object without %s: %v", f, o)
			}
		}
		if str(get(o, "metadata", "name")) == "" {
			t.Errorf("%s without metadata.name", o["kind"])
		}
		byKind[str(o["kind"])] = append(byKind[str(o["kind"])], o)
	}
	wantIngress := 0
	if w.ingress {
		wantIngress = 1
	}
	if len(byKind["Deployment"]) != 1 || len(byKind["Service"]) != 1 || len(byKind["Ingress"]) != wantIngress {
		t.Fatalf("got %d Deployment, %d Service, %d Ingress; want 1, 1, %d",
			len(byKind["Deployment"]), len(byKind["Service"]), len(byKind["Ingress"]), wantIngress)
	}
	dep, svc := byKind["Deployment"][0], byKind["Service"][0]

	// Deployment: selector matches the pod, one gateway container.
	if str(dep["apiVersion"]) != "apps/v1" {
		t.Errorf("Deployment apiVersion %v", dep["apiVersion"])
	}
	podLabels, _ := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	sel, _ := get(dep, "spec", "selector", "matchLabels").(map[string]any)
	if len(sel) == 0 {
		t.Error("Deployment has no selector")
	}
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("selector %s=%v does not match the pod labels %v", k, v, podLabels)
		}
	}
	wantReplicas := max(w.replicas, 1)
	if n := get(dep, "spec", "replicas"); n != wantReplicas {
		t.Errorf("replicas = %v, want %d", n, wantReplicas)
	}
	c, _ := get(dep, "spec", "template", "spec", "containers", 0).(map[string]any)
	if c == nil {
		t.Fatal("Deployment has no container")
	}
	if img := str(c["image"]); !regexp.MustCompile(`^[a-z0-9./-]+/ws:[0-9A-Za-z._-]+$`).MatchString(img) {
		t.Errorf("image %q is not <registry>/ws:<version>", img)
	}
	args := fmt.Sprint(c["command"], c["args"])
	for _, a := range []string{"[ws]", "gateway serve", "--listen=", "--gitlab-url=", "--public-url="} {
		if !strings.Contains(args, a) {
			t.Errorf("command %s lacks %q", args, a)
		}
	}
	env := map[string]string{}
	for _, e := range c["env"].([]any) {
		env[str(get(e, "name"))] = str(get(e, "value"))
	}
	for _, ref := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(args, -1) {
		if _, ok := env[ref[1]]; !ok {
			t.Errorf("args use $(%s), which env does not define", ref[1])
		}
	}
	if env["WS_GATEWAY_GITLAB_URL"] != w.gitlabURL || env["WS_GATEWAY_PUBLIC_URL"] != w.publicURL {
		t.Errorf("env gitlab/public URL = %q/%q, want %q/%q", env["WS_GATEWAY_GITLAB_URL"], env["WS_GATEWAY_PUBLIC_URL"], w.gitlabURL, w.publicURL)
	}
	ports := map[string]bool{}
	for _, p := range c["ports"].([]any) {
		ports[str(get(p, "name"))] = true
		if v := map[string]string{"http": "WS_GATEWAY_PORT", "replica": "WS_GATEWAY_REPLICA_PORT"}[str(get(p, "name"))]; str(get(p, "containerPort")) != env[v] {
			t.Errorf("containerPort %v (%v) differs from %s=%s", get(p, "containerPort"), get(p, "name"), v, env[v])
		}
	}
	checkReplicas(t, byKind, dep, c, args, env, podLabels, w.replicas > 1)
	scheme := "HTTP"
	if w.gatewayTLS {
		scheme = "HTTPS"
		if !strings.Contains(args, "--tls-cert=") || !strings.Contains(args, "--tls-key=") {
			t.Errorf("gateway TLS without --tls-cert/--tls-key: %s", args)
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		hg := get(c, probe, "httpGet")
		if str(get(hg, "path")) != "/healthz" || !ports[str(get(hg, "port"))] || str(get(hg, "scheme")) != scheme {
			t.Errorf("%s.httpGet = %v, want /healthz on a named container port over %s", probe, hg, scheme)
		}
	}
	for _, r := range []string{"cpu", "memory"} {
		if str(get(c, "resources", "requests", r)) == "" {
			t.Errorf("no resources.requests.%s", r)
		}
	}
	if get(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("the gateway pod may run as root")
	}

	// Service: selects the pod, targets the named port.
	svcSel, _ := get(svc, "spec", "selector").(map[string]any)
	if len(svcSel) == 0 {
		t.Error("Service has no selector")
	}
	for k, v := range svcSel {
		if podLabels[k] != v {
			t.Errorf("Service selector %s=%v does not match the pod", k, v)
		}
	}
	svcPorts := map[string]bool{}
	for _, p := range get(svc, "spec", "ports").([]any) {
		svcPorts[str(get(p, "name"))] = true
		if str(get(p, "targetPort")) == "replica" {
			t.Error("the Service exposes the replica channel")
		}
		if !ports[str(get(p, "targetPort"))] {
			t.Errorf("Service targetPort %v is not a container port", get(p, "targetPort"))
		}
	}
	if !w.ingress {
		return
	}

	// Ingress: apex and wildcard, both to the Service, with TLS for both.
	ing := byKind["Ingress"][0]
	hosts := map[string]bool{}
	for _, r := range get(ing, "spec", "rules").([]any) {
		hosts[str(get(r, "host"))] = true
		be := get(r, "http", "paths", 0, "backend", "service")
		if str(get(be, "name")) != str(get(svc, "metadata", "name")) || !svcPorts[str(get(be, "port", "name"))] {
			t.Errorf("Ingress rule %v does not point at the Service's port", be)
		}
	}
	for _, h := range []string{w.domain, "*." + w.domain} {
		if !hosts[h] {
			t.Errorf("Ingress has no rule for %s (hosts %v)", h, hosts)
		}
	}
	tlsHosts := fmt.Sprint(get(ing, "spec", "tls", 0, "hosts"))
	if !strings.Contains(tlsHosts, " *."+w.domain) && !strings.Contains(tlsHosts, "[*."+w.domain) || str(get(ing, "spec", "tls", 0, "secretName")) == "" {
		t.Errorf("Ingress TLS = %v, want the wildcard host and a secret", get(ing, "spec", "tls"))
	}
}

// checkReplicas checks what replicas sharing Redis need (or, for one gateway, that none of
// it is there): Redis and the replica secret in env, the replica channel on the pod IP, a
// rolling update, a PodDisruptionBudget and a NetworkPolicy for the channel.
func checkReplicas(t *testing.T, byKind map[string][]object, dep object, c map[string]any, args string, env map[string]string, podLabels map[string]any, replicated bool) {
	t.Helper()
	strategy := str(get(dep, "spec", "strategy", "type"))
	if !replicated {
		if strategy != "Recreate" || len(byKind["PodDisruptionBudget"])+len(byKind["NetworkPolicy"])+len(byKind["Secret"]) != 0 || strings.Contains(args, "--replica") {
			t.Errorf("one gateway renders replica settings: strategy %s, args %s, objects %v", strategy, args, byKind)
		}
		return
	}
	if strategy != "RollingUpdate" || str(get(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable")) != "0" {
		t.Errorf("strategy %v: want a rolling update that keeps every replica up", get(dep, "spec", "strategy"))
	}
	if !strings.Contains(args, "--replica-listen=:$(WS_GATEWAY_REPLICA_PORT)") {
		t.Errorf("args %s lack --replica-listen", args)
	}
	if a := env["WS_GATEWAY_REPLICA_ADDR"]; a != "[$(POD_IP)]:$(WS_GATEWAY_REPLICA_PORT)" {
		t.Errorf("WS_GATEWAY_REPLICA_ADDR = %q, want the pod IP and the replica port", a)
	}
	refs := map[string]any{}
	for _, e := range c["env"].([]any) {
		refs[str(get(e, "name"))] = get(e, "valueFrom")
	}
	if get(refs["POD_IP"], "fieldRef", "fieldPath") != "status.podIP" {
		t.Errorf("POD_IP = %v, want the fieldRef status.podIP", refs["POD_IP"])
	}
	if env["WS_GATEWAY_REDIS_URL"] == "" && get(refs["WS_GATEWAY_REDIS_URL"], "secretKeyRef", "name") == nil {
		t.Error("no WS_GATEWAY_REDIS_URL")
	}
	secretName := str(get(refs["WS_GATEWAY_REPLICA_SECRET"], "secretKeyRef", "name"))
	if secretName == "" || env["WS_GATEWAY_REPLICA_SECRET"] != "" {
		t.Errorf("WS_GATEWAY_REPLICA_SECRET must come from a secret (got %v)", refs["WS_GATEWAY_REPLICA_SECRET"])
	}
	if len(byKind["Secret"]) != 1 || str(get(byKind["Secret"][0], "metadata", "name")) != secretName ||
		len(str(get(byKind["Secret"][0], "data", str(get(refs["WS_GATEWAY_REPLICA_SECRET"], "secretKeyRef", "key"))))) < 44 {
		t.Errorf("no Secret %s with a value of 32 bytes or more: %v", secretName, byKind["Secret"])
	}
	matches := func(kind string, sel any) {
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s selects no pod", kind)
		}
		for k, v := range m {
			if podLabels[k] != v {
				t.Errorf("%s selector %s=%v does not match the pod", kind, k, v)
			}
		}
	}
	if len(byKind["PodDisruptionBudget"]) != 1 || str(get(byKind["PodDisruptionBudget"][0], "spec", "maxUnavailable")) != "1" {
		t.Fatalf("want one PodDisruptionBudget with maxUnavailable 1: %v", byKind["PodDisruptionBudget"])
	}
	matches("PodDisruptionBudget", get(byKind["PodDisruptionBudget"][0], "spec", "selector", "matchLabels"))
	if len(byKind["NetworkPolicy"]) != 1 {
		t.Fatal("no NetworkPolicy for the replica channel")
	}
	np := byKind["NetworkPolicy"][0]
	matches("NetworkPolicy", get(np, "spec", "podSelector", "matchLabels"))
	matches("NetworkPolicy's replica rule", get(np, "spec", "ingress", 1, "from", 0, "podSelector", "matchLabels"))
	if str(get(np, "spec", "ingress", 1, "ports", 0, "port")) != "replica" || str(get(np, "spec", "ingress", 0, "ports", 0, "port")) != "http" {
		t.Errorf("NetworkPolicy rules %v: want http open, replica from the gateway's pods", get(np, "spec", "ingress"))
	}
}

var defaults = want{domain: "ws.example.com", gitlabURL: "https://gitlab.example.com", publicURL: "https://ws.example.com", ingress: true}

// TestPlainManifests checks the committed deploy/kubernetes/ws-gateway.yaml;
// it runs without helm.
func TestPlainManifests(t *testing.T) {
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	checkManifests(t, decodeAll(t, data), defaults)
}

func TestChartFiles(t *testing.T) {
	var chart struct {
		APIVersion string `yaml:"apiVersion"`
		Name       string `yaml:"name"`
		Version    string `yaml:"version"`
		AppVersion string `yaml:"appVersion"`
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.APIVersion != "v2" || chart.Name != "ws-gateway" || chart.Version == "" || chart.AppVersion == "" {
		t.Errorf("Chart.yaml = %+v", chart)
	}
	var values map[string]any
	data, err = os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]any{{"gateway", "gitlabUrl"}, {"gateway", "domain"}, {"resources", "requests", "cpu"}, {"ingress", "tls", "secretName"}} {
		if str(get(values, path...)) == "" {
			t.Errorf("values.yaml has no %v", path)
		}
	}
}

func TestHelmLint(t *testing.T) {
	for _, set := range []string{"", "gateway.tlsSecretName=gw-tls,ingress.enabled=false", "replicaCount=3,redis.url=redis://redis:6379/0"} {
		args := []string{"lint", "--strict", chartDir}
		if set != "" {
			args = append(args, "--set", set)
		}
		if out, err := runHelm(t, args...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}

func TestHelmTemplate(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  string
		want want
	}{
		{"defaults", "", defaults},
		{"own domain and class", "gateway.domain=dev.corp.example,gateway.gitlabUrl=https://git.corp.example,ingress.className=nginx",
			want{domain: "dev.corp.example", gitlabURL: "https://git.corp.example", publicURL: "https://dev.corp.example", ingress: true}},
		{"replicas with Redis", "replicaCount=3,redis.url=rediss://redis.example.com:6380/0",
			want{domain: "ws.example.com", gitlabURL: "https://gitlab.example.com", publicURL: "https://ws.example.com", ingress: true, replicas: 3}},
		{"replicas with Redis in a secret", "replicaCount=2,redis.existingSecret=redis-url",
			want{domain: "ws.example.com", gitlabURL: "https://gitlab.example.com", publicURL: "https://ws.example.com", ingress: true, replicas: 2}},
		{"TLS at the gateway", "gateway.tlsSecretName=gw-tls,ingress.enabled=false,ingress.tls.enabled=false,service.type=LoadBalancer",
			want{domain: "ws.example.com", gitlabURL: "https://gitlab.example.com", publicURL: "https://ws.example.com", gatewayTLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "ws-gateway", chartDir}
			if tc.set != "" {
				args = append(args, "--set", tc.set)
			}
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			checkManifests(t, decodeAll(t, []byte(out)), tc.want)
		})
	}
}

// TestHelmTemplateReplicasNeedRedis: several replicas without shared state would each hold
// some agents and not find the others'; the chart refuses them.
func TestHelmTemplateReplicasNeedRedis(t *testing.T) {
	out, err := runHelm(t, "template", "ws-gateway", chartDir, "--set", "replicaCount=2")
	if err == nil || !strings.Contains(out, "replicaCount > 1 needs a Redis") {
		t.Errorf("replicaCount=2 without Redis rendered (err %v):\n%.300s", err, out)
	}
}

func TestHelmTemplateRequiresDomain(t *testing.T) {
	out, err := runHelm(t, "template", "ws-gateway", chartDir, "--set", "gateway.domain=")
	if err == nil || !strings.Contains(out, "gateway.domain is required") {
		t.Errorf("an empty gateway.domain rendered (err %v):\n%.300s", err, out)
	}
}

// TestPlainManifestsMatchChart keeps deploy/kubernetes/ws-gateway.yaml a
// rendering of the chart's defaults ('make deploy-manifests' rewrites it).
func TestPlainManifestsMatchChart(t *testing.T) {
	out, err := runHelm(t, "template", "ws-gateway", chartDir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	// Drop the two header comment lines.
	var body strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for i := 0; sc.Scan(); i++ {
		if i >= 2 {
			body.WriteString(sc.Text() + "\n")
		}
	}
	if body.String() != out {
		t.Errorf("deploy/kubernetes/ws-gateway.yaml is stale: run 'make deploy-manifests'\n%s", testutil.LineDiff(body.String(), out))
	}
}

// TestContainerfile checks the image definition goreleaser builds: one
// static binary at /usr/local/bin/ws on a base with sh and cp, no
// ENTRYPOINT (the runner passes its own shell command), gateway by default.
func TestContainerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "deploy", "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var from, copies, cmds []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			from = append(from, rest)
		case "COPY", "ADD":
			copies = append(copies, rest)
		case "CMD":
			cmds = append(cmds, rest)
		case "ENTRYPOINT":
			t.Errorf("ENTRYPOINT %s: the runner's docker executor passes a shell command to the image", rest)
		case "USER":
			t.Errorf("USER %s: the agent-delivery job must be able to write the build directory", rest)
		}
	}
	if len(from) != 1 || !regexp.MustCompile(`^(alpine|busybox):[0-9.]+`).MatchString(from[0]) {
		t.Errorf("FROM %v: want one pinned alpine or busybox base (sh and cp for agent delivery)", from)
	}
	if len(copies) != 1 || copies[0] != "ws "+compiler.AgentBinary+" /usr/local/bin/" {
		t.Errorf("COPY %v: want exactly 'COPY ws %s /usr/local/bin/' (the slim agent every delivery mode uses)", copies, compiler.AgentBinary)
	}
	if len(cmds) != 1 || !strings.HasPrefix(cmds[0], `["ws", "gateway", "serve"`) {
		t.Errorf("CMD %v: want the exec form of ws gateway serve", cmds)
	}
}

// TestHelmTemplateGatewaySettings: the chart passes the gateway's limits and its (unsafe)
// path-based URLs only when set, so the defaults stay the gateway's own.
func TestHelmTemplateGatewaySettings(t *testing.T) {
	vars := []string{"WS_GATEWAY_PATH_URLS", "WS_GATEWAY_MAX_TUNNEL_STREAMS", "WS_GATEWAY_MAX_AGENT_STREAMS", "WS_GATEWAY_MAX_USER_CONNS", "WS_GATEWAY_MAX_SESSIONS_PER_USER"}
	out, err := runHelm(t, "template", "ws-gateway", chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		if strings.Contains(out, v) {
			t.Errorf("the defaults set %s", v)
		}
	}
	out, err = runHelm(t, "template", "ws-gateway", chartDir, "--set",
		"gateway.pathUrls=true,gateway.limits.maxTunnelStreams=100,gateway.limits.maxAgentStreams=200,gateway.limits.maxUserConns=300,gateway.limits.maxSessionsPerUser=5")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`"true"`, `"100"`, `"200"`, `"300"`, `"5"`} {
		if !strings.Contains(out, "- name: "+vars[i]+"\n              value: "+want) {
			t.Errorf("rendering lacks %s=%s:\n%s", vars[i], want, out)
		}
	}
}
