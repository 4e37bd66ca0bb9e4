package local

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Engine is a container engine that answered 'ENGINE info'.
type Engine struct {
	Name     string `json:"name"` // docker or podman
	Version  string `json:"version"`
	Rootless bool   `json:"rootless"`
	// Arch is the engine's architecture in Go's terms (amd64, arm64).
	Arch string `json:"arch"`
}

func (e *Engine) String() string {
	kind := "rootful"
	if e.Rootless {
		kind = "rootless"
	}
	return fmt.Sprintf("%s %s, %s, %s", e.Name, e.Version, kind, e.Arch)
}

// Detection is the outcome of [DetectMode].
type Detection struct {
	Mode   string  // shell, docker or podman
	Engine *Engine // nil in shell mode
	// Why says why this mode was chosen and, when ws fell back to shell
	// mode, what each engine answered.
	Why string
}

// DetectMode picks how to run the job: WS_LOCAL_ENGINE (shell, docker or
// podman) when set, else docker, then podman, when 'ENGINE info' answers
// and the engine can run this workspace's containers, else shell.
func DetectMode(ctx context.Context, getenv func(string) string) (*Detection, error) {
	switch v := getenv("WS_LOCAL_ENGINE"); v {
	case "":
	case ModeShell:
		return &Detection{Mode: ModeShell, Why: "WS_LOCAL_ENGINE=shell"}, nil
	case ModeDocker, ModePodman:
		e, err := probeEngine(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("WS_LOCAL_ENGINE=%s, but %w", v, err)
		}
		return &Detection{Mode: v, Engine: e, Why: "WS_LOCAL_ENGINE=" + v + ": " + e.String()}, nil
	default:
		return nil, fmt.Errorf("WS_LOCAL_ENGINE=%q: want shell, docker or podman", v)
	}
	var reasons []string
	for _, name := range []string{ModeDocker, ModePodman} {
		e, err := probeEngine(ctx, name)
		if err == nil {
			return &Detection{Mode: name, Engine: e, Why: e.String()}, nil
		}
		reasons = append(reasons, err.Error())
	}
	return &Detection{Mode: ModeShell, Why: "no usable container engine: " + strings.Join(reasons, "; ")}, nil
}

// probeEngine asks the engine about itself and says whether container mode
// can use it: 'docker info' (it needs the daemon), 'podman version' (a
// tenth of the time 'podman info' takes; local Podman is rootless when not
// run by root).
func probeEngine(ctx context.Context, name string) (*Engine, error) {
	if _, err := exec.LookPath(name); err != nil {
		return nil, fmt.Errorf("%s is not installed", name)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	verb := "info"
	if name == ModePodman {
		verb = "version"
	}
	c := exec.CommandContext(ctx, name, verb, "--format", "{{json .}}")
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		msg := complaint(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("'%s %s' failed: %s", name, verb, msg)
	}
	e, err := parseEngineInfo(name, out, os.Geteuid() != 0)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%s: container mode needs Linux (elsewhere the engine runs its containers in a VM the embedded gateway cannot be reached from)", name)
	}
	if e.Rootless {
		return nil, fmt.Errorf("%s is rootless: container mode needs a rootful engine (the job reaches the embedded gateway on its network's bridge, which a rootless engine keeps in its own network namespace)", name)
	}
	return e, nil
}

// parseEngineInfo reads 'docker info --format {{json .}}' (ServerVersion,
// SecurityOptions, Architecture, ServerErrors) or 'podman version --format
// {{json .}}' (Client, and Server for a remote Podman); notRoot says
// whether this process runs as another user than root.
func parseEngineInfo(name string, b []byte, notRoot bool) (*Engine, error) {
	type podmanVersion struct {
		Version string
		OsArch  string
	}
	var info struct {
		// docker info
		ServerVersion   string
		ServerErrors    []string
		SecurityOptions []string
		Architecture    string
		OSType          string
		// podman version
		Client *podmanVersion
		Server *podmanVersion
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s answered something ws cannot read: %w", name, err)
	}
	if len(info.ServerErrors) > 0 {
		return nil, fmt.Errorf("'%s info': %s", name, info.ServerErrors[0])
	}
	e := &Engine{Name: name}
	switch {
	case info.Client != nil && info.Client.Version != "":
		v := info.Client
		if info.Server != nil {
			// A remote Podman (a VM, another user's service): ws cannot
			// tell whether it is rootless, nor reach its networks.
			return nil, fmt.Errorf("%s is a remote Podman (%s); container mode needs a local one", name, info.Server.Version)
		}
		osName, arch, _ := strings.Cut(v.OsArch, "/")
		if osName != "linux" {
			return nil, fmt.Errorf("%s runs %s containers; container mode needs Linux containers", name, osName)
		}
		e.Version, e.Arch, e.Rootless = v.Version, arch, notRoot
	case info.ServerVersion != "":
		if info.OSType != "" && info.OSType != "linux" {
			return nil, fmt.Errorf("%s runs %s containers; container mode needs Linux containers", name, info.OSType)
		}
		e.Version, e.Arch = info.ServerVersion, goArch(info.Architecture)
		for _, o := range info.SecurityOptions {
			if strings.Contains(o, "name=rootless") {
				e.Rootless = true
			}
		}
	default:
		return nil, fmt.Errorf("'%s info' did not describe a container engine", name)
	}
	return e, nil
}

// goArch maps uname -m names (Docker's Architecture) to Go's.
func goArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// checkAgentBinary says whether bin can run in the engine's containers,
// which may have no libc at all: it must be a static Linux executable of
// the engine's architecture.
func checkAgentBinary(bin string, e *Engine) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("container mode delivers %s into the containers, but it is not a Linux executable: %w", bin, err)
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386,
		"arm": elf.EM_ARM, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV}
	if m, ok := machine[e.Arch]; ok && f.Machine != m {
		return fmt.Errorf("container mode delivers %s into the containers, but it is built for %s and %s runs %s containers", bin, f.Machine, e.Name, e.Arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("container mode delivers " + bin + " into the containers, but it is dynamically linked and the image may have no libc; " +
				"use a release build or build it with CGO_ENABLED=0")
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
