package local_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ws-dev/ws/cmd/cmdutil"
	"github.com/ws-dev/ws/cmd/root"
	"github.com/ws-dev/ws/internal/testutil"
	"github.com/ws-dev/ws/local"
)

// The scripts run the real ws (this test binary under the name ws) as user,
// supervisor, watchdog and agent: 'ws up --local' starts real processes.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ws": func() { os.Exit(root.Run(cmdutil.New(), nil)) },
		// wshttp ADDR: the workspace's web server in the scripts.
		"wshttp": func() {
			http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "hello from workspace %s\n", os.Getenv("WS_WORKSPACE"))
			})
			log.Fatal(http.ListenAndServe(os.Args[1], nil))
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(testutil.RepoRoot(), "local", "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       testutil.Update(),
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":  cmdFreePort,
			"httpget":   cmdHTTPGet,
			"noprocs":   cmdNoProcs,
			"killsuper": cmdKillSupervisor,
			"exitcode":  cmdExitCode,
			"perm":      cmdPerm,
			"gone":      cmdGone,
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir)
			env.Setenv("WS_LOCAL_ENGINE", "shell")
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
					}
				}
			})
			return nil
		},
	})
}

// freeport VAR: sets VAR to a free TCP port on 127.0.0.1.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// httpget URL WANT: polls URL (5 s deadline) until the body contains WANT.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(args[0])
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if strings.Contains(last, args[1]) {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("GET %s: %q, want %q", args[0], last, args[1])
}

func state(ts *testscript.TestScript, name string) *local.State {
	st, err := local.Load(filepath.Join(ts.Getenv("XDG_STATE_HOME"), "ws", "local", name))
	ts.Check(err)
	return st
}

// noprocs NAME: no process of the workspace (supervisor, watchdog, job,
// agent, postStart servers) is left, within 5 s.
func cmdNoProcs(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts, args[0])
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := local.Marked(st.Marker)
		for _, p := range []int{st.PID, st.WatchdogPID} {
			if syscall.Kill(p, 0) == nil && !isZombie(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("processes of %s still running: %v", args[0], left)
		}
		time.Sleep(20 * time.Millisecond)
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

// killsuper NAME: SIGKILL the supervisor, as a crash or the OOM killer would.
func cmdKillSupervisor(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts, args[0])
	if len(local.Marked(st.Marker)) == 0 {
		ts.Fatalf("no job processes before the kill")
	}
	ts.Check(syscall.Kill(st.PID, syscall.SIGKILL))
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
