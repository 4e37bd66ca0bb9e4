package local_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/root"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/local"
)

// The scripts run the real ws (this test binary under the name ws, or a
// static build for container mode) as user, supervisor, watchdog and agent:
// 'ws up --local' starts real processes.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ws": func() { os.Exit(root.Run(cmdutil.New(), nil)) },
		// wshttp ADDR: the workspace's web server in the scripts. It
		// listens, hands the socket to a child in its own session and
		// exits: when it returns, the server is accepting connections.
		"wshttp": wshttp,
	})
}

func wshttp() {
	serve := func(l net.Listener) {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from workspace %s\n", os.Getenv("WS_WORKSPACE"))
		})
		log.Fatal(http.Serve(l, nil))
	}
	if os.Args[1] == "-serve-fd3" {
		l, err := net.FileListener(os.NewFile(3, "listener"))
		if err != nil {
			log.Fatal(err)
		}
		serve(l)
	}
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		log.Fatal(err)
	}
	c := exec.Command(os.Args[0], "-serve-fd3")
	c.ExtraFiles = []*os.File{f}
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		log.Fatal(err)
	}
	os.Exit(0)
}

// TestScripts runs local workspaces in shell mode (testdata/script).
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "script", func(env *testscript.Env) error {
		env.Setenv("WS_LOCAL_ENGINE", "shell")
		return nil
	}))
}

// scriptParams are the testscript parameters of the local scripts in
// testdata/DIR; setup adds to the common set-up.
func scriptParams(t *testing.T, dir string, setup func(*testscript.Env) error) testscript.Params {
	return testscript.Params{
		Dir:                 filepath.Join(testutil.RepoRoot(), "local", "testdata", dir),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       testutil.Update(),
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":    cmdFreePort,
			"httpget":     cmdHTTPGet,
			"portforward": cmdPortForward,
			"pfwait":      cmdPortForwardWait,
			"published":   cmdPublished,
			"noprocs":     cmdNoProcs,
			"killsuper":   cmdKillSupervisor,
			"exitcode":    cmdExitCode,
			"perm":        cmdPerm,
			"enginesnap":  cmdEngineSnap,
			"enginegone":  cmdEngineGone,
			"gone":        cmdGone,
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir)
			for _, k := range []string{"GITLAB_HOST", "GITLAB_TOKEN", "WS_GATEWAY_URL"} {
				env.Setenv(k, "")
			}
			env.Setenv("LC_ALL", "C")
			// Whatever a failed script left running is ended here.
			env.Defer(func() {
				root := filepath.Join(env.WorkDir, "state", "ws", "local")
				dirs, _ := os.ReadDir(root)
				for _, d := range dirs {
					if st, err := local.Load(filepath.Join(root, d.Name())); err == nil {
						_ = syscall.Kill(st.PID, syscall.SIGKILL)
						local.Sweep(st.Marker, 0, 5*time.Second)
						if st.Mode != local.ModeShell {
							removeWorkspaceObjects(st.Mode, st.Name)
						}
					}
				}
			})
			return setup(env)
		},
	}
}

// freeport VAR: sets VAR to a free TCP port on 127.0.0.1.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// httpget URL WANT: GET URL (once: the scripts order their steps so the
// server is listening) and check that the body contains WANT.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		ts.Fatalf("GET %s: %v", args[0], err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), args[1]) {
		ts.Fatalf("GET %s: %q, want %q", args[0], b, args[1])
	}
}

// portForward is a 'ws port-forward' a script started.
type portForward struct {
	cmd    *exec.Cmd
	stderr strings.Builder
	mu     sync.Mutex
	done   chan error
}

var forwards sync.Map // *testscript.TestScript → *portForward

