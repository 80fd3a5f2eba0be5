package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/proxy"
)

// writePolicy is basePolicy with PUT, PATCH and DELETE allowed on /upload.
const writePolicy = basePolicy + `      - id: writes
        methods: [PUT, PATCH, DELETE]
        paths: ["/upload"]
`

// plainConn is a raw keep-alive client connection to the plain listener.
type plainConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialPlain(t *testing.T, h *harness) *plainConn {
	t.Helper()
	c, err := net.Dial("tcp", h.plain)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &plainConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (p *plainConn) send(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.c, s); err != nil {
		p.t.Fatal(err)
	}
}

// response reads one response (interim ones included) and its body.
func (p *plainConn) response() (*http.Response, string) {
	p.t.Helper()
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		p.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// TestDirectExchangeRequestBodies: bodies sent with Content-Length or
// chunked reach the upstream whole and exactly framed (a small chunked body
// is validated and sent with its length; a large one streams chunked), the
// client's framing fields never pass through, and the connection is kept
// alive for the next request.
func TestDirectExchangeRequestBodies(t *testing.T) {
	big := strings.Repeat("b", 100<<10)    // larger than one read-ahead and one flush
	huge := strings.Repeat("h", 1<<20+512) // larger than the chunked prefetch
	cases := []struct {
		name, method, framing, body string
		wantChunked                 bool
	}{
		{"POST small", "POST", "cl", `{"displayName":"Ada"}`, false},
		{"POST big", "POST", "cl", big, false},
		{"POST empty", "POST", "cl", "", false},
		{"PUT", "PUT", "cl", "put body", false},
		{"PATCH", "PATCH", "cl", "patch body", false},
		{"DELETE with body", "DELETE", "cl", "why", false},
		{"POST chunked small", "POST", "chunked", "hello chunked world", false},
		{"POST chunked huge", "POST", "chunked", huge, true},
	}
	h := newPKI(t)
	up := newScriptUp(t, h, func(gotReq) act { return act{resp: okResp} })
	h.start(harnessOpts{policy: writePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	p := dialPlain(t, h)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.t = t
			id := fmt.Sprint("body-", i)
			head := tc.method + " http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: " + id + "\r\nContent-Type: application/json\r\n"
			switch tc.framing {
			case "cl":
				p.send(head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(tc.body)) + tc.body)
			case "chunked":
				var b strings.Builder
				for rest := tc.body; rest != ""; {
					n := min(len(rest), 64<<10)
					b.WriteString(chunk(rest[:n]))
					rest = rest[n:]
				}
				p.send(head + "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" + b.String() + "0\r\nX-Sum: 1\r\n\r\n")
			}
			resp, body := p.response()
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("response %d %q", resp.StatusCode, body)
			}
			if resp.Close {
				t.Fatal("the gateway closed the client connection after a good request")
			}
			g := up.last()
			if g.req.Header.Get("X-Req") != id {
				t.Fatalf("upstream's last request is %q", g.req.Header.Get("X-Req"))
			}
			if g.req.Method != tc.method || string(g.body) != tc.body {
				t.Fatalf("upstream got %s with %d bytes, want %s with %d", g.req.Method, len(g.body), tc.method, len(tc.body))
			}
			if up.seen(id) != 1 {
				t.Fatalf("upstream saw the request %d times", up.seen(id))
			}
			chunked := len(g.req.TransferEncoding) > 0
			if chunked != tc.wantChunked {
				t.Fatalf("upstream framing chunked=%v, want %v", chunked, tc.wantChunked)
			}
			if !chunked && g.req.ContentLength != int64(len(tc.body)) {
				t.Fatalf("upstream Content-Length %d, want %d", g.req.ContentLength, len(tc.body))
			}
			if tc.method == "POST" && len(tc.body) == 0 && g.req.Header.Get("Content-Length") != "0" {
				t.Fatalf("an empty POST must say Content-Length: 0, header %v", g.req.Header)
			}
			if g.req.Header.Get("Trailer") != "" || g.req.Trailer.Get("X-Sum") != "" {
				t.Fatal("the client's trailer reached the upstream")
			}
		})
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for %d sequential requests, want 1 (kept alive)", n, len(cases))
	}
}

// TestDirectExchangeBodyTooLarge: a body over the limit is refused as
// before — by its Content-Length before anything is read, and a chunked one
// as it grows — and the upstream never sees a whole request.
func TestDirectExchangeBodyTooLarge(t *testing.T) {
	h := newPKI(t)
	up := newScriptUp(t, h, func(gotReq) act { return act{resp: okResp} })
	h.start(harnessOpts{policy: basePolicy, limits: proxy.Limits{MaxBodyBytes: 4096}, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	for name, req := range map[string]string{
		"content-length": "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: big-cl\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("a", 5000),
		"chunked":        "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: big-chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(strings.Repeat("a", 3000)) + chunk(strings.Repeat("a", 3000)) + "0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			if status, _ := h.raw(t, req); status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", status)
			}
		})
	}
	if up.seen("big-cl")+up.seen("big-chunked") != 0 {
		t.Fatal("an oversized request reached the upstream whole")
	}
}

