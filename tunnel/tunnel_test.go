package tunnel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLineReaderLimit(t *testing.T) {
	long := `{"kind":"` + strings.Repeat("x", 100) + `"}` + "\n"
	var h Header
	err := NewLineReader(strings.NewReader(long), 64).Read(&h)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Read(%d-byte line, max 64) = %v, want ErrTooLarge", len(long), err)
	}
	// Exactly at the limit is fine.
	line := `{"kind":"port","port":1}` + "\n"
	if err := NewLineReader(strings.NewReader(line), len(line)).Read(&h); err != nil || h.Kind != "port" {
		t.Fatalf("Read(line of max bytes) = %v, %+v", err, h)
	}
}

func TestLineReaderLimitWithoutNewline(t *testing.T) {
	// A peer that never sends a newline cannot make us buffer more than max.
	r := io.MultiReader(strings.NewReader(`{"kind":"`), neverEnding('x'))
	var h Header
	if err := NewLineReader(r, MaxHeaderBytes).Read(&h); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Read(endless line) = %v, want ErrTooLarge", err)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestLineReaderMalformed(t *testing.T) {
	for _, in := range []string{"not json\n", "{\"kind\":1}\n", "{\"kind\":\"port\"", "\n"} {
		var h Header
		err := NewLineReader(strings.NewReader(in), MaxHeaderBytes).Read(&h)
		if err == nil {
			t.Errorf("Read(%q) = nil error, want one", in)
		}
	}
	var h Header
	if err := NewLineReader(strings.NewReader(`{"kind":"port"`), MaxHeaderBytes).Read(&h); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read(truncated line) = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadHeaderKeepsPayload(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		_, _ = io.WriteString(b, `{"kind":"data","session":"s1"}`+"\npayload") // the reader checks what arrives
		b.Close()
	}()
	h, c, err := ReadHeader(a)
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != KindData || h.Session != "s1" {
		t.Errorf("ReadHeader = %+v", h)
	}
	rest, _ := io.ReadAll(c)
	if string(rest) != "payload" {
		t.Errorf("payload after header = %q, want %q", rest, "payload")
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	defer func(d time.Duration) { handshakeTimeout = d }(handshakeTimeout)
	handshakeTimeout = 50 * time.Millisecond
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() { _, _, err := ReadHeader(a); done <- err }()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("ReadHeader(silent peer) = %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadHeader did not time out")
	}
}

func TestRequestRefused(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		h, c, err := ReadHeader(b)
		if err == nil && h.Kind == KindPort {
			_ = WriteLine(c, Reply{Error: "nothing listens on port 1"}) // Request checks it
		}
		b.Close()
	}()
	_, err := Request(context.Background(), a, Header{Kind: KindPort, Port: 1})
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "nothing listens on port 1" {
		t.Fatalf("Request = %v, want RemoteError", err)
	}
}

// recWriter records each Write.
type recWriter struct{ writes [][]byte }

func (r *recWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

// frame builds a WebSocket frame with payload length n.
func frame(n int, masked bool) []byte {
	var h []byte
	b1 := byte(0)
	if masked {
		b1 = 0x80
	}
	switch {
	case n < 126:
		h = []byte{0x82, b1 | byte(n)}
	case n < 1<<16:
		h = []byte{0x82, b1 | 126, byte(n >> 8), byte(n)}
	default:
		h = []byte{0x82, b1 | 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	if masked {
		h = append(h, 1, 2, 3, 4)
	}
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	return append(h, p...)
}

func TestFrameWriterOneWritePerFrame(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 4000, 65535, 65536, 200 << 10}
	for _, masked := range []bool{false, true} {
		var frames [][]byte
		var all []byte
		for _, n := range sizes {
			f := frame(n, masked)
			frames = append(frames, f)
			all = append(all, f...)
		}
		rw := &recWriter{}
		fw := newFrameWriter(rw)
		// Write in random pieces, as a 4 KiB bufio.Writer would, and smaller.
		rng := rand.New(rand.NewPCG(1, 2))
		for rest := all; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(4096))
			if n, err := fw.Write(rest[:k]); err != nil || n != k {
				t.Fatalf("Write = %d, %v", n, err)
			}
			rest = rest[k:]
		}
		if len(rw.writes) != len(frames) {
			t.Fatalf("masked=%v: %d writes for %d frames", masked, len(rw.writes), len(frames))
		}
		for i := range frames {
			if !bytes.Equal(rw.writes[i], frames[i]) {
				t.Errorf("masked=%v: write %d differs from frame %d (len %d vs %d)", masked, i, i, len(rw.writes[i]), len(frames[i]))
			}
		}
	}
}

func TestFrameWriterPassesLargeFrames(t *testing.T) {
	f := frame(maxCoalesce+1, false)
	rw := &recWriter{}
	fw := newFrameWriter(rw)
	for rest := f; len(rest) > 0; {
		k := min(len(rest), 4096)
		if _, err := fw.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	if got := bytes.Join(rw.writes, nil); !bytes.Equal(got, f) {
		t.Fatalf("large frame: %d bytes written, want %d identical", len(got), len(f))
	}
	if len(rw.writes) < 2 {
		t.Errorf("large frame was collected in %d write(s), want pass-through", len(rw.writes))
	}
}

// TestFrameWriterReusesBuffers: collecting a frame of any size up to
// maxCoalesce takes a pooled buffer of sufficient capacity, so it does not
// allocate (growing a small pooled buffer allocated about a byte per byte
// sent).
func TestFrameWriterReusesBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items at random)")
	}
	fw := newFrameWriter(io.Discard)
	for _, n := range []int{100, 64 << 10, 100 << 10, maxCoalesce} {
		f := frame(n, true)
		allocs := testing.AllocsPerRun(20, func() {
			for rest := f; len(rest) > 0; {
				k := min(len(rest), 4096)
				if _, err := fw.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
		})
		if allocs >= 1 {
			t.Errorf("frame of %d bytes: %.1f allocations per frame, want none", n, allocs)
		}
	}
}

// TestTunnelRoundTrip carries a yamux stream over Dial/Accept (through
// the frame writers on both ends) and checks that compression is off.
func TestTunnelRoundTrip(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-WebSocket-Extensions") != "" {
			t.Errorf("client offered extensions %q, want none (compression off)", r.Header.Get("Sec-WebSocket-Extensions"))
		}
		ws, err := Accept(w, r)
		if err != nil {
			return
		}
		sess, err := Server(context.Background(), ws)
		if err != nil {
			return
		}
		defer sess.Close()
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		_, _ = io.Copy(st, st) // echo; the client checks what comes back
		st.Close()
		<-sess.CloseChan()
	}))
	defer srv.Close()
	ws, _, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := Client(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 3<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	go func() {
		if _, err := st.Write(want); err != nil {
			t.Error(err)
		}
		st.Close()
	}()
	got, err := io.ReadAll(st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo returned %d bytes, want the %d sent", len(got), len(want))
	}
}
