// Package fakegitlab is an in-process GitLab REST API for tests: a registry
// of stubs matched by method, path and query that asserts request bodies,
// counts calls, and reports unmatched requests and unused stubs (Verify).
// It serves over loopback TCP (Server.URL) or, for counting round trips
// exactly, through an in-memory transport in rounds (Server.InRounds).
package fakegitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// Token is the token the fake accepts; any other gets 401.
const Token = "glpat-fake-0123456789abcdef"

// Any as Stub.Times means "called at least once, any number of times".
const Any = -1

// Optional as Stub.Times means "any number of times, none included"; the
// stateful Model uses it, since one scenario serves several commands.
const Optional = -2

// Request is a request the fake received.
type Request struct {
	Method string
	Path   string // decoded path, e.g. /api/v4/projects/g/p/pipeline
	Raw    string // escaped path as sent
	Query  url.Values
	Body   []byte
	Header http.Header
	Start  time.Time
	End    time.Time
	// Round is the round the request was answered in under InRounds
	// (1-based); 0 outside InRounds.
	Round int
}

// JSON decodes the request body.
func (r *Request) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// String is "METHOD /path?query" with the /api/v4 prefix removed.
func (r *Request) String() string {
	s := r.Method + " " + strings.TrimPrefix(r.Path, "/api/v4")
	if len(r.Query) > 0 {
		s += "?" + r.Query.Encode()
	}
	return s
}

// Reply is a stub's answer.
type Reply struct {
	Status int
	Body   any // string or []byte are sent as is; anything else as JSON
	Header map[string]string
}

// Stub answers requests with a method, a path and (a subset of) a query.
type Stub struct {
	Method string
	Path   string     // decoded, without /api/v4, e.g. /projects/g/p/pipeline
	Query  url.Values // every key given must match exactly
	// JSON, when set, must equal the request body decoded as JSON.
	JSON any
	// Check, when set, inspects the request and returns a problem or "".
	Check func(r *Request) string
	// Replies are served in order; the last one repeats when Times allows.
	Replies []Reply
	// Fn computes the reply instead of Replies.
	Fn func(r *Request) Reply
	// AnyToken answers requests whatever their token (401 scenarios).
	AnyToken bool
	// Times is the exact number of calls expected; 0 means len(Replies)
	// (at least 1); Any means one or more.
	Times int

	calls int
}

// Server is the fake GitLab.
type Server struct {
	*httptest.Server
	// Latency delays every answer served over TCP: a simulated network for
	// benchmarks that measure time. Tests count round trips with InRounds,
	// which does not depend on time at all.
	Latency time.Duration

	mu       sync.Mutex
	stubs    []*Stub
	requests []*Request
	problems []string
	rounds   *rounds // set while InRounds runs
}

// rounds is the state of an InRounds run.
type rounds struct {
	held    []chan int    // one per request waiting for its round
	arrived chan struct{} // a request was held (capacity 1)
}

// New starts a fake GitLab; Close it when done.
func New() *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Start starts a fake GitLab that is closed and verified when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New()
	t.Cleanup(func() {
		s.Close()
		s.Verify(t)
	})
	return s
}

// Stub registers stubs.
func (s *Server) Stub(stubs ...*Stub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stubs = append(s.stubs, stubs...)
}

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.requests...)
}

