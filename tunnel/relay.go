package tunnel

import (
	"io"
	"net"
	"sync"
)

// copyBufs holds relay buffers: 256 KiB (one yamux window) so each read
// can become one large yamux frame and WebSocket message; only streams
// being copied hold one.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Relay copies a→b and b→a until both directions end, half-closing each
// side's write direction when its source reaches EOF, then closes both.
// It returns the bytes copied a→b and b→a.
func Relay(a, b net.Conn) (ab, ba int64) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ba = pipe(a, b)
	}()
	ab = pipe(b, a)
	wg.Wait()
	a.Close()
	b.Close()
	return ab, ba
}

// pipe copies src to dst, then half-closes dst. Between two TCP
// connections it lets io.Copy splice(2) instead of using a buffer. On a copy error (not
// EOF) it closes both so the other direction ends too.
func pipe(dst, src net.Conn) int64 {
	var n int64
	var err error
	if _, ok := dst.(*net.TCPConn); ok && isTCP(src) {
		n, err = io.Copy(dst, src) // splice(2): no buffer needed
	} else {
		bp := copyBufs.Get().(*[]byte)
		n, err = io.CopyBuffer(dst, onlyReader{src}, *bp)
		copyBufs.Put(bp)
	}
	if err != nil {
		dst.Close()
		src.Close()
		return n
	}
	_ = CloseWrite(dst)
	return n
}

// onlyReader hides WriterTo/ReaderFrom so CopyBuffer uses the pooled buffer.
type onlyReader struct{ io.Reader }

func isTCP(c net.Conn) bool { _, ok := c.(*net.TCPConn); return ok }
