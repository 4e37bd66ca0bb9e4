package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws-dev/ws/plan"
)

func noMounts(string) bool { return false }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An ephemeral volume is a directory at its path, made if missing.
func TestEphemeralVolume(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "home", "user", ".cache")
	if err := prepareVolume(plan.Volume{Name: "cache", Path: p}, filepath.Join(root, "project"), noMounts); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Fatalf("%s: %v, want a directory", p, err)
	}
}

// A persistent volume lives in the project (the job cache keeps .ws/volumes): the first job
// seeds it with what the image has at the path, later jobs (cache restored) keep theirs, and
// the path leads to it.
func TestPersistentVolume(t *testing.T) {
	root := t.TempDir()
	project := filepath.Join(root, "project")
	p := filepath.Join(root, "home", "user", ".m2")
	v := plan.Volume{Name: "m2", Path: p, Persistent: true, Dir: ".ws/volumes/m2"}
	kept := filepath.Join(project, ".ws", "volumes", "m2")

	// The image has settings at the path; the cache is empty.
	writeFile(t, filepath.Join(p, "settings.xml"), "from the image")
	if err := os.Symlink("settings.xml", filepath.Join(p, "link")); err != nil {
		t.Fatal(err)
	}
	if err := prepareVolume(v, project, noMounts); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(p); err != nil || target != kept {
		t.Fatalf("%s → %q, %v; want a symlink to %s", p, target, err, kept)
	}
	if got := readFile(t, filepath.Join(kept, "settings.xml")); got != "from the image" {
		t.Errorf("seeded settings = %q", got)
	}
	if got := readFile(t, filepath.Join(p, "link")); got != "from the image" {
		t.Errorf("the image's symlink, through the volume = %q", got)
	}
	// Work done in the workspace lands in the kept directory.
	writeFile(t, filepath.Join(p, "repository", "dep.jar"), "downloaded")

	// A restarted agent in the same job: nothing changes.
	if err := prepareVolume(v, project, noMounts); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(p, "repository", "dep.jar")); got != "downloaded" {
		t.Errorf("after a second preparation: %q", got)
	}

	// The next job: a fresh image at the path, the cache restored into the project.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p, "settings.xml"), "from a newer image")
	if err := prepareVolume(v, project, noMounts); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(p, "repository", "dep.jar")); got != "downloaded" {
		t.Errorf("the cache's content = %q, want it kept", got)
	}
	if got := readFile(t, filepath.Join(p, "settings.xml")); got != "from the image" {
		t.Errorf("settings = %q: the restored volume wins over the image, as a mounted one does", got)
	}
}

// ws up --local mounts the volumes itself; a mount point is left as it is, and so is a path
// that already is the kept directory (a bind mount the table did not show).
func TestVolumeAlreadyMounted(t *testing.T) {
	root := t.TempDir()
	project := filepath.Join(root, "project")
	p := filepath.Join(root, "cache")
	writeFile(t, filepath.Join(p, "data"), "mounted")
	v := plan.Volume{Name: "cache", Path: p, Persistent: true, Dir: ".ws/volumes/cache"}
	if err := prepareVolume(v, project, func(path string) bool { return path == p }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() || readFile(t, filepath.Join(p, "data")) != "mounted" {
		t.Fatalf("a mount point was changed: %v %v", fi, err)
	}
	// The same directory under two names: nothing is removed.
	kept := filepath.Join(project, ".ws", "volumes", "cache")
	if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p, kept); err != nil {
		t.Fatal(err)
	}
	if err := prepareVolume(v, project, noMounts); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(p, "data")); got != "mounted" {
		t.Fatalf("the volume's content = %q", got)
	}
}

// Paths that would wreck the workspace are refused with a reason, not followed.
func TestVolumeRefusedPaths(t *testing.T) {
	root := t.TempDir()
	project := filepath.Join(root, "project")
	writeFile(t, filepath.Join(project, "main.go"), "package main")
	for _, p := range []string{"/", project, filepath.Dir(project), filepath.Join(project, "sub"), "relative/path"} {
		err := prepareVolume(plan.Volume{Name: "v", Path: p, Persistent: true, Dir: ".ws/volumes/v"}, project, noMounts)
		if err == nil {
			t.Errorf("volume at %q was accepted", p)
		}
	}
	if readFile(t, filepath.Join(project, "main.go")) != "package main" {
		t.Fatal("the project was touched")
	}
}

func TestMountInfo(t *testing.T) {
	table := `22 1 0:21 / / rw,relatime - overlay overlay rw
36 22 0:31 / /home/user/.m2 rw - ext4 /dev/sda1 rw
37 22 0:32 / /with\040space rw - tmpfs tmpfs rw
`
	for path, want := range map[string]bool{"/home/user/.m2": true, "/home/user/.m2/": true, "/with space": true, "/home/user": false, "/": true} {
		if got := mountInfoHas(strings.NewReader(table), path); got != want {
			t.Errorf("mountInfoHas(%q) = %v, want %v", path, got, want)
		}
	}
}

// Outside a container the paths are the machine's own: the agent says so and touches nothing.
func TestVolumesOutsideAContainer(t *testing.T) {
	saved := inContainer
	inContainer = func([]string) bool { return false }
	defer func() { inContainer = saved }()
	root := t.TempDir()
	p := filepath.Join(root, "home", ".m2")
	writeFile(t, filepath.Join(p, "settings.xml"), "the developer's own")
	out := &strings.Builder{}
	a := New(Config{Out: out, Env: []string{"CI_PROJECT_DIR=" + filepath.Join(root, "project")}, Plan: &plan.Plan{Volumes: []plan.Volume{
		{Name: "m2", Path: p, Persistent: true, Dir: ".ws/volumes/m2"}, {Name: "tmp", Path: filepath.Join(root, "scratch")}}}})
	a.prepareVolumes()
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() || readFile(t, filepath.Join(p, "settings.xml")) != "the developer's own" {
		t.Fatalf("the host's directory was changed: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(root, "scratch")); err == nil {
		t.Error("an ephemeral volume was made on the host")
	}
	if !strings.Contains(out.String(), "volumes left to the machine as they are: m2 at "+p) {
		t.Errorf("agent output %q does not say why", out.String())
	}
}
