package webui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

const (
	maxMessage   = 64 << 10 // a browser message; the page splits bigger pastes
	pingInterval = 30 * time.Second
	defaultCols  = 80
	defaultRows  = 24
)

type control struct {
	Type    string `json:"type"`
	Cols    int    `json:"cols,omitempty"`
	Rows    int    `json:"rows,omitempty"`
	Code    *int   `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// size parses a terminal dimension, falling back to def when absent or absurd.
func size(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return def
	}
	return n
}

// serveTerminal bridges the browser's WebSocket to a shell from the Backend.
func (ui *UI) serveTerminal(w http.ResponseWriter, r *http.Request, s *session, project, name string) {
	// A page on another site could open this socket with the user's cookie (cross-site
	// WebSocket hijacking), so the Origin must be ours, and must be present: only browsers
	// use this endpoint, and they always send it.
	if o := r.Header.Get("Origin"); o != ui.origin {
		ui.log.Warn("webui: terminal origin refused", "origin", o, "user", s.rec.User.Username)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// The Origin was checked above against PublicURL, which behind a proxy may differ from
	// r.Host; the library's own same-host check would then refuse a good request.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept wrote the response
	}
	defer c.CloseNow()
	c.SetReadLimit(maxMessage)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	q := r.URL.Query()
	cols, rows := size(q.Get("cols"), defaultCols), size(q.Get("rows"), defaultRows)
	t, err := ui.b.OpenTerminal(ctx, s.rec.User, project, name, cols, rows)
	if err != nil {
		reason, msg := openError(err, name)
		ui.log.Info("webui: terminal refused", "user", s.rec.User.Username, "project", project, "name", name, "err", err)
		writeControl(ctx, c, control{Type: "error", Reason: reason, Message: msg})
		c.Close(websocket.StatusNormalClosure, reason)
		return
	}
	defer t.Close()
	// When the browser goes, end the shell; that also unblocks the Read below.
	context.AfterFunc(ctx, func() { _ = t.Close() })
	ui.log.Info("webui: terminal opened", "user", s.rec.User.Username, "project", project, "name", name)

	// Browser -> shell: bytes and resize messages. Ends when the socket does.
	inDone := make(chan struct{})
	go func() {
		defer close(inDone)
		defer cancel()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary {
				if _, err := t.Write(p); err != nil {
					return
				}
				continue
			}
			var m control
			if json.Unmarshal(p, &m) == nil && m.Type == "resize" {
				_ = t.Resize(size(strconv.Itoa(m.Cols), defaultCols), size(strconv.Itoa(m.Rows), defaultRows))
			}
		}
	}()

	// The session is checked again every Recheck while the terminal is open: a token
	// revoked in GitLab, or the session ended on the sessions page, closes it.
	go func() {
		tick := ui.cfg.Clock.NewTicker(ui.cfg.Recheck)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.Chan():
				if _, err := ui.Alive(ctx, s.rec.ID); errors.Is(err, ErrNoSession) {
					ui.log.Info("webui: terminal closed: its session ended", "user", s.rec.User.Username, "project", project, "name", name)
					writeControl(context.Background(), c, control{Type: "error", Reason: "signed_out",
						Message: "You were signed out: the session ended, or GitLab no longer accepts your token. Sign in again."})
					c.Close(websocket.StatusPolicyViolation, "signed out")
					cancel()
					return
				}
			}
		}
	}()

	// Pings find dead links behind NATs and keep idle proxies from closing the socket.
	go func() {
		tick := ui.cfg.Clock.NewTicker(pingInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.Chan():
				pctx, pcancel := context.WithTimeout(ctx, pingInterval)
				err := c.Ping(pctx)
				pcancel()
				if err != nil {
					cancel()
					return
				}
			}
		}
	}()

	// Shell -> browser. Writing blocks while the browser is slow, which stops reading the PTY:
	// backpressure instead of an unbounded buffer.
	buf := make([]byte, 32<<10)
	for {
		n, rerr := t.Read(buf)
		if n > 0 {
			if err := c.Write(ctx, websocket.MessageBinary, buf[:n]); err != nil {
				return // the browser went away; deferred Close ends the shell
			}
		}
		if rerr != nil {
			break
		}
	}
	code, err := t.Wait()
	ui.log.Info("webui: terminal ended", "user", s.rec.User.Username, "project", project, "name", name, "code", code, "err", err)
	switch {
	case errors.Is(err, ErrUnavailable):
		writeControl(ctx, c, control{Type: "error", Reason: "unavailable",
			Message: "Workspace " + name + " stopped, or lost its connection to the gateway. Reconnect when it runs again."})
	case err != nil:
		writeControl(ctx, c, control{Type: "error", Reason: "internal", Message: "The terminal ended unexpectedly."})
	default:
		writeControl(ctx, c, control{Type: "exit", Code: &code})
	}
	c.Close(websocket.StatusNormalClosure, "shell ended")
	<-inDone
}

// openError maps an OpenTerminal error to a reason and a message the page may show;
// unexpected errors are not shown, since their text can carry internal detail.
func openError(err error, name string) (reason, msg string) {
	switch {
	case errors.Is(err, ErrUnavailable):
		return "unavailable", "Workspace " + name + " is not running. Start it with ws up, then reconnect."
	case errors.Is(err, ErrForbidden):
		return "forbidden", "You may not open a terminal in workspace " + name + "."
	case errors.Is(err, ErrNotFound):
		return "not_found", "There is no workspace " + name + "."
	}
	return "internal", "The gateway could not open a terminal. Try again in a moment."
}

func writeControl(ctx context.Context, c *websocket.Conn, m control) {
	p, _ := json.Marshal(m)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = c.Write(wctx, websocket.MessageText, p)
}
