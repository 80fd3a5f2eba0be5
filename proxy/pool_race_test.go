package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// closingScript answers normally until a connection's last request (the
// connection number picks after how many, 1 to 4, and how it ends): then it
// answers and closes silently (as an idle timeout would), hangs up after
// reading the request without answering, cuts the response in the middle,
// or answers with Connection: close.
func closingScript(g gotReq) act {
	body := strings.Repeat("r", 2048)
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n" + body
	if g.seq < 1+g.conn%4 {
		return act{resp: resp}
	}
	switch (g.conn / 4) % 4 {
	case 0:
		return act{resp: resp, closeAfter: true}
	case 1:
		return act{hangUp: true}
	case 2:
		return act{resp: resp, cut: len(resp) / 2}
	}
	return act{resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2048\r\n\r\n" + body, closeAfter: true}
}

// outcome is what a client saw for one request.
type outcome struct {
	post   bool
	status int // 0: the connection was cut
}

// TestPoolMixedTrafficWithUpstreamCloses: many clients send GETs and POSTs
// (bodies of different sizes) through one destination whose upstream closes
// connections at every kind of point (run with -race). No POST reaches the
// upstream twice, a POST answered 200 reached it exactly once, a GET is
// sent at most twice (one safe retry); every request gets an answer (200 or
// 502) or a cut connection, never a hang. When the policy generation is
// retired, every upstream connection the gateway kept is closed.
func TestPoolMixedTrafficWithUpstreamCloses(t *testing.T) {
	h := newPKI(t)
	up := newScriptUp(t, h, closingScript)
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})

	const clients, each = 10, 30
	var mu sync.Mutex
	seen := map[string]outcome{}
	var wg sync.WaitGroup
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for i := range each {
				if c == nil {
					var err error
					if c, err = net.Dial("tcp", h.plain); err != nil {
						t.Error(err)
						return
					}
					_ = c.SetDeadline(time.Now().Add(60 * time.Second))
					br = bufio.NewReader(c)
				}
				id := fmt.Sprintf("c%d-%d", g, i)
				post := (g+i)%2 == 1
				req := "GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: " + id + "\r\n\r\n"
				if post {
					body := strings.Repeat("p", 1+(g*each+i)*997%(40<<10))
					req = fmt.Sprintf("POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\nContent-Length: %d\r\n\r\n%s", id, len(body), body)
				}
				o := outcome{post: post}
				keep := false
				if _, err := io.WriteString(c, req); err == nil {
					if resp, err := http.ReadResponse(br, nil); err == nil {
						if _, err := io.Copy(io.Discard, resp.Body); err == nil {
							o.status = resp.StatusCode
							keep = !resp.Close
						}
						resp.Body.Close()
					}
				}
				mu.Lock()
				seen[id] = o
				mu.Unlock()
				if !keep {
					c.Close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	count := map[string]int{}
	for id, o := range seen {
		n := up.seen(id)
		switch {
		case o.status != 0 && o.status != http.StatusOK && o.status != http.StatusBadGateway:
			t.Errorf("%s: status %d", id, o.status)
		case o.post && n > 1:
			t.Errorf("%s: a POST reached the upstream %d times", id, n)
		case o.post && o.status == http.StatusOK && n != 1:
			t.Errorf("%s: a POST answered 200 reached the upstream %d times", id, n)
		case !o.post && n > 2:
			t.Errorf("%s: a GET reached the upstream %d times (one retry at most)", id, n)
		case o.status == http.StatusOK && n == 0:
			t.Errorf("%s: answered 200 but never reached the upstream", id)
		}
		count[fmt.Sprintf("post=%v status=%d", o.post, o.status)]++
	}
	if len(seen) != clients*each {
		t.Fatalf("%d outcomes for %d requests", len(seen), clients*each)
	}
	if count["post=true status=200"] == 0 || count["post=false status=200"] == 0 {
		t.Fatalf("outcomes %v: no successful GET or POST, the test proves nothing", count)
	}
	t.Logf("outcomes %v over %d upstream connections", count, up.conns.Load())

	// Retire the generation: the gateway closes what it kept idle.
	h.srv.SetPolicy(mustCompile(t, filepath.Join(h.dir, "policy.yaml")))
	timeout := time.After(30 * time.Second)
	for up.open.Load() > 0 {
		select {
		case <-up.closed:
		case <-timeout:
			t.Fatalf("%d upstream connections still open after the generation was retired", up.open.Load())
		}
	}
}
