package gateway

// The terminal API: GET /api/v1/workspaces/{project}/{name}/terminal, a WebSocket carrying
// one shell (binary frames: terminal bytes; text frames: JSON control messages).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ws-dev/ws/tunnel"
)

// TerminalMessage is a JSON text frame on the browser terminal WebSocket.
type TerminalMessage struct {
	Type    string `json:"type"` // resize, signal (in); exit, error (out)
	Cols    int    `json:"cols,omitempty"`
	Rows    int    `json:"rows,omitempty"`
	Signal  string `json:"signal,omitempty"`
	Code    *int   `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

func (s *Server) handleTerminal(w http.ResponseWriter, r *http.Request, u *user, ac *agentConn) {
	release, ok := s.userConn(w, u)
	if !ok {
		return
	}
	defer release()
	q := r.URL.Query()
	cols, _ := strconv.Atoi(q.Get("cols"))
	rows, _ := strconv.Atoi(q.Get("rows"))
	// A cookie-authenticated WebSocket must come from our own pages: the gate checked the
	// Origin ([CookieRequest]); the library checks it again.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		return
	}
	ws.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer s.watchAccess(u, ac, cancel)()
	defer ws.CloseNow()
	term := q.Get("term")
	if term == "" {
		term = "xterm-256color"
	}
	ctl, data, err := s.openShell(ac, fmt.Sprintf("%st%d", s.sessionPrefix(), s.reg.nextID.Add(1)), tunnel.Header{Command: q["cmd"], Cols: cols, Rows: rows, Term: term})
	if err != nil {
		termError(ctx, ws, err.Error())
		return
	}
	defer ctl.Close()
	defer data.Close()
	s.m.terminals.Inc()
	defer s.m.terminals.Dec()
	t := &termBridge{ws: ws, ctl: ctl, data: data, cancel: cancel}
	go t.browserToAgent(ctx)
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		t.agentToBrowser(ctx)
	}()
	context.AfterFunc(ctx, func() { ctl.Close(); data.Close() })
	t.waitExit(ctx, outDone)
}

// openShell opens a shell on ac: its control stream (h, with Kind and Session set here)
// and its data stream. The web page's terminals open theirs the same way.
func (s *Server) openShell(ac *agentConn, sid string, h tunnel.Header) (ctl, data net.Conn, err error) {
	h.Kind, h.Session = tunnel.KindShell, sid
	ctl, err = s.openToAgent(ac, h)
	if err != nil {
		return nil, nil, err
	}
	data, err = s.openToAgent(ac, tunnel.Header{Kind: tunnel.KindData, Session: sid})
	if err != nil {
		ctl.Close()
		return nil, nil, err
	}
	return ctl, data, nil
}

// termBridge joins a terminal WebSocket to a shell's control and data streams.
type termBridge struct {
	ws        *websocket.Conn
	ctl, data net.Conn
	cancel    func()
	wmu       sync.Mutex // one WebSocket writer at a time
}

func (t *termBridge) write(ctx context.Context, typ websocket.MessageType, b []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	wctx, c := context.WithTimeout(ctx, tunnel.WriteTimeout)
	defer c()
	return t.ws.Write(wctx, typ, b)
}

// browserToAgent sends terminal bytes to the data stream and resize and signal messages
// to the control stream, until the WebSocket ends.
func (t *termBridge) browserToAgent(ctx context.Context) {
	defer t.cancel()
	for {
		typ, b, err := t.ws.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			if _, err := t.data.Write(b); err != nil {
				return
			}
			continue
		}
		var m TerminalMessage
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "resize":
			_ = tunnel.WriteLine(t.ctl, tunnel.Control{Type: tunnel.MsgResize, Cols: m.Cols, Rows: m.Rows})
		case "signal":
			_ = tunnel.WriteLine(t.ctl, tunnel.Control{Type: tunnel.MsgSignal, Signal: m.Signal})
		}
	}
}

// agentToBrowser sends the shell's output as binary frames until the data stream ends.
func (t *termBridge) agentToBrowser(ctx context.Context) {
	buf := make([]byte, 32<<10)
	for {
		n, err := t.data.Read(buf)
		if n > 0 && t.write(ctx, websocket.MessageBinary, buf[:n]) != nil {
			t.cancel()
			return
		}
		if err != nil {
			return
		}
	}
}

// waitExit reads the control stream until the shell's exit, which it sends (after the
// last output, or 2 s) before closing the WebSocket normally.
func (t *termBridge) waitExit(ctx context.Context, outDone <-chan struct{}) {
	lr := tunnel.NewLineReader(t.ctl, tunnel.MaxHeaderBytes)
	for {
		var m tunnel.Control
		if err := lr.Read(&m); err != nil {
			return
		}
		if m.Type != tunnel.MsgExit {
			continue
		}
		select {
		case <-outDone:
		case <-time.After(2 * time.Second):
		}
		b, _ := json.Marshal(TerminalMessage{Type: "exit", Code: m.Code, Message: m.Error})
		_ = t.write(ctx, websocket.MessageText, b)
		t.ws.Close(websocket.StatusNormalClosure, "exited")
		return
	}
}

func termError(ctx context.Context, ws *websocket.Conn, msg string) {
	b, _ := json.Marshal(TerminalMessage{Type: "error", Message: msg})
	wctx, cancel := context.WithTimeout(ctx, tunnel.WriteTimeout)
	defer cancel()
	_ = ws.Write(wctx, websocket.MessageText, b)
	ws.Close(websocket.StatusInternalError, "error")
}
