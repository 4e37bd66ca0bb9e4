// Command gatewaymem measures a gateway's memory under two kinds of abuse by a user with a
// valid token (issue 10, finding 4), with the gateway and the agent as separate processes
// ('ws gateway serve', 'ws agent') and this program as the attacker:
//
//   - streams: one CLI tunnel opens N yamux streams and never sends their headers
//     (half-open), holding them;
//   - sessions: N browser sign-ins (POST /signin with a valid token and the form's CSRF
//     token), as a script would make them.
//
// It prints the gateway's RSS (VmRSS, VmHWM from /proc) before, at the peak, and after.
// Run it for each binary to compare (bench/gatewaymem.sh builds the one before issue 10):
//
//	go run ./bench/gatewaymem -ws bin/ws -streams 100000 -sessions 30000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ws-dev/ws/gwclient"
	"github.com/ws-dev/ws/internal/testutil/gitlabtokens"
	"github.com/ws-dev/ws/plan"
	"github.com/ws-dev/ws/tunnel"
)

const (
	jobTok  = "bench-job"
	userTok = "bench-user"
)

func main() {
	ws := flag.String("ws", "bin/ws", "the ws binary to measure")
	streams := flag.Int("streams", 100000, "half-open streams to open on one tunnel (0: skip)")
	sessions := flag.Int("sessions", 30000, "browser sign-ins to make (0: skip)")
	flag.Parse()
	if err := run(*ws, *streams, *sessions); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaymem:", err)
		os.Exit(1)
	}
}

func run(ws string, streams, sessions int) error {
	u := gitlabtokens.User{ID: 1, Username: "u"}
	fake := &gitlabtokens.Fake{
		Jobs:  map[string]gitlabtokens.Job{jobTok: {ID: 1, Status: "running", Ref: "ws/demo", PipelineID: 1, ProjectID: 7, ProjectPath: "g/p", User: u}},
		Users: map[string]gitlabtokens.User{userTok: u},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, fake.Handler()) }() // ends with the process
	gitlab := "http://" + ln.Addr().String()
	if streams > 0 {
		if err := measure(ws, gitlab, fmt.Sprintf("%d half-open streams on one tunnel", streams), func(base string) error {
			return halfOpen(base, streams)
		}); err != nil {
			return err
		}
	}
	if sessions > 0 {
		if err := measure(ws, gitlab, fmt.Sprintf("%d browser sign-ins", sessions), func(base string) error {
			return signIns(base, sessions)
		}); err != nil {
			return err
		}
	}
	return nil
}

// measure starts a gateway and an agent, runs attack, and prints the gateway's memory.
func measure(ws, gitlab, what string, attack func(base string) error) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	gw := exec.Command(ws, "gateway", "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--gitlab-url", gitlab, "--public-url", base)
	gw.Stderr = io.Discard
	if err := gw.Start(); err != nil {
		return err
	}
	defer func() { _ = gw.Process.Kill(); _ = gw.Wait() }()
	dir, err := os.MkdirTemp("", "gatewaymem-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, _ := (&plan.Plan{Version: plan.Version, Workspace: "demo", WorkingDir: dir, IdleTimeout: "0"}).Encode()
	ag := exec.Command(ws, "agent", "--gateway", base)
	ag.Env = []string{"WS_PLAN=" + p, "CI_JOB_TOKEN=" + jobTok, "HOME=" + dir, "PATH=/usr/bin:/bin", "WS_AGENT_LOG=" + filepath.Join(dir, "agent.log")}
	if err := ag.Start(); err != nil {
		return err
	}
	defer func() { _ = ag.Process.Kill(); _ = ag.Wait() }()
	cl := &gwclient.Client{BaseURL: base, Token: userTok}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := cl.Status(context.Background(), "7", "demo")
		if err == nil && (st.Phase == "running" || st.Phase == "") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("workspace not running: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	before := rss(gw.Process.Pid)
	start := time.Now()
	aerr := attack(base)
	took := time.Since(start)
	during := rss(gw.Process.Pid)
	time.Sleep(15 * time.Second) // past the gateway's 10 s header timeout
	after := rss(gw.Process.Pid)
	_, healthErr := http.Get(base + "/healthz")
	fmt.Printf("%s (%s): RSS before %s, right after %s, peak %s, 15 s later %s; attack took %s; attack error: %v; /healthz after: %v\n",
		what, ws, mib(before.rss), mib(during.rss), mib(after.hwm), mib(after.rss), took.Round(time.Millisecond), aerr, healthErr)
	return nil
}

type mem struct{ rss, hwm int64 } // KiB

func rss(pid int) mem {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	var m mem
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			m.rss, _ = strconv.ParseInt(f[1], 10, 64)
		}
		if len(f) >= 2 && f[0] == "VmHWM:" {
			m.hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return m
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// halfOpen opens n streams on one tunnel and sends nothing on them; it keeps them open
// until the measurement is over (the process exits).
func halfOpen(base string, n int) error {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+userTok)
	wsc, _, err := tunnel.Dial(context.Background(), base+"/api/v1/workspaces/7/demo/tunnel", h, nil)
	if err != nil {
		return err
	}
	cfg := tunnel.YamuxConfig()
	cfg.StreamOpenTimeout = 0 // an attacker does not give up
	sess, err := yamux.Client(tunnel.NetConn(context.Background(), wsc), cfg)
	if err != nil {
		return err
	}
	held = append(held, sess)
	for i := range n {
		st, err := sess.OpenStream()
		if err != nil {
			return fmt.Errorf("stream %d: %w", i, err)
		}
		heldStreams = append(heldStreams, st)
	}
	return nil
}

var (
	held        []*yamux.Session
	heldStreams []*yamux.Stream
)

// signIns signs in n times with the token form, as a script would.
func signIns(base string, n int) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	resp, err := c.Get(base + "/signin")
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		return errors.New("no CSRF token on /signin")
	}
	csrf := string(m[1])
	var csrfCookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.HasSuffix(ck.Name, "ws_web_csrf") {
			csrfCookie = ck
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				// A fresh browser each time: no session cookie to replace.
				req, _ := http.NewRequest("POST", base+"/signin", strings.NewReader(url.Values{"csrf": {csrf}, "token": {userTok}, "next": {"/"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", base)
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				req.AddCookie(csrfCookie)
				resp, err := c.Transport.RoundTrip(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body) // only the status matters
					resp.Body.Close()
					if resp.StatusCode != http.StatusSeeOther {
						err = fmt.Errorf("POST /signin = %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()

	return first
}