// scriptEnv is the environment ws needs inside a script.
func scriptEnv(ts *testscript.TestScript) []string {
	env := os.Environ()
	for _, k := range []string{"PATH", "HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "WS_LOCAL_ENGINE", "CONTAINERS_CONF",
		"GITLAB_HOST", "GITLAB_TOKEN", "WS_GATEWAY_URL", "LC_ALL"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

// portforward NAME SPEC: starts 'ws port-forward NAME SPEC' and returns
// once it says it is forwarding; pfwait waits for it to end.
func cmdPortForward(ts *testscript.TestScript, neg bool, args []string) {
	pf := &portForward{done: make(chan error, 1)}
	pf.cmd = exec.Command("ws", append([]string{"port-forward"}, args...)...)
	pf.cmd.Env = scriptEnv(ts)
	// exec.Command looked ws up in this process's PATH; use the script's.
	if p, err := lookPath(ts.Getenv("PATH"), "ws"); err == nil {
		pf.cmd.Path = p
	}
	r, err := pf.cmd.StderrPipe()
	ts.Check(err)
	ts.Check(pf.cmd.Start())
	ts.Defer(func() { _ = pf.cmd.Process.Kill() })
	forwards.Store(ts, pf)
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		said := false
		for sc.Scan() {
			pf.mu.Lock()
			pf.stderr.WriteString(sc.Text() + "\n")
			pf.mu.Unlock()
			if !said && strings.HasPrefix(sc.Text(), "Forwarding ") {
				said = true
				listening <- true
			}
		}
		if !said {
			listening <- false
		}
		pf.done <- pf.cmd.Wait()
	}()
	if !<-listening {
		ts.Fatalf("ws port-forward %s ended before forwarding:\n%s", strings.Join(args, " "), pf.output())
	}
}

func (pf *portForward) output() string {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.stderr.String()
}

// pfwait WANT: waits for the script's port-forward to end, failing after
// a minute, and checks that it said WANT.
func cmdPortForwardWait(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := forwards.Load(ts)
	if !ok {
		ts.Fatalf("no portforward started")
	}
	pf := v.(*portForward)
	var err error
	select {
	case err = <-pf.done:
	case <-time.After(time.Minute):
		ts.Fatalf("ws port-forward still running after a minute:\n%s", pf.output())
	}
	if !strings.Contains(pf.output(), args[0]) {
		ts.Fatalf("ws port-forward ended (%v) and said:\n%s\nwant %q", err, pf.output(), args[0])
	}
}

func lookPath(path, name string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

func state(ts *testscript.TestScript, name string) *local.State {
	st, err := local.Load(filepath.Join(ts.Getenv("XDG_STATE_HOME"), "ws", "local", name))
	ts.Check(err)
	return st
}

// published NAME ENDPOINT VAR: sets VAR to the address endpoint ENDPOINT
// of NAME is published at.
func cmdPublished(ts *testscript.TestScript, neg bool, args []string) {
	for _, p := range state(ts, args[0]).Published {
		if p.Name == args[1] {
			ts.Setenv(args[2], p.Address)
			return
		}
	}
	ts.Fatalf("endpoint %s of %s is not published", args[1], args[0])
}

// noprocs NAME: once the supervisor and the watchdog of NAME have ended,
// no process of the workspace (job, agent, servers) is left.
func cmdNoProcs(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts, args[0])
	for _, p := range []int{st.PID, st.WatchdogPID} {
		if err := waitExit(p, time.Minute); err != nil {
			ts.Fatalf("%s: %v", args[0], err)
		}
	}
	if left := local.Marked(st.Marker); len(left) > 0 {
		ts.Fatalf("processes of %s still running: %v", args[0], left)
	}
}

// waitExit waits until process pid (not a child of ours) has exited,
// through a pidfd that becomes readable when it does; d only bounds a
// failure.
func waitExit(pid int, d time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("pidfd_open(%d): %w", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(d.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("process %d still running after %s", pid, d)
		}
		return nil
	}
}

// killsuper NAME: SIGKILL the supervisor, as a crash or the OOM killer would.
func cmdKillSupervisor(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts, args[0])
	if len(local.Marked(st.Marker)) == 0 {
		ts.Fatalf("no job processes before the kill")
	}
	ts.Check(syscall.Kill(st.PID, syscall.SIGKILL))
}

// perm PATH MODE: PATH has permission bits MODE (octal).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	want, _ := strconv.ParseUint(args[1], 8, 32)
	if got := fi.Mode().Perm(); uint64(got) != want {
		ts.Fatalf("%s has mode %o, want %s", args[0], got, args[1])
	}
}

// exitcode N cmd args...: runs cmd and checks its exact exit code.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	want, _ := strconv.Atoi(args[0])
	err := ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		got = -1
		if e, ok := err.(interface{ ExitCode() int }); ok {
			got = e.ExitCode()
		}
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d (%v)", args[1], got, want, err)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// gone PIDFILE: the process whose pid PIDFILE holds has ended.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	ts.Check(err)
	if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		ts.Fatalf("process %d (%s) survived the stop", pid, args[0])
	}
}