// Log returns one line per request (see [Request.String]).
func (s *Server) Log() string {
	var b strings.Builder
	for _, r := range s.Requests() {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Problems lists unexpected requests, failed body checks and stubs that
// were not called as often as expected.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.problems...)
	for _, st := range s.stubs {
		want := st.Times
		if want == 0 {
			want = max(len(st.Replies), 1)
		}
		switch {
		case want == Any && st.calls == 0:
			out = append(out, fmt.Sprintf("stub %s %s %s was never called", st.Method, st.Path, st.Query.Encode()))
		case want == Optional:
		case want != Any && st.calls != want:
			out = append(out, fmt.Sprintf("stub %s %s %s called %d times, want %d", st.Method, st.Path, st.Query.Encode(), st.calls, want))
		}
	}
	return out
}

// Verify fails t for every problem.
func (s *Server) Verify(t testing.TB) {
	t.Helper()
	for _, p := range s.Problems() {
		t.Errorf("fake GitLab: %s", p)
	}
}

// Rounds returns the number of sequential round trips reqs took: the
// highest Round among them (see InRounds).
func Rounds(reqs []*Request) int {
	n := 0
	for _, r := range reqs {
		n = max(n, r.Round)
	}
	return n
}

// Transport returns an http.RoundTripper that serves requests from s's
// stubs in this process, without a socket. Under InRounds each request
// waits for its round.
func (s *Server) Transport() http.RoundTripper { return transport{s} }

type transport struct{ s *Server }

func (t transport) RoundTrip(hr *http.Request) (*http.Response, error) {
	round, err := t.s.waitRound(hr.Context())
	if err != nil {
		if hr.Body != nil {
			hr.Body.Close()
		}
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.s.handle(rec, hr, time.Now(), round)
	resp := rec.Result()
	resp.Request = hr
	return resp, nil
}

// InRounds runs fn in a synctest bubble and answers the requests fn sends
// through s.Transport in rounds: a request is held until every goroutine
// in the bubble is blocked — the client has sent everything it sends
// before it needs an answer — and then all held requests are answered
// together. Each request records its round, so [Rounds] is the length of
// the longest chain of requests that waited for each other: exact, whatever
// the load on the machine. fn must create its client inside (synctest
// bubbles own the channels and timers made in them); time in the bubble
// is synctest's fake clock.
func (s *Server) InRounds(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	startSignalLoop()
	synctest.Test(t, func(t *testing.T) {
		st := &rounds{arrived: make(chan struct{}, 1)}
		s.mu.Lock()
		s.rounds = st
		s.mu.Unlock()
		done, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			n := 0
			for {
				synctest.Wait() // everything else is blocked
				s.mu.Lock()
				held := st.held
				st.held = nil
				s.mu.Unlock()
				if len(held) > 0 {
					n++
					for _, c := range held {
						c <- n
					}
					continue
				}
				select { // fn waits on something else (a timer): let it run
				case <-done:
					return
				case <-st.arrived:
				}
			}
		}()
		fn(t)
		close(done)
		<-stopped
		s.mu.Lock()
		s.rounds = nil
		s.mu.Unlock()
	})
}

// waitRound holds a request until its round under InRounds; it returns 0
// at once otherwise.
func (s *Server) waitRound(ctx context.Context) (int, error) {
	s.mu.Lock()
	st := s.rounds
	if st == nil {
		s.mu.Unlock()
		return 0, nil
	}
	c := make(chan int, 1)
	st.held = append(st.held, c)
	s.mu.Unlock()
	select {
	case st.arrived <- struct{}{}:
	default:
	}
	select {
	case n := <-c:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Until returns the requests received before (and including) the first
// one matching method and path suffix.
func Until(reqs []*Request, method, suffix string) []*Request {
	for i, r := range reqs {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			return reqs[:i+1]
		}
	}
	return reqs
}

func (s *Server) serve(w http.ResponseWriter, hr *http.Request) {
	start := time.Now()
	if s.Latency > 0 {
		t := time.NewTimer(s.Latency) // a simulated network, not a wait for anything
		select {
		case <-t.C:
		case <-hr.Context().Done():
			t.Stop()
			return
		}
	}
	s.handle(w, hr, start, 0)
}

// handle records hr and answers it from the stubs.
func (s *Server) handle(w http.ResponseWriter, hr *http.Request, start time.Time, round int) {
	var body []byte
	if hr.Body != nil {
		body, _ = io.ReadAll(hr.Body)
		hr.Body.Close()
	}
	req := &Request{Method: hr.Method, Path: hr.URL.Path, Raw: hr.URL.EscapedPath(), Query: hr.URL.Query(),
		Body: body, Header: hr.Header.Clone(), Start: start, Round: round}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	reply := s.match(req)
	s.mu.Unlock()
	if reply.Status == 0 {
		reply.Status = http.StatusOK
	}

	if reply.Header == nil || reply.Header["Content-Type"] == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	var out []byte
	switch b := reply.Body.(type) {
	case nil:
	case string:
		out = []byte(b)
	case []byte:
		out = b
	default:
		out, _ = json.Marshal(b)
	}
	s.mu.Lock()
	req.End = time.Now()
	s.mu.Unlock()
	w.WriteHeader(reply.Status)
	if hr.Method != http.MethodHead {
		_, _ = w.Write(out) // the client went away: there is no one to tell
	}
}

// match finds the stub for req; s.mu is held.
func (s *Server) match(req *Request) Reply {
	if tok := req.Header.Get("Private-Token"); tok != Token {
		// A stub may still expect a bad token (401 scenarios).
		if st := s.find(req); st != nil && st.AnyToken {
			return s.answer(st, req)
		}
		return Reply{Status: 401, Body: map[string]string{"message": "401 Unauthorized"}}
	}
	st := s.find(req)
	if st == nil {
		s.problems = append(s.problems, "unexpected request "+req.String())
		return Reply{Status: 418, Body: map[string]string{"message": "fake GitLab: no stub for " + req.String()}}
	}
	return s.answer(st, req)
}

func (s *Server) find(req *Request) *Stub {
	var exhausted *Stub
	for _, st := range s.stubs {
		if st.Method != req.Method || !pathMatches("/api/v4"+st.Path, req.Path) || !queryMatches(st.Query, req.Query) {
			continue
		}
		limit := st.Times
		if limit == 0 {
			limit = max(len(st.Replies), 1)
		}
		if limit < 0 || st.calls < limit {
			return st
		}
		exhausted = st
	}
	if exhausted != nil {
		s.problems = append(s.problems, "too many calls: "+req.String())
		exhausted.calls++ // makes Problems report the count
		return &Stub{Replies: []Reply{{Status: 418, Body: map[string]string{"message": "fake GitLab: too many calls to " + req.String()}}}}
	}
	return nil
}

func (s *Server) answer(st *Stub, req *Request) Reply {
	st.calls++
	if st.JSON != nil {
		var got, want any
		if err := json.Unmarshal(req.Body, &got); err != nil {
			s.problems = append(s.problems, fmt.Sprintf("%s: body is not JSON: %q", req, req.Body))
		}
		wb, _ := json.Marshal(st.JSON)
		_ = json.Unmarshal(wb, &want)
		if !reflect.DeepEqual(got, want) {
			s.problems = append(s.problems, fmt.Sprintf("%s: body\n got  %s\n want %s", req, compact(req.Body), wb))
		}
	}
	if st.Check != nil {
		if p := st.Check(req); p != "" {
			s.problems = append(s.problems, req.String()+": "+p)
		}
	}
	if st.Fn != nil {
		return st.Fn(req)
	}
	if len(st.Replies) == 0 {
		return Reply{Status: 200, Body: "{}"}
	}
	i := min(st.calls-1, len(st.Replies)-1)
	r := st.Replies[i]
	if r.Status == 0 {
		r.Status = 200
	}
	return r
}

// pathMatches compares paths; a "*" in the stub matches one segment.
func pathMatches(pattern, p string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == p
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

func queryMatches(want, got url.Values) bool {
	for k, v := range want {
		if !reflect.DeepEqual(v, got[k]) {
			return false
		}
	}
	return true
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) == nil {
		return buf.String()
	}
	return string(b)
}

// startSignalLoop starts the runtime's signal-forwarding goroutine outside
// any synctest bubble. The first signal.Notify of a process starts it, and
// the command line's signal-aware context (cmd/root) calls Notify: started
// inside a bubble, the goroutine selects on a channel of the bubble from
// outside it later, which the runtime treats as a fatal error.
var signalLoop sync.Once

func startSignalLoop() {
	signalLoop.Do(func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGWINCH)
		signal.Stop(c)
	})
}
