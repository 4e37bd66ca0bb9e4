package local_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ws-dev/ws/internal/testutil"
)

// testContainersConf is the Podman configuration of the tests: this
// machine's sandbox refuses Podman's default runtime, cgroup manager and
// ulimits. ws itself uses the engine as configured on the user's machine.
const testContainersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`

// TestContainerScripts runs local workspaces in container mode with a real
// Podman (testdata/container): images and services run, variables stay
// literal, endpoints are published and forwarded, ws down and a killed
// supervisor leave nothing in the engine. Podman is installed by
// scripts/install-podman.sh and the image built by
// scripts/build-test-images.sh; without Podman the test skips, except in CI.
func TestContainerScripts(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("podman not found; CI installs it with scripts/install-podman.sh (make test): %v", err)
		}
		t.Skip("podman not found: run scripts/install-podman.sh (make test does) to run the container-mode tests")
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte(testContainersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAINERS_CONF", conf)
	root := testutil.RepoRoot()

	c := exec.Command("bash", filepath.Join(root, "scripts", "build-test-images.sh"))
	c.Stderr = os.Stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("scripts/build-test-images.sh: %v", err)
	}
	if image := strings.TrimSpace(string(out)); image != "localhost/ws-test-busybox:latest" {
		t.Fatalf("scripts/build-test-images.sh built %q; the scripts use localhost/ws-test-busybox:latest", image)
	}

	// Container mode delivers the ws binary into a busybox image: a static
	// build, as a release is. The scripts run it as ws.
	bin := t.TempDir()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", filepath.Join(bin, "ws"), "./cmd/ws")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ws: %v\n%s", err, out)
	}

	testscript.Run(t, scriptParams(t, "container", func(env *testscript.Env) error {
		env.Setenv("CONTAINERS_CONF", conf)
		env.Setenv("WS_LOCAL_ENGINE", "podman")
		env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
		return nil
	}))
}

// labelled lists the engine's objects of workspace name.
func labelled(engine, name string, kind ...string) []string {
	out, _ := exec.Command(engine, append(kind, "--quiet", "--filter", "label=dev.ws.workspace="+name)...).Output()
	return strings.Fields(string(out))
}

// enginesnap NAME: records the containers of NAME and every volume they
// mount (anonymous ones have no label), for enginegone.
func cmdEngineSnap(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts, args[0])
	ids := labelled(st.Mode, st.Name, "ps", "--all")
	if len(ids) == 0 {
		ts.Fatalf("%s has no containers", args[0])
	}
	out, err := exec.Command(st.Mode, append([]string{"inspect", "--format", "{{range .Mounts}}{{if .Name}}{{.Name}} {{end}}{{end}}"}, ids...)...).Output()
	ts.Check(err)
	ts.Setenv("ENGINE_SNAP_CONTAINERS", strings.Join(ids, " "))
	ts.Setenv("ENGINE_SNAP_VOLUMES", strings.Join(strings.Fields(string(out)), " "))
	ts.Logf("%s: containers %v, volumes %v", args[0], ids, strings.Fields(string(out)))
}

// enginegone NAME: nothing of NAME is left in the engine: no container,
// network or volume with its label, none of the containers and volumes
// enginesnap saw, nothing named after it in 'ps -a'.
func cmdEngineGone(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts, args[0])
	var left []string
	for _, kind := range [][]string{{"ps", "--all"}, {"network", "ls"}, {"volume", "ls"}} {
		left = append(left, labelled(st.Mode, st.Name, kind...)...)
	}
	for _, id := range strings.Fields(ts.Getenv("ENGINE_SNAP_CONTAINERS")) {
		if exec.Command(st.Mode, "container", "inspect", id).Run() == nil {
			left = append(left, "container "+id)
		}
	}
	for _, v := range strings.Fields(ts.Getenv("ENGINE_SNAP_VOLUMES")) {
		if exec.Command(st.Mode, "volume", "inspect", v).Run() == nil {
			left = append(left, "volume "+v)
		}
	}
	out, _ := exec.Command(st.Mode, "ps", "--all", "--format", "{{.Names}}").Output()
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, "ws-local-"+st.Name+"-") {
			left = append(left, "container "+n)
		}
	}
	if len(left) > 0 {
		ts.Fatalf("%s left in %s: %v", args[0], st.Mode, left)
	}
}

// removeWorkspaceObjects removes whatever a failed script left.
func removeWorkspaceObjects(engine, name string) {
	if ids := labelled(engine, name, "ps", "--all"); len(ids) > 0 {
		_ = exec.Command(engine, append([]string{"kill"}, ids...)...).Run()
		_ = exec.Command(engine, append([]string{"rm", "--force", "--volumes"}, ids...)...).Run()
	}
	if ids := labelled(engine, name, "network", "ls"); len(ids) > 0 {
		_ = exec.Command(engine, append([]string{"network", "rm"}, ids...)...).Run()
	}
	if ids := labelled(engine, name, "volume", "ls"); len(ids) > 0 {
		_ = exec.Command(engine, append([]string{"volume", "rm", "--force"}, ids...)...).Run()
	}
}
