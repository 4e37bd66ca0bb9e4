package tunnel

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
)

// frameWriter sits between coder/websocket's bufio.Writer (4 KiB, not
// configurable) and the TCP connection, and hands each WebSocket frame to
// the connection in one Write. Without it a client, which masks its
// payload in place in that 4 KiB buffer, makes one syscall per 4 KiB, and
// a server two per message; syscalls were 70% of the tunnel's CPU time.
//
// It parses the outgoing frame headers (RFC 6455 §5.2) to know where each
// frame ends. coder/websocket writes a whole frame under its write lock
// and flushes at its end, so holding bytes until the frame is complete
// never waits for anything but the rest of that frame. Frames larger
// than maxCoalesce pass straight through. The buffer is pooled: an idle
// connection holds none. Only WebSocket frames may be written to it (the
// HTTP handshake is written before it is installed).
type frameWriter struct {
	w io.Writer

	hdr  [14]byte // header bytes of the current frame seen so far
	nhdr int
	need int     // bytes still missing from the current frame (after its header)
	buf  *[]byte // the frame being collected, nil between frames
	pass bool    // current frame is too large: pass its bytes through
	err  error
}

// maxCoalesce bounds the frames collected: a yamux frame (≤ StreamWindow)
// plus headers; larger frames are not produced by the tunnel.
const maxCoalesce = StreamWindow + 64

// Frame buffers come in two sizes, each allocated at its full capacity so
// that collecting a frame never grows (and reallocates) one: appending
// to a smaller pooled buffer made the collector allocate about as many
// bytes as it sent.
const smallFrame = 64<<10 + 14

var (
	smallFrames = sync.Pool{New: func() any { b := make([]byte, 0, smallFrame); return &b }}
	largeFrames = sync.Pool{New: func() any { b := make([]byte, 0, maxCoalesce+14); return &b }}
)

// frameBuf returns an empty pooled buffer for n bytes (n ≤ maxCoalesce+14).
func frameBuf(n int) *[]byte {
	if n <= smallFrame {
		return smallFrames.Get().(*[]byte)
	}
	return largeFrames.Get().(*[]byte)
}

func putFrameBuf(b *[]byte) {
	switch cap(*b) {
	case smallFrame:
		smallFrames.Put(b)
	case maxCoalesce + 14:
		largeFrames.Put(b)
	}
}

func newFrameWriter(w io.Writer) *frameWriter { return &frameWriter{w: w} }

func (f *frameWriter) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n := len(p)
	for len(p) > 0 {
		if f.need == 0 && !f.headerDone() {
			// Collecting a header: it is 2..14 bytes long.
			k := min(len(p), f.headerLen()-f.nhdr)
			if f.nhdr < 2 {
				k = min(len(p), 2-f.nhdr)
			}
			copy(f.hdr[f.nhdr:], p[:k])
			f.nhdr += k
			p = p[k:]
			if !f.headerDone() {
				continue
			}
			f.startFrame()
			if f.need == 0 { // empty frame: header only
				if err := f.flush(); err != nil {
					return 0, err
				}
			}
			continue
		}
		k := min(len(p), f.need)
		if f.pass {
			if _, err := f.w.Write(p[:k]); err != nil {
				f.err = err
				return 0, err
			}
		} else {
			*f.buf = append(*f.buf, p[:k]...)
		}
		f.need -= k
		p = p[k:]
		if f.need == 0 {
			if err := f.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// headerLen is the full header length once its first two bytes are known.
func (f *frameWriter) headerLen() int {
	if f.nhdr < 2 {
		return 2
	}
	n := 2
	switch f.hdr[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if f.hdr[1]&0x80 != 0 {
		n += 4 // masking key
	}
	return n
}

func (f *frameWriter) headerDone() bool { return f.nhdr >= 2 && f.nhdr == f.headerLen() }

func (f *frameWriter) startFrame() {
	var plen uint64
	switch l := f.hdr[1] & 0x7f; l {
	case 126:
		plen = uint64(f.hdr[2])<<8 | uint64(f.hdr[3])
	case 127:
		for _, b := range f.hdr[2:10] {
			plen = plen<<8 | uint64(b)
		}
	default:
		plen = uint64(l)
	}
	f.pass = plen > maxCoalesce
	f.need = int(min(plen, 1<<62))
	if f.pass {
		if _, err := f.w.Write(f.hdr[:f.nhdr]); err != nil {
			f.err = err
		}
		return
	}
	f.buf = frameBuf(f.nhdr + f.need)
	*f.buf = append((*f.buf)[:0], f.hdr[:f.nhdr]...)
}

// flush ends the current frame.
func (f *frameWriter) flush() error {
	f.nhdr = 0
	if f.pass {
		f.pass = false
		return f.err
	}
	b := f.buf
	f.buf = nil
	_, err := f.w.Write(*b)
	putFrameBuf(b)
	if err != nil {
		f.err = err
	}
	return err
}

// upgradeTransport gives the client side of a tunnel WebSocket a
// frameWriter: coder/websocket writes to the 101 response's body.
type upgradeTransport struct{ base http.RoundTripper }

func (t upgradeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return resp, err
	}
	resp.Body = &upgradedBody{ReadWriteCloser: rwc, br: bufio.NewReaderSize(rwc, clientReadBuf), fw: newFrameWriter(rwc)}
	return resp, nil
}

type upgradedBody struct {
	io.ReadWriteCloser
	br *bufio.Reader
	fw *frameWriter
}

// clientReadBuf is the read buffer under coder/websocket's 4 KiB reader
// on the dialing side (agent, CLI): one read syscall takes up to this
// much. The gateway, which must stay small per idle agent, keeps 4 KiB.
const clientReadBuf = 64 << 10

func (b *upgradedBody) Read(p []byte) (int, error) { return b.br.Read(p) }

func (b *upgradedBody) Write(p []byte) (int, error) { return b.fw.Write(p) }

// hijacker gives the server side of a tunnel WebSocket a frameWriter: the
// hijacked connection's writer is replaced by one that writes through it.
type hijacker struct{ http.ResponseWriter }

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("tunnel: response writer cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	// net/http has flushed the 101 response (1xx headers are written at
	// once), so only frames follow. A small buffer is enough: frameWriter
	// collects the frame, and a server does not mask in this buffer.
	return c, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(newFrameWriter(c), 512)), nil
}
