// Package fakegitlab is an in-process GitLab REST API for tests: a registry
// of stubs matched by method, path and query that asserts request bodies,
// counts calls, and reports unmatched requests and unused stubs (Verify).
package fakegitlab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
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
	// Latency is added to every request (benchmarks, round-trip counts).
	Latency time.Duration

	mu       sync.Mutex
	stubs    []*Stub
	requests []*Request
	problems []string
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

// Rounds returns the number of sequential round-trips among reqs: the
// longest chain of requests each of which started after the previous one
// ended. Requests sent in parallel overlap and count once (with Latency
// set, so that they do overlap).
func Rounds(reqs []*Request) int {
	rs := append([]*Request(nil), reqs...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Before(rs[j].Start) })
	chain := make([]int, len(rs))
	best := 0
	for i, r := range rs {
		chain[i] = 1
		for j := 0; j < i; j++ {
			if !rs[j].End.After(r.Start) && chain[j]+1 > chain[i] {
				chain[i] = chain[j] + 1
			}
		}
		best = max(best, chain[i])
	}
	return best
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
	body, _ := io.ReadAll(hr.Body)
	req := &Request{Method: hr.Method, Path: hr.URL.Path, Raw: hr.URL.EscapedPath(), Query: hr.URL.Query(),
		Body: body, Header: hr.Header.Clone(), Start: start}
	if s.Latency > 0 {
		time.Sleep(s.Latency)
	}
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
		w.Write(out)
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
