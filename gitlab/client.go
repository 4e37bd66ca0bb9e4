package gitlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// Options configure a [Client].
type Options struct {
	// Host is the instance base URL, e.g. https://gitlab.com.
	Host string
	// Token is a personal, project or group access token (PRIVATE-TOKEN).
	Token string
	// TokenSource says where Token came from ("GITLAB_TOKEN"); used in hints only.
	TokenSource string
	// Transport carries requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Debug, when set, receives a dump of every request and response with
	// credentials redacted.
	Debug io.Writer
	// RequestTimeout bounds one HTTP exchange; 0 means 30s.
	RequestTimeout time.Duration
	// Retry is the retry policy for 429, 5xx and network errors.
	Retry RetryPolicy
	// Sleep waits for d or until ctx is done; nil means a real timer. Tests
	// pass a function that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RetryPolicy bounds retries of transient failures (429, 5xx, network).
type RetryPolicy struct {
	// MaxAttempts is the number of tries of one request, first included; 0 means 5.
	MaxAttempts int
	// Budget bounds the total time spent on one request, waits included; 0 means 60s.
	Budget time.Duration
	// Base is the first backoff; it doubles each retry up to Cap. 0 means 500ms.
	Base time.Duration
	// Cap is the longest single wait; 0 means 8s.
	Cap time.Duration
	// Jitter returns a number in [0,1); nil means math/rand.
	Jitter func() float64
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.Budget <= 0 {
		p.Budget = 60 * time.Second
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Cap <= 0 {
		p.Cap = 8 * time.Second
	}
	if p.Jitter == nil {
		p.Jitter = rand.Float64
	}
	return p
}

// backoff returns the wait before retry number n (1-based): "equal jitter",
// half fixed and half random, so waits grow but never synchronise.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Base << (n - 1)
	if d > p.Cap || d <= 0 {
		d = p.Cap
	}
	return d/2 + time.Duration(p.Jitter()*float64(d/2))
}

// Client talks to one GitLab instance.
type Client struct {
	api         *gl.Client
	host        string
	tokenSource string
	retry       RetryPolicy
	sleep       func(context.Context, time.Duration) error
	now         func() time.Time
}

// New returns a client for opts.Host. It makes no request.
func New(opts Options) (*Client, error) {
	if opts.Host == "" {
		return nil, errors.New("no GitLab host")
	}
	rt := opts.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	rt = messageTransport{next: rt}
	if opts.Debug != nil {
		rt = &debugTransport{next: rt, w: opts.Debug, secrets: []string{opts.Token}}
	}
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	httpClient := &http.Client{Transport: rt, Timeout: timeout}
	api, err := gl.NewClient(opts.Token,
		gl.WithBaseURL(strings.TrimRight(opts.Host, "/")+"/api/v4"),
		gl.WithHTTPClient(httpClient),
		gl.WithoutRetries(), // ws retries itself: it must reconcile before re-sending a POST
		gl.WithUserAgent("ws"),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client for %s: %w", opts.Host, err)
	}
	c := &Client{
		api:         api,
		host:        strings.TrimRight(opts.Host, "/"),
		tokenSource: opts.TokenSource,
		retry:       opts.Retry.withDefaults(),
		sleep:       opts.Sleep,
		now:         opts.Now,
	}
	if c.sleep == nil {
		c.sleep = Sleep
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Host returns the instance base URL.
func (c *Client) Host() string { return c.host }

// Sleep waits d or until ctx ends, whichever comes first; it is the
// default Options.Sleep and the Factory's.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// transient reports whether a failed exchange may succeed when repeated:
// no response at all (network), 429, or a 5xx other than 501.
func transient(ctx context.Context, resp *gl.Response, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if resp == nil || resp.Response == nil {
		return true
	}
	s := resp.StatusCode
	return s == http.StatusTooManyRequests || (s >= 500 && s != http.StatusNotImplemented)
}

// retryAfter returns the server's Retry-After in seconds, if any.
func retryAfter(resp *gl.Response) time.Duration {
	if resp == nil || resp.Response == nil {
		return 0
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// retrier tracks one request's attempts against the policy.
type retrier struct {
	c        *Client
	start    time.Time
	attempts int
}

func (c *Client) newRetrier() *retrier { return &retrier{c: c, start: c.now()} }

// next waits before the next attempt and reports whether there is one.
func (r *retrier) next(ctx context.Context, resp *gl.Response) bool {
	r.attempts++
	p := r.c.retry
	if r.attempts >= p.MaxAttempts {
		return false
	}
	d := p.backoff(r.attempts)
	if ra := retryAfter(resp); ra > d {
		d = ra
	}
	if r.c.now().Sub(r.start)+d > p.Budget {
		return false
	}
	return r.c.sleep(ctx, d) == nil
}

// call runs fn, retrying transient failures under the client's policy.
// Only requests that are safe to repeat go through call; creating a
// pipeline has its own loop (see createPipeline).
func call[T any](ctx context.Context, c *Client, op string, fn func(...gl.RequestOptionFunc) (T, *gl.Response, error)) (T, *gl.Response, error) {
	r := c.newRetrier()
	for {
		v, resp, err := fn(gl.WithContext(ctx))
		if err == nil {
			return v, resp, nil
		}
		if !transient(ctx, resp, err) || !r.next(ctx, resp) {
			return v, resp, c.wrap(op, resp, err)
		}
	}
}

// callNoRet is call for client-go methods that return only a response.
func callNoRet(ctx context.Context, c *Client, op string, fn func(...gl.RequestOptionFunc) (*gl.Response, error)) (*gl.Response, error) {
	_, resp, err := call(ctx, c, op, func(o ...gl.RequestOptionFunc) (struct{}, *gl.Response, error) {
		resp, err := fn(o...)
		return struct{}{}, resp, err
	})
	return resp, err
}