// TestExpectContinue: the gateway answers Expect: 100-continue itself, once
// policy allowed the request (RFC 9110 §10.1.1 lets the server that will
// read the content decide), and strips the expectation; a denied request
// gets its refusal without a 100 and its body is never read; an HTTP/1.0
// request's expectation is ignored (no 1xx to an HTTP/1.0 client, §15.2).
func TestExpectContinue(t *testing.T) {
	h := newPKI(t)
	up := newScriptUp(t, h, func(gotReq) act { return act{resp: okResp} })
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})

	t.Run("allowed", func(t *testing.T) {
		p := dialPlain(t, h)
		p.send("POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: expect-ok\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, _ := p.response()
		if resp.StatusCode != http.StatusContinue {
			t.Fatalf("first response %d, want 100 before the body is sent", resp.StatusCode)
		}
		p.send("hello")
		resp, body := p.response()
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("final response %d %q", resp.StatusCode, body)
		}
		g := up.last()
		if string(g.body) != "hello" || g.req.Header.Get("Expect") != "" {
			t.Fatalf("upstream got body %q, Expect %q", g.body, g.req.Header.Get("Expect"))
		}
	})
	t.Run("denied", func(t *testing.T) {
		p := dialPlain(t, h)
		p.send("POST http://graph.test.example/nope HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: expect-denied\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, _ := p.response()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("response %d, want 403 without a 100", resp.StatusCode)
		}
		if up.seen("expect-denied") != 0 {
			t.Fatal("a denied request reached the upstream")
		}
	})
	t.Run("HTTP/1.0", func(t *testing.T) {
		p := dialPlain(t, h)
		p.send("POST http://graph.test.example/upload HTTP/1.0\r\nHost: graph.test.example\r\nX-Req: expect-10\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
		resp, _ := p.response()
		if resp.StatusCode != 200 {
			t.Fatalf("first response %d, want the final 200 (no 1xx to HTTP/1.0)", resp.StatusCode)
		}
		if up.seen("expect-10") != 1 {
			t.Fatal("the HTTP/1.0 request did not reach the upstream once")
		}
	})
}

