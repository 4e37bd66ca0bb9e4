package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serviceWait bounds the wait for a service's ports, like a runner's
// wait_for_services_timeout (30 s by default); the job then starts anyway.
const serviceWait = 30 * time.Second

// containerRunner runs the job with an engine, following a ContainerPlan.
type containerRunner struct {
	st   *State
	job  *Job
	dir  string
	log  io.Writer
	opts ContainerOptions
	plan *ContainerPlan
	cmd  *exec.Cmd
	// background are engine commands off the critical path.
	background sync.WaitGroup
}

func newContainerRunner(st *State, j *Job, dir string, log io.Writer) (*containerRunner, error) {
	o := ContainerOptions{Engine: st.Mode, Workspace: st.Name, Marker: st.Marker, StateDir: dir,
		ProjectDir: st.ProjectDir, AgentBinary: st.AgentBinary, AgentToken: st.AgentToken}
	p, err := PlanContainers(j, o)
	if err != nil {
		return nil, err
	}
	return &containerRunner{st: st, job: j, dir: dir, log: log, opts: o, plan: p}, nil
}

// engine runs one engine command; its error carries the engine's first
// complaint, which also goes to the job log. Its output (an id) does not.
func (r *containerRunner) engine(ctx context.Context, argv []string) error {
	_, err := r.run(ctx, argv, nil, io.Discard, true)
	return err
}

// attach runs a start command with input on the container's stdin; the
// container's output is the job log.
func (r *containerRunner) attach(ctx context.Context, argv []string, input string) error {
	_, err := r.run(ctx, argv, strings.NewReader(input), r.log, true)
	return err
}

// query runs an engine command that only reads, and returns its output.
func (r *containerRunner) query(ctx context.Context, argv []string) (string, error) {
	return r.run(ctx, argv, nil, io.Discard, false)
}

func (r *containerRunner) run(ctx context.Context, argv []string, stdin io.Reader, stdout io.Writer, logged bool) (string, error) {
	stderr := io.Discard
	if logged {
		fmt.Fprintf(r.log, "ws: %s\n", strings.Join(argv, " "))
		stderr = r.log
	}
	var out, errb bytes.Buffer
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stdin = stdin
	c.Stdout = io.MultiWriter(&out, stdout)
	c.Stderr = io.MultiWriter(&errb, stderr)
	if err := c.Run(); err != nil {
		if msg := complaint(errb.String()); msg != "" {
			return "", fmt.Errorf("%s %s: %s", argv[0], argv[1], msg)
		}
		return "", fmt.Errorf("%s %s: %w", argv[0], argv[1], err)
	}
	return out.String(), nil
}

// complaint picks an engine's error from its stderr: the line starting
// with "Error:" (both engines), else the last line.
func complaint(stderr string) string {
	var last string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if msg, ok := strings.CutPrefix(l, "Error: "); ok {
			return msg
		}
		if msg, ok := strings.CutPrefix(l, "Error response from daemon: "); ok {
			return msg
		}
		if l != "" {
			last = l
		}
	}
	return last
}

// prepare pulls missing images, creates the network and the builds volume
// (removing first what an earlier run of this workspace left, when that is
// in the way), and returns the network's gateway address: the embedded
// gateway listens there for the agent.
func (r *containerRunner) prepare(ctx context.Context) (string, error) {
	fmt.Fprintf(r.log, "ws: running job %q with %s, image %s\n", r.job.Name, r.st.Mode, r.job.Image)
	// Independent: the images, and the network and builds volume.
	var imgErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); imgErr = r.ensureImages(ctx) }()
	err := r.create(ctx)
	if err != nil {
		// What an earlier run of the workspace left (its watchdog was
		// killed too) is in the way: remove it and try again.
		removeLabelled(ctx, r.st.Mode, labelName+"="+r.st.Name, r.log)
		err = r.create(ctx)
	}
	wg.Wait()
	if err := errors.Join(imgErr, err); err != nil {
		return "", err
	}
	out, err := r.query(ctx, []string{r.st.Mode, "network", "inspect", r.plan.Network})
	if err != nil {
		return "", err
	}
	return networkGateway(out)
}

