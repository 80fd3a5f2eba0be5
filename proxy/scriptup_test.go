package proxy_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
)

// gotReq is one request a script upstream read whole.
type gotReq struct {
	conn, seq int // the upstream connection (from 1) and the request's place on it (from 1)
	req       *http.Request
	body      []byte
}

// act is what a script upstream does with a request it has read.
type act struct {
	resp       string // written as is (may hold interim responses before the final one)
	hangUp     bool   // close without answering (the request was read: the upstream may have acted on it)
	cut        int    // write only the first cut bytes of resp, then close (0: all of it)
	closeAfter bool   // close silently after answering, as an idle timeout would
}

// scriptUp is a real TLS upstream on loopback that reads whole requests
// (Content-Length or chunked bodies, with net/http's parser) and does what
// its script says with each. It counts requests by their X-Req header, so a
// test can tell whether any request reached it twice.
type scriptUp struct {
	addr   netip.AddrPort
	conns  atomic.Int64 // connections accepted
	open   atomic.Int64 // connections open now
	mu     sync.Mutex
	byID   map[string]int
	reqs   []gotReq
	closed chan int // connection numbers, as the upstream closes them
}

func (u *scriptUp) seen(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byID[id]
}

func (u *scriptUp) last() gotReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return gotReq{}
	}
	return u.reqs[len(u.reqs)-1]
}

func newScriptUp(t testing.TB, h *harness, script func(r gotReq) act) *scriptUp {
	t.Helper()
	cert := h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptUp{addr: netip.MustParseAddrPort(ln.Addr().String()), byID: map[string]int{}, closed: make(chan int, 4096)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	live := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range live {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(u.conns.Add(1))
			u.open.Add(1)
			mu.Lock()
			live[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					c.Close()
					mu.Lock()
					delete(live, c)
					mu.Unlock()
					u.open.Add(-1)
					u.closed <- n
				}()
				u.serve(c, n, script)
			}()
		}
	}()
	return u
}

func (u *scriptUp) serve(c net.Conn, n int, script func(r gotReq) act) {
	br := bufio.NewReader(c)
	for seq := 1; ; seq++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		g := gotReq{conn: n, seq: seq, req: req, body: body}
		u.mu.Lock()
		u.byID[req.Header.Get("X-Req")]++
		u.reqs = append(u.reqs, g)
		u.mu.Unlock()
		a := script(g)
		if a.hangUp {
			return
		}
		out := []byte(a.resp)
		if a.cut > 0 && a.cut < len(out) {
			c.Write(out[:a.cut])
			return
		}
		if _, err := c.Write(out); err != nil || a.closeAfter {
			return
		}
	}
}

const okResp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