// TestUpstreamInterimResponses: interim responses (102, 103) before the
// final one are read and dropped, for requests with and without bodies, and
// the connection is reused; a 101 is a 502 and its connection is never
// pooled.
func TestUpstreamInterimResponses(t *testing.T) {
	h := newPKI(t)
	up := newScriptUp(t, h, func(g gotReq) act {
		switch g.req.URL.Path {
		case "/upgrade":
			return act{resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"}
		}
		return act{resp: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + okResp}
	})
	h.start(harnessOpts{policy: basePolicy + `      - id: upgrade
        methods: [POST]
        paths: ["/upgrade"]
`, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	p := dialPlain(t, h)
	for _, req := range []string{
		"POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nContent-Length: 3\r\n\r\nabc",
		"GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n",
	} {
		p.send(req)
		resp, body := p.response()
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("response %d %q, want the final 200", resp.StatusCode, body)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections, want 1", n)
	}
	p.send("POST http://graph.test.example/upgrade HTTP/1.1\r\nHost: graph.test.example\r\nContent-Length: 3\r\n\r\nabc")
	if resp, _ := p.response(); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("101: status %d, want 502", resp.StatusCode)
	}
	if rec := h.lastHTTP(); rec.Upstream == nil || rec.Upstream.Error != "unsolicited_upgrade" {
		t.Fatalf("101 record %+v", rec.Upstream)
	}
	p = dialPlain(t, h)
	p.send("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n")
	if resp, _ := p.response(); resp.StatusCode != 200 {
		t.Fatalf("after the 101: %d", resp.StatusCode)
	}
	if n := up.conns.Load(); n != 2 {
		t.Fatalf("%d upstream connections, want 2: the one that answered 101 must not be reused", n)
	}
}

// TestRetryOnlyWhenSafe: the upstream answers the first request on each
// connection and hangs up on the second after reading it (the request may
// have been acted on). A request that meets that — on a pooled connection —
// is sent again on a fresh connection only when its method is idempotent
// and its body whole; a POST or PATCH is never sent twice: 502, recorded as
// closed_unanswered.
func TestRetryOnlyWhenSafe(t *testing.T) {
	cases := []struct {
		name, req string
		retried   bool
	}{
		{"GET", "GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\n\r\n", true},
		{"PUT", "PUT http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\nContent-Length: 3\r\n\r\nabc", true},
		{"DELETE", "DELETE http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\n\r\n", true},
		{"POST", "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\nContent-Length: 3\r\n\r\nabc", false},
		{"POST empty", "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\nContent-Length: 0\r\n\r\n", false},
		{"POST chunked", "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"PATCH", "PATCH http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: %s\r\nContent-Length: 3\r\n\r\nabc", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newPKI(t)
			up := newScriptUp(t, h, func(g gotReq) act {
				if g.seq >= 2 {
					return act{hangUp: true}
				}
				return act{resp: okResp}
			})
			h.start(harnessOpts{policy: writePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
			p := dialPlain(t, h)
			p.send(fmt.Sprintf(cases[0].req, "warm"))
			if resp, _ := p.response(); resp.StatusCode != 200 {
				t.Fatalf("warm-up: %d", resp.StatusCode)
			}
			p.send(fmt.Sprintf(tc.req, "target"))
			resp, body := p.response()
			seen := up.seen("target")
			if tc.retried {
				if resp.StatusCode != 200 || seen != 2 {
					t.Fatalf("status %d %q, upstream saw it %d times; want 200 after one safe retry", resp.StatusCode, body, seen)
				}
				return
			}
			if resp.StatusCode != http.StatusBadGateway || seen != 1 {
				t.Fatalf("status %d %q, upstream saw it %d times; want 502 and exactly once", resp.StatusCode, body, seen)
			}
			if !strings.Contains(body, "not retried") {
				t.Errorf("502 body %q does not say the request was not retried", body)
			}
			if rec := h.lastHTTP(); rec.Upstream == nil || rec.Upstream.Error != "closed_unanswered" {
				t.Fatalf("record upstream %+v, want error closed_unanswered", rec.Upstream)
			}
			if n := up.conns.Load(); n != 1 {
				t.Fatalf("%d upstream connections: a fresh one was dialled for a request not to retry", n)
			}
		})
	}
}

// TestPooledConnectionClosedIsNotUsedForPOST: a pooled connection the
// upstream has closed while idle is noticed before a POST is written on
// it, so the POST goes out once, on a fresh connection, and succeeds.
func TestPooledConnectionClosedIsNotUsedForPOST(t *testing.T) {
	h := newPKI(t)
	up := newScriptUp(t, h, func(gotReq) act { return act{resp: okResp, closeAfter: true} })
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	p := dialPlain(t, h)
	for i := range 3 {
		p.send("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n")
		if resp, _ := p.response(); resp.StatusCode != 200 {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
		// Wait until the upstream has closed the connection the gateway
		// has just pooled.
		if n := <-up.closed; n != i*2+1 {
			t.Fatalf("upstream closed connection %d, want %d", n, i*2+1)
		}
		id := fmt.Sprint("post-", i)
		p.send("POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: " + id + "\r\nContent-Length: 3\r\n\r\nabc")
		resp, body := p.response()
		if resp.StatusCode != 200 || up.seen(id) != 1 {
			t.Fatalf("POST on a closed pooled connection: %d %q, upstream saw it %d times", resp.StatusCode, body, up.seen(id))
		}
		<-up.closed
	}
}

// TestEarlyResponseToUnreadBody: an upstream that answers before reading a
// large body and closes: the client gets that answer (or a 502 when the
// close lost it), never a retry, and its connection is closed since its
// body was not all read.
func TestEarlyResponseToUnreadBody(t *testing.T) {
	h := newPKI(t)
	ln := earlyUpstream(t, h, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!")
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": ln}})
	p := dialPlain(t, h)
	body := strings.Repeat("z", 8<<20)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		io.WriteString(p.c, "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\n\r\n"+body)
	}()
	defer func() { p.c.Close(); <-sent }() // the writer ends when the connection does
	resp, got := p.response()
	switch resp.StatusCode {
	case http.StatusRequestEntityTooLarge:
		if got != "big!" {
			t.Fatalf("early answer body %q", got)
		}
	case http.StatusBadGateway:
	default:
		t.Fatalf("status %d %q, want the upstream's 413 or a 502", resp.StatusCode, got)
	}
	if !resp.Close {
		t.Fatal("the client connection must close: its body was not read to the end")
	}
}

// earlyUpstream answers every request head at once with resp and closes
// without reading the body.
func earlyUpstream(t *testing.T, h *harness, resp string) netip.AddrPort {
	t.Helper()
	addr, _ := rawUpstream(t, h, resp, true)
	return addr
}

// TestShutdownCutsUpstreamExchange: when the server's context ends, a
// request waiting on a silent upstream (with or without a body) is cut at
// once rather than at the upstream timeout, so Serve can return.
func TestShutdownCutsUpstreamExchange(t *testing.T) {
	for _, req := range []string{
		"GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: slow\r\n\r\n",
		"POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nX-Req: slow\r\nContent-Length: 3\r\n\r\nabc",
	} {
		t.Run(req[:4], func(t *testing.T) {
			h := newPKI(t)
			got := make(chan struct{}, 1)
			release := make(chan struct{})
			up := newScriptUp(t, h, func(g gotReq) act {
				got <- struct{}{}
				<-release
				return act{hangUp: true}
			})
			t.Cleanup(func() { close(release) }) // before the upstream's own cleanup waits for it
			h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
			ln, err := proxy.ListenPlain("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- h.srv.Serve(ctx, ln, true) }()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, req)
			<-got // the upstream has the request and will not answer
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second): // the upstream timeout is 60s
				t.Fatal("Serve did not return: the upstream exchange was not cut at shutdown")
			}
		})
	}
}