// create creates the network and the builds volume.
func (r *containerRunner) create(ctx context.Context) error {
	errs := make([]error, len(r.plan.Prepare))
	var wg sync.WaitGroup
	for i, a := range r.plan.Prepare {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = r.engine(ctx, a) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ensureImages pulls the images that are not on this machine yet (a
// runner's if-not-present pull policy), so a missing image is reported as
// such before anything is created.
func (r *containerRunner) ensureImages(ctx context.Context) error {
	seen := map[string]bool{}
	for _, img := range r.plan.Images {
		if seen[img] {
			continue
		}
		seen[img] = true
		if _, err := r.query(ctx, []string{r.st.Mode, "image", "inspect", img}); err == nil {
			continue
		}
		fmt.Fprintf(r.log, "ws: pulling %s\n", img)
		if err := r.attach(ctx, []string{r.st.Mode, "pull", img}, ""); err != nil {
			return fmt.Errorf("image %s is not on this machine and could not be pulled: %w", img, err)
		}
	}
	return nil
}

// networkGateway reads the gateway address from 'network inspect':
// Docker's IPAM.Config[].Gateway or Podman's subnets[].gateway.
func networkGateway(inspect string) (string, error) {
	var nets []struct {
		IPAM struct {
			Config []struct{ Gateway string }
		}
		Subnets []struct {
			Gateway string `json:"gateway"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal([]byte(inspect), &nets); err != nil {
		return "", fmt.Errorf("read the job network: %w", err)
	}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if ip := net.ParseIP(c.Gateway); ip != nil && ip.To4() != nil {
				return c.Gateway, nil
			}
		}
		for _, s := range n.Subnets {
			if ip := net.ParseIP(s.Gateway); ip != nil && ip.To4() != nil {
				return s.Gateway, nil
			}
		}
	}
	return "", errors.New("the job network has no IPv4 gateway address")
}

// start runs the needed jobs and the services, creates the job container
// and starts it with the script; the agent then dials gatewayURL.
func (r *containerRunner) start(ctx context.Context, gatewayURL string) (<-chan error, error) {
	o := r.opts
	o.Gateway = gatewayURL
	p, err := PlanContainers(r.job, o)
	if err != nil {
		return nil, err
	}
	r.plan = p
	for name, vars := range p.EnvFiles {
		text, err := envFileText(vars)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	for _, d := range p.Dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("persistent volume: %w", err)
		}
	}
	// The needed jobs, the services and the job container's creation do
	// not depend on each other.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); errs[0] = r.runNeeds(ctx) }()
	go func() { defer wg.Done(); errs[1] = r.startServices(ctx) }()
	go func() { defer wg.Done(); errs[2] = r.engine(ctx, p.Create) }()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(r.log, "ws: %s  (the script on its standard input)\n", strings.Join(p.Start, " "))
	r.cmd = exec.Command(p.Start[0], p.Start[1:]...)
	r.cmd.Stdin = strings.NewReader(p.Script)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.SysProcAttr = jobAttr()
	return startLocked(r.cmd, nil)
}

// runNeeds runs each needed job in its own container and moves its
// artifacts into the project, as a runner downloads them.
func (r *containerRunner) runNeeds(ctx context.Context) error {
	for _, n := range r.plan.Needs {
		fmt.Fprintf(r.log, "ws: job %s (its artifacts go to the workspace job)\n", n.Name)
		_ = os.RemoveAll(n.BuildsDir)
		for _, d := range n.Dirs {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("job %s: %w", n.Name, err)
			}
		}
		if err := r.attach(ctx, n.Run, n.Input); err != nil {
			return fmt.Errorf("job %s failed: %w", n.Name, err)
		}
		for _, a := range n.Artifacts {
			fmt.Fprintf(r.log, "ws: artifact %s -> %s\n", a.From, a.To)
			if err := moveFile(a.From, a.To); err != nil {
				return fmt.Errorf("job %s: artifact: %w", n.Name, err)
			}
		}
		// Removing it is not on the way to the workspace: cleanup waits.
		r.background.Add(1)
		go func() {
			defer r.background.Done()
			_ = r.engine(context.WithoutCancel(ctx), n.Remove)
			_ = os.RemoveAll(n.BuildsDir)
		}()
	}
	return nil
}

// moveFile moves a file, copying it (mode kept) across file systems.
func moveFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	err := os.Rename(from, to)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	tmp := to + ".ws-tmp"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, to)
}

// startServices starts the services, then waits for the ports their
// endpoints declare to accept connections on the job network.
func (r *containerRunner) startServices(ctx context.Context) error {
	for _, s := range r.plan.Services {
		if err := r.engine(ctx, s.Run); err != nil {
			return fmt.Errorf("service %s: %w", s.Alias, err)
		}
	}
	var wg sync.WaitGroup
	for _, s := range r.plan.Services {
		if len(s.Ports) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.waitService(ctx, s)
		}()
	}
	wg.Wait()
	return nil
}

func (r *containerRunner) waitService(ctx context.Context, s ServiceRun) {
	out, err := r.query(ctx, []string{r.st.Mode, "inspect", "--format",
		"{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", s.Name})
	ips := strings.Fields(out)
	if err != nil || len(ips) == 0 {
		fmt.Fprintf(r.log, "ws: warning: service %s: no address to check its ports at\n", s.Alias)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, serviceWait)
	defer cancel()
	for _, port := range s.Ports {
		addr := net.JoinHostPort(ips[0], strconv.Itoa(port))
		if err := waitListening(ctx, addr); err != nil {
			fmt.Fprintf(r.log, "ws: warning: service %s did not accept connections on port %d within %s; starting the job anyway\n",
				s.Alias, port, serviceWait)
			return
		}
	}
	fmt.Fprintf(r.log, "ws: service %s accepts connections on %v\n", s.Alias, s.Ports)
}

// waitListening dials addr until it accepts a connection or ctx ends.
func waitListening(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// published returns where the engine published the job's endpoints.
func (r *containerRunner) published(ctx context.Context) []PublishedEndpoint {
	var out []PublishedEndpoint
	for _, p := range r.plan.Published {
		s, err := r.query(ctx, []string{r.st.Mode, "port", p.Container, fmt.Sprintf("%d/%s", p.TargetPort, p.Proto)})
		addr := firstLine(s)
		if err != nil || addr == "" {
			fmt.Fprintf(r.log, "ws: warning: endpoint %s: no published port (%v)\n", p.Endpoint, err)
			continue
		}
		out = append(out, PublishedEndpoint{Name: p.Endpoint, TargetPort: p.TargetPort, Proto: p.Proto, Address: addr})
	}
	return out
}

// stop asks every process in the job container to end (the agent runs
// preStop), and kills the container if the script has not ended after
// stopGrace, as a runner does when a job is cancelled.
func (r *containerRunner) stop(done <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	_ = r.engine(ctx, r.plan.Stop)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		kctx, kcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer kcancel()
		_ = r.engine(kctx, []string{r.st.Mode, "kill", containerPrefix(r.st.Name) + "-job"})
		select {
		case err := <-done:
			return err
		case <-kctx.Done():
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			return <-done
		}
	}
}

// afterScript starts the job container again with after_script.
func (r *containerRunner) afterScript() {
	if r.plan.AfterScript == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), afterScriptMax)
	defer cancel()
	if err := r.attach(ctx, r.plan.Start, r.plan.AfterScript); err != nil {
		fmt.Fprintf(r.log, "ws: after_script: %v\n", err)
	}
}

// cleanup removes every container, volume and network of the job.
func (r *containerRunner) cleanup() {
	r.background.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	removeLabelled(ctx, r.st.Mode, r.plan.Label, r.log)
}

// removeLabelled removes every container (with its anonymous volumes),
// network and volume carrying label: what a killed supervisor, or an
// earlier run of the workspace, may have left.
func removeLabelled(ctx context.Context, engine, label string, log io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// The four lists are independent; usually all are empty.
	kinds := [][]string{{"ps", "--quiet", "--filter", "status=running"}, {"ps", "--all", "--quiet"}, {"network", "ls", "--quiet"}, {"volume", "ls", "--quiet"}}
	ids := make([][]string, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i] = listLabelled(ctx, engine, label, k...) }()
	}
	wg.Wait()
	// Kill the running containers first: removing a running container
	// waits for its stop timeout on Podman.
	for i, verb := range [][]string{{"kill"}, {"rm", "--force", "--volumes"}, {"network", "rm"}, {"volume", "rm", "--force"}} {
		if len(ids[i]) > 0 {
			runEngine(ctx, engine, log, append(verb, ids[i]...)...)
		}
	}
}

func listLabelled(ctx context.Context, engine, label string, args ...string) []string {
	out, err := exec.CommandContext(ctx, engine, append(args, "--filter", "label="+label)...).Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

func runEngine(ctx context.Context, engine string, log io.Writer, args ...string) {
	fmt.Fprintf(log, "ws: %s %s\n", engine, strings.Join(args, " "))
	c := exec.CommandContext(ctx, engine, args...)
	c.Stdout, c.Stderr = log, log
	_ = c.Run()
}
