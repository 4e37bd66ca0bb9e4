package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// DetectMode picks how to run the job: WS_LOCAL_ENGINE (shell, docker or
// podman) when set, else docker or podman when 'ENGINE info' succeeds
// (a client without a running engine does not count), else shell.
func DetectMode(ctx context.Context, getenv func(string) string) (mode, why string, err error) {
	switch v := getenv("WS_LOCAL_ENGINE"); v {
	case "":
	case ModeShell:
		return ModeShell, "WS_LOCAL_ENGINE=shell", nil
	case ModeDocker, ModePodman:
		if err := engineUsable(ctx, v); err != nil {
			return "", "", fmt.Errorf("WS_LOCAL_ENGINE=%s but '%s info' failed: %w", v, v, err)
		}
		return v, "WS_LOCAL_ENGINE=" + v, nil
	default:
		return "", "", fmt.Errorf("WS_LOCAL_ENGINE=%q: want shell, docker or podman", v)
	}
	var reasons []string
	for _, e := range []string{ModeDocker, ModePodman} {
		err := engineUsable(ctx, e)
		if err == nil {
			return e, "'" + e + " info' succeeded", nil
		}
		reasons = append(reasons, e+": "+err.Error())
	}
	return ModeShell, "no usable container engine (" + strings.Join(reasons, "; ") + ")", nil
}

func engineUsable(ctx context.Context, engine string) error {
	if _, err := exec.LookPath(engine); err != nil {
		return fmt.Errorf("not installed")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, engine, "info", "--format", "{{.ID}}").CombinedOutput()
	if err != nil {
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if line == "" {
			line = err.Error()
		}
		return fmt.Errorf("%s", line)
	}
	return nil
}

// hostGatewayIP is the host's address on the engine's default bridge, where
// the embedded gateway also listens so the job container can reach it as
// host.docker.internal.
func hostGatewayIP(ctx context.Context, engine string) (string, error) {
	network := "bridge"
	if engine == ModePodman {
		network = "podman"
	}
	out, err := exec.CommandContext(ctx, engine, "network", "inspect", network, "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the %s bridge address: %w", engine, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", fmt.Errorf("find the %s bridge address: network %s has no gateway", engine, network)
	}
	return f[0], nil
}

// containerRunner runs the job with an engine, following a ContainerPlan.
type containerRunner struct {
	st   *State
	job  *Job
	plan *ContainerPlan
	log  io.Writer
	cmd  *exec.Cmd
}

func newContainerRunner(st *State, j *Job, dir string, log io.Writer, gw string) (*containerRunner, error) {
	p, err := PlanContainers(j, ContainerOptions{Engine: st.Mode, Workspace: st.Name, Marker: st.Marker, StateDir: dir,
		ProjectDir: st.ProjectDir, WSBin: st.Executable, Gateway: gw, AgentToken: st.AgentToken})
	if err != nil {
		return nil, err
	}
	for name, vars := range p.EnvFiles {
		text, err := envFileText(vars)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	return &containerRunner{st: st, job: j, plan: p, log: log}, nil
}

func (r *containerRunner) run(ctx context.Context, argv []string) error {
	fmt.Fprintf(r.log, "ws: %s\n", strings.Join(argv, " "))
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stdout, c.Stderr = r.log, r.log
	return c.Run()
}

func (r *containerRunner) start(ctx context.Context) (<-chan error, error) {
	fmt.Fprintf(r.log, "ws: running job %q in %s with image %s\n", r.job.Name, r.st.Mode, r.job.Image)
	for _, a := range append(append([][]string{}, r.plan.Setup...), r.plan.Holder) {
		if err := r.run(ctx, a); err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(a[:3], " "), err)
		}
	}
	r.cmd = exec.Command(r.plan.Script[0], r.plan.Script[1:]...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.SysProcAttr = jobAttr()
	return startLocked(r.cmd, nil)
}

func (r *containerRunner) stop(done <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	_ = r.run(ctx, r.plan.Stop)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		return <-done
	}
}

func (r *containerRunner) afterScript() {
	if r.plan.AfterScript == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), afterScriptMax)
	defer cancel()
	_ = r.run(ctx, r.plan.AfterScript)
}

func (r *containerRunner) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range r.plan.Cleanup {
		_ = r.run(ctx, a)
	}
	removeContainers(ctx, r.st.Mode, r.st.Marker)
}

// removeContainers removes every container and network labelled with
// marker (what a killed supervisor may have left).
func removeContainers(ctx context.Context, engine, marker string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	filter := "label=" + labelKey + "=" + marker
	if out, err := exec.CommandContext(ctx, engine, "ps", "--all", "--quiet", "--filter", filter).Output(); err == nil {
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = exec.CommandContext(ctx, engine, append([]string{"rm", "--force", "--volumes"}, ids...)...).Run()
		}
	}
	if out, err := exec.CommandContext(ctx, engine, "network", "ls", "--quiet", "--filter", filter).Output(); err == nil {
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = exec.CommandContext(ctx, engine, append([]string{"network", "rm"}, ids...)...).Run()
		}
	}
}
