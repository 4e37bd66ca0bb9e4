package gitlab

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// messageHeader carries GitLab's 404 message past client-go, which drops
// the body of a 404 (see notFoundMessage).
const messageHeader = "X-Ws-Gitlab-Message"

type messageTransport struct{ next http.RoundTripper }

func (t messageTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusNotFound || resp.Body == nil {
		return resp, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr == nil {
		if m := gitlabMessage(body); m != "" {
			resp.Header.Set(messageHeader, m)
		}
	}
	return resp, nil
}

// redactedHeaders never appear in debug output.
var redactedHeaders = []string{"Private-Token", "Job-Token", "Authorization", "Cookie", "Set-Cookie", "Deploy-Token"}

// redactedParams are query parameters that can carry a token.
var redactedParams = []string{"private_token", "job_token", "access_token", "token"}

// debugTransport dumps each exchange with credentials replaced by [REDACTED].
type debugTransport struct {
	next    http.RoundTripper
	w       io.Writer
	secrets []string // values removed wherever they appear
	mu      sync.Mutex
}

const maxDumpBody = 4 << 10

func (t *debugTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var b strings.Builder
	r := req.Clone(req.Context())
	for _, h := range redactedHeaders {
		if r.Header.Get(h) != "" {
			r.Header.Set(h, "[REDACTED]")
		}
	}
	r.URL = redactURL(req.URL)
	var reqBody []byte
	if req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	r.Body = nil
	r.ContentLength = 0
	head, _ := httputil.DumpRequestOut(r, false)
	fmt.Fprintf(&b, "> %s", indent(head, "> "))
	if len(reqBody) > 0 {
		fmt.Fprintf(&b, "> %s\n", truncate(reqBody))
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		fmt.Fprintf(&b, "< error: %v\n", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		rr := *resp
		rr.Header = resp.Header.Clone()
		for _, h := range redactedHeaders {
			if rr.Header.Get(h) != "" {
				rr.Header.Set(h, "[REDACTED]")
			}
		}
		rr.Header.Del(messageHeader)
		rr.Body = nil
		head, _ := httputil.DumpResponse(&rr, false)
		fmt.Fprintf(&b, "< %s", indent(head, "< "))
		if len(body) > 0 {
			fmt.Fprintf(&b, "< %s\n", truncate(body))
		}
	}
	out := b.String()
	for _, s := range t.secrets {
		if len(s) >= 4 {
			out = strings.ReplaceAll(out, s, "[REDACTED]")
		}
	}
	t.mu.Lock()
	_, _ = io.WriteString(t.w, out+"\n") // a debug dump that cannot be written is no reason to fail the request
	t.mu.Unlock()
	return resp, err
}

func redactURL(u *url.URL) *url.URL {
	c := *u
	q := c.Query()
	changed := false
	for _, p := range redactedParams {
		if q.Has(p) {
			q.Set(p, "[REDACTED]")
			changed = true
		}
	}
	if changed {
		c.RawQuery = q.Encode()
	}
	if c.User != nil {
		c.User = url.User("[REDACTED]")
	}
	return &c
}

func indent(b []byte, prefix string) string {
	s := strings.ReplaceAll(strings.TrimRight(string(b), "\r\n"), "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}

func truncate(b []byte) string {
	if len(b) > maxDumpBody {
		return fmt.Sprintf("%s… (%d bytes)", b[:maxDumpBody], len(b))
	}
	return string(b)
}
