package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// Kind classifies a failed GitLab call by what the user can do about it.
type Kind int

const (
	// KindOther is any failure without a more specific kind.
	KindOther Kind = iota
	// KindAuth: the token is missing, rejected (401) or lacks rights (403).
	KindAuth
	// KindProjectNotFound: the project does not exist or is not visible.
	KindProjectNotFound
	// KindNotFound: another resource (branch, pipeline, job) does not exist.
	KindNotFound
	// KindPushDenied: the ws/<name> branch is protected or the user cannot push.
	KindPushDenied
	// KindInvalid: GitLab refused the request (400/422) with a message.
	KindInvalid
	// KindNetwork: no answer (DNS, refused connection, timeout).
	KindNetwork
	// KindServer: 429 or 5xx after retries.
	KindServer
)

// Error is a failed GitLab call with a hint the user can act on. Its text
// never contains the token.
type Error struct {
	Op      string // what ws was doing, e.g. "create pipeline on ws/demo"
	Method  string
	Path    string // request path, without query
	Status  int    // 0 when there was no HTTP answer
	Message string // GitLab's own message, as it sent it
	Kind    Kind
	Hint    string
	Err     error
}

func (e *Error) Error() string {
	code := strconv.Itoa(e.Status)
	switch {
	case e.Status == 0 && e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	case e.Message == code || strings.HasPrefix(e.Message, code+" "):
		// GitLab's message often starts with the status line already
		// ("401 Unauthorized", "404 Project Not Found"): say it once.
		return fmt.Sprintf("%s: %s", e.Op, e.Message)
	case e.Message != "" && e.Message != http.StatusText(e.Status):
		return fmt.Sprintf("%s: %d %s: %s", e.Op, e.Status, http.StatusText(e.Status), e.Message)
	default:
		return fmt.Sprintf("%s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	}
}

func (e *Error) Unwrap() error { return e.Err }

// IsKind reports whether err is an [Error] of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// ErrNoToken is returned before any request when no token is configured.
var ErrNoToken = errors.New("no GitLab token")

// gitlabMessage extracts GitLab's message from an error body, keeping its
// wording: {"message": "..."}, {"message": {"field": ["..."]}}, {"error": "..."}.
func gitlabMessage(body []byte) string {
	var raw map[string]any
	if json.Unmarshal(body, &raw) != nil {
		return strings.TrimSpace(string(body))
	}
	var parts []string
	for _, key := range []string{"message", "error", "error_description"} {
		v, ok := raw[key]
		if !ok {
			continue
		}
		parts = append(parts, flatten("", v)...)
	}
	return strings.Join(parts, "; ")
}

func flatten(prefix string, v any) []string {
	switch v := v.(type) {
	case string:
		if prefix == "" || prefix == "base" {
			return []string{v}
		}
		return []string{prefix + " " + v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, flatten(prefix, x)...)
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, flatten(k, v[k])...)
		}
		return out
	default:
		return []string{fmt.Sprint(v)}
	}
}

// wrap turns a client-go failure into an [Error] with a kind and a hint.
func (c *Client) wrap(op string, resp *gl.Response, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err}
	if resp == nil || resp.Response == nil {
		e.Kind = KindNetwork
		switch {
		case errors.Is(err, context.Canceled):
			e.Kind = KindOther
			e.Err = context.Canceled
		case isTimeout(err):
			e.Err = fmt.Errorf("GitLab at %s did not answer in time", c.host)
			e.Hint = "check your network, or GITLAB_HOST if it is wrong; then try again"
		default:
			e.Err = fmt.Errorf("cannot reach GitLab at %s: %w", c.host, netCause(err))
			e.Hint = "check your network and GITLAB_HOST"
		}
		return e
	}
	e.Status = resp.StatusCode
	if req := resp.Request; req != nil {
		e.Method = req.Method
		e.Path = req.URL.Path
	}
	var er *gl.ErrorResponse
	if errors.As(err, &er) && len(er.Body) > 0 {
		e.Message = gitlabMessage(er.Body)
	} else if errors.Is(err, gl.ErrNotFound) {
		e.Message = notFoundMessage(resp)
	}
	switch s := e.Status; {
	case s == http.StatusUnauthorized:
		e.Kind = KindAuth
		e.Hint = c.authHint("GitLab rejected the token (missing, expired or revoked)")
	case s == http.StatusForbidden:
		e.Kind = KindAuth
		if strings.Contains(e.Message, "insufficient_scope") {
			e.Hint = c.authHint("the token lacks the api scope ws needs")
		} else {
			e.Hint = c.authHint("the token needs the api scope, and your role in the project must allow this action")
		}
	case s == http.StatusNotFound && strings.Contains(e.Message, "Project Not Found"):
		e.Kind = KindProjectNotFound
		e.Hint = "check --project (group/name or ID) and GITLAB_HOST; a private project looks missing to a token that cannot see it"
	case s == http.StatusNotFound:
		e.Kind = KindNotFound
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity || s == http.StatusConflict:
		e.Kind = KindInvalid
	case s == http.StatusTooManyRequests || s >= 500:
		e.Kind = KindServer
		e.Hint = "GitLab is overloaded or failing; ws retried with backoff. Try again later, and check " + c.host + "/-/readiness or the status page"
	}
	return e
}

// notFoundMessage reads the JSON message of a 404, which client-go drops.
func notFoundMessage(resp *gl.Response) string {
	// client-go returns ErrNotFound without reading the body; messageTransport
	// copied GitLab's message ("404 Project Not Found") into a header first.
	if m := resp.Header.Get(messageHeader); m != "" {
		return m
	}
	return "404 Not Found"
}

func (c *Client) authHint(why string) string {
	src := c.tokenSource
	if src == "" {
		src = "GITLAB_TOKEN"
	}
	return fmt.Sprintf("%s; the token comes from %s. Create a personal access token with the api scope at %s/-/user_settings/personal_access_tokens and export GITLAB_TOKEN=<token>, then run 'ws auth status'", why, src, c.host)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// netCause drops the request URL that *url.Error repeats.
func netCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns
	}
	return err
}
