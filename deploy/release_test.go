package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ws-dev/ws/compiler"
	"github.com/ws-dev/ws/internal/testutil"
)

type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		Main         string   `yaml:"main"`
		Binary       string   `yaml:"binary"`
		Env          []string `yaml:"env"`
		Goos         []string `yaml:"goos"`
		Goarch       []string `yaml:"goarch"`
		Flags        []string `yaml:"flags"`
		Ldflags      []string `yaml:"ldflags"`
		ModTimestamp string   `yaml:"mod_timestamp"`
	} `yaml:"builds"`
	Archives []map[string]any `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
	} `yaml:"checksum"`
	Dockers []struct {
		Dockerfile string `yaml:"dockerfile"`
		Goos       string `yaml:"goos"`
	} `yaml:"dockers"`
}

// readGoreleaser reads .goreleaser.yaml.
func readGoreleaser(t *testing.T) goreleaserConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c goreleaserConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoreleaserConfig checks what the release promises: static, trimmed,
// reproducible binaries for Linux and macOS on two architectures, stamped with
// version, commit and commit date; checksums; the image from deploy/.
func TestGoreleaserConfig(t *testing.T) {
	c := readGoreleaser(t)
	if c.Version != 2 {
		t.Errorf("version = %d, want 2", c.Version)
	}
	if len(c.Builds) != 2 {
		t.Fatalf("%d builds, want 2 (ws and the slim agent ws-agent)", len(c.Builds))
	}
	for i, want := range []struct{ main, binary, goos string }{
		{"./cmd/ws", "ws", "darwin,linux"},
		{"./cmd/" + compiler.AgentBinary, compiler.AgentBinary, "darwin,linux"},
	} {
		b := c.Builds[i]
		if b.Main != want.main || b.Binary != want.binary {
			t.Errorf("build %d main/binary = %s/%s, want %s/%s", i, b.Main, b.Binary, want.main, want.binary)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") {
			t.Errorf("env %v: binaries must be static (CGO_ENABLED=0)", b.Env)
		}
		if !slices.Contains(b.Flags, "-trimpath") {
			t.Errorf("flags %v lack -trimpath", b.Flags)
		}
		if b.ModTimestamp != "{{ .CommitTimestamp }}" {
			t.Errorf("mod_timestamp = %q, want the commit timestamp", b.ModTimestamp)
		}
		slices.Sort(b.Goos)
		slices.Sort(b.Goarch)
		if strings.Join(b.Goos, ",") != want.goos || strings.Join(b.Goarch, ",") != "amd64,arm64" {
			t.Errorf("%s targets %v × %v", want.binary, b.Goos, b.Goarch)
		}
		ld := strings.Join(b.Ldflags, " ")
		for _, want := range []string{
			"internal/build.Version={{ .Version }}",
			"internal/build.Commit={{ .ShortCommit }}",
			"internal/build.Date={{ .CommitDate }}", // not .Date: the build time would break reproducibility
		} {
			if !strings.Contains(ld, "github.com/ws-dev/ws/"+want) {
				t.Errorf("ldflags %q lack %s", ld, want)
			}
		}
	}
	if len(c.Archives) == 0 || c.Checksum.NameTemplate == "" {
		t.Errorf("archives %v, checksum %q", c.Archives, c.Checksum.NameTemplate)
	}
	if len(c.Dockers) == 0 {
		t.Error("no dockers section: the ws image is not built")
	}
	for _, d := range c.Dockers {
		if d.Dockerfile != "deploy/Containerfile" || d.Goos != "linux" {
			t.Errorf("docker image from %s for %s, want deploy/Containerfile for linux", d.Dockerfile, d.Goos)
		}
	}
}

// TestGoreleaserCheck runs 'goreleaser check' when goreleaser is installed
// ($GORELEASER, PATH, or 'make tools-goreleaser'); 'make release-check' does too.
func TestGoreleaserCheck(t *testing.T) {
	g := findTool("GORELEASER", "goreleaser")
	if g == "" {
		t.Skip("skipping: goreleaser not found (run 'make release-check', which installs it from the Go module proxy)")
	}
	cmd := exec.Command(g, "check")
	cmd.Dir = testutil.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("goreleaser check: %v\n%s", err, out)
	}
}

// TestVersionStamped builds ws the way the release does (static, -trimpath,
// -X ldflags) and checks that 'ws version' prints the stamped values and
// that no path of this machine is left in the binary.
//
// It compiles all of ws again with the release flags (-trimpath and
// CGO_ENABLED=0 share no build cache with 'go test'): 2–4 minutes on a cold
// cache on 2 cores, most of a plain 'go test ./...'. So it runs when CI is
// set or WS_DEPLOY_BUILD=1 ('make check-deploy', which 'make test' runs).
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds ws (-short)")
	}
	if os.Getenv("CI") == "" && os.Getenv("WS_DEPLOY_BUILD") != "1" {
		t.Skip("skipping: builds ws with the release flags (minutes on a cold cache); 'make check-deploy' and CI run it (WS_DEPLOY_BUILD=1)")
	}
	bin := filepath.Join(t.TempDir(), "ws")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	const pkg = "github.com/ws-dev/ws/internal/build"
	ldflags := "-X " + pkg + ".Version=1.2.3 -X " + pkg + ".Commit=abc1234 -X " + pkg + ".Date=2026-01-02T03:04:05Z"
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/ws")
	build.Dir = testutil.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("ws version: %v\n%s", err, out)
	}
	if got, want := string(out), "ws version 1.2.3 (abc1234 2026-01-02T03:04:05Z)\n"; got != want {
		t.Errorf("ws version printed %q, want %q", got, want)
	}
	out, err = exec.Command(bin, "--version").CombinedOutput()
	if err != nil || string(out) != "ws version 1.2.3\n" {
		t.Errorf("ws --version printed %q (%v)", out, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if root := testutil.RepoRoot(); bytes.Contains(data, []byte(root)) {
		t.Errorf("the binary contains the checkout path %s: -trimpath did not apply", root)
	}
}

// TestReleaseTargetsBuild compiles each binary of .goreleaser.yaml for each of its systems
// (amd64), as goreleaser will: ws once listed windows, where it had not built since the
// agent and local mode came (syscall.Kill, Setpgid, the process trees), and nothing noticed.
// Gated like TestVersionStamped (a cold cross build takes minutes).
func TestReleaseTargetsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: cross-builds ws (-short)")
	}
	if os.Getenv("CI") == "" && os.Getenv("WS_DEPLOY_BUILD") != "1" {
		t.Skip("skipping: cross-builds ws for every release system (minutes on a cold cache); 'make check-deploy' and CI run it (WS_DEPLOY_BUILD=1)")
	}
	c := readGoreleaser(t)
	for _, b := range c.Builds {
		for _, goos := range b.Goos {
			build := exec.Command("go", "build", "-trimpath", "-o", os.DevNull, b.Main)
			build.Dir = testutil.RepoRoot()
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH=amd64")
			if out, err := build.CombinedOutput(); err != nil {
				t.Errorf("GOOS=%s go build %s: %v\n%s", goos, b.Main, err, out)
			}
		}
	}
}

// TestImageMatchesCompiler keeps the published image the one ws compile
// delivers the agent from.
func TestImageMatchesCompiler(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	repo, _, _ := strings.Cut(compiler.DefaultAgentImage, ":")
	if !bytes.Contains(data, []byte(`name_template: "`+repo+`:latest"`)) {
		t.Errorf(".goreleaser.yaml does not publish %s:latest, the image ws compile uses (compiler.DefaultAgentImage)", repo)
	}
}
