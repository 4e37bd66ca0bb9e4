package fakegitlab

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// get sends GET /api/v4/<p> through c and returns the status.
func get(t *testing.T, c *http.Client, base, p string) int {
	req, _ := http.NewRequest("GET", base+"/api/v4/"+p, nil)
	req.Header.Set("Private-Token", Token)
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Error(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// spin burns CPU: a goroutine that is slow to send still joins its round.
func spin(n int, x *int) {
	for i := range n {
		*x += i % 7
	}
}

// TestInRounds: requests sent together share a round, whatever their
// goroutines' speed; a request sent after an answer starts the next round.
func TestInRounds(t *testing.T) {
	srv := Start(t)
	srv.Stub(&Stub{Method: "GET", Path: "/a/*", Times: Any, Replies: []Reply{{Body: "{}"}}})
	srv.InRounds(t, func(t *testing.T) {
		c := &http.Client{Transport: srv.Transport()}
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				var x int
				spin(i*2_000_000, &x)
				get(t, c, srv.URL, fmt.Sprint("a/p", i)) // round 1
			})
		}
		wg.Wait()
		get(t, c, srv.URL, "a/s1") // round 2
		wg.Go(func() { get(t, c, srv.URL, "a/s2") })
		wg.Go(func() {
			get(t, c, srv.URL, "a/s3") // round 3
			get(t, c, srv.URL, "a/s4") // round 4
		})
		wg.Wait()
	})
	got := map[string]int{}
	for _, r := range srv.Requests() {
		got[r.Path] = r.Round
	}
	want := map[string]int{"/api/v4/a/p0": 1, "/api/v4/a/p1": 1, "/api/v4/a/p2": 1, "/api/v4/a/s1": 2, "/api/v4/a/s2": 3, "/api/v4/a/s3": 3, "/api/v4/a/s4": 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rounds = %v, want %v", got, want)
	}
	if n := Rounds(srv.Requests()); n != 4 {
		t.Errorf("Rounds = %d, want 4", n)
	}
	if n := Rounds(Until(srv.Requests(), "GET", "/a/s1")); n != 2 {
		t.Errorf("Rounds until s1 = %d, want 2", n)
	}
}
