package proxy_test

// Tests for the framing and header findings of issue 9, each through the
// real plain listener with a raw socket.

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/proxy"
)

// rawConn dials the plain listener with a deadline.
func rawConn(t *testing.T, h *harness) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", h.plain)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	return c
}

const uploadHead = "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nTransfer-Encoding: chunked\r\n\r\n"

// Finding 3: the trailer section of a chunked body is read and discarded,
// bounded by max_header_bytes; it is never parsed as the next request.
func TestChunkedTrailers(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{limits: proxy.Limits{MaxHeaderBytes: 2048}})

	t.Run("legitimate trailer keeps the connection", func(t *testing.T) {
		c := rawConn(t, h)
		before := up.count()
		c.Write([]byte(uploadHead + "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n" +
			"GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n"))
		br := newReader(c)
		for i := 0; i < 2; i++ {
			if r := readResp(t, br); r.status != 200 {
				t.Fatalf("response %d: %d %s", i, r.status, r.body)
			}
		}
		if up.count()-before != 2 {
			t.Fatalf("upstream hits %d", up.count()-before)
		}
		if got := up.hits[before].Header.Get("X-Checksum"); got != "" {
			t.Errorf("trailer field forwarded as a header: %q", got)
		}
	})

	t.Run("request hidden in the trailer", func(t *testing.T) {
		c := rawConn(t, h)
		before := up.count()
		c.Write([]byte(uploadHead + "5\r\nhello\r\n0\r\n" +
			"GET http://graph.test.example/v1.0/users/x@corp.example/contacts/1 HTTP/1.1\r\nHost: graph.test.example\r\n\r\n"))
		r := readResp(t, newReader(c))
		if r.status != 400 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		if n := up.count() - before; n != 0 {
			t.Fatalf("upstream saw %d requests (last %s)", n, up.last().Path)
		}
		// Nothing else is answered on the connection.
		buf := make([]byte, 1)
		if n, _ := c.Read(buf); n != 0 {
			t.Fatal("connection carried another response")
		}
	})

	t.Run("trailer over max_header_bytes", func(t *testing.T) {
		c := rawConn(t, h)
		before := up.count()
		c.Write([]byte(uploadHead + "5\r\nhello\r\n0\r\nX-Big: " + strings.Repeat("a", 4096) + "\r\n\r\n"))
		r := readResp(t, newReader(c))
		if r.status != 431 && r.status != 400 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		if n := up.count() - before; n != 0 {
			t.Fatalf("upstream saw %d requests", n)
		}
	})
}

// Finding 9: a malformed chunked body is the client's fault: 400, audited as
// such, and nothing (not even a truncated request) reaches the upstream.
func TestMalformedChunkedBodyIsClientFault(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	cases := map[string]string{
		"bad size":        "5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n",
		"missing CRLF":    "5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
		"truncated":       "5\r\nhello\r\n10\r\nabc",
		"bare LF trailer": "5\r\nhello\r\n0\r\nX-A: 1\n\r\n",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			c := rawConn(t, h)
			c.Write([]byte(uploadHead + body))
			if name == "truncated" {
				c.(*net.TCPConn).CloseWrite()
			}
			r := readResp(t, newReader(c))
			if r.status != 400 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			rec := h.lastHTTP()
			if rec.Response == nil || rec.Response.Status != 400 {
				t.Fatalf("record response %+v", rec.Response)
			}
			if rec.Upstream != nil && rec.Upstream.Error != "" {
				t.Errorf("audited as an upstream failure: %+v", rec.Upstream)
			}
			if rec.Detail["error"] == "" || !strings.Contains(rec.Detail["error"], "request body") {
				t.Errorf("record detail %v", rec.Detail)
			}
		})
	}
	if up.count() != 0 {
		t.Fatalf("upstream saw %d requests", up.count())
	}
	for _, r := range h.records() {
		if r.Kind == audit.KindHTTP && r.Response != nil && r.Response.Status == 502 {
			t.Errorf("a 502 record: %+v", r)
		}
	}
}

// Finding 4: a flood of failed client handshakes from one source is capped
// before any TLS work and summarised per interval; every attempt is still
// accounted for (own record or counted in a summary), and the log stays small.
func TestHandshakeFloodIsSummarised(t *testing.T) {
	h, _ := graphHarness(t, "", harnessOpts{limits: proxy.Limits{HandshakesPerSecond: 20, HandshakeAuditInterval: 300 * time.Millisecond}})
	const workers, per = 4, 75
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				c, err := net.Dial("tcp", h.tlsAddr)
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte("GARBAGE / HTTP/1.1\r\n\r\n"))
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
	}
	wg.Wait()
	const total = workers * per
	// Wait on the durable log until every attempt is accounted for.
	var own, counted, records int
	reasons := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		own, counted, records = 0, 0, 0
		for _, r := range h.records() {
			if r.Kind != audit.KindHTTP || r.Client == nil || r.Client.IP != "127.0.0.1" || r.Request != nil {
				continue
			}
			if !strings.Contains(r.Decision.Reason, "handshake") {
				continue
			}
			records++
			if r.Detail["aggregate"] == "client_tls_handshake" {
				n, _ := strconv.Atoi(r.Detail["count"])
				counted += n
				var m map[string]int
				if err := json.Unmarshal([]byte(r.Detail["reasons"]), &m); err != nil {
					t.Fatalf("reasons %q: %v", r.Detail["reasons"], err)
				}
				for k, v := range m {
					reasons[k] += v
				}
				if r.Detail["first"] == "" || r.Detail["last"] == "" {
					t.Errorf("summary without first/last: %v", r.Detail)
				}
			} else {
				own++
			}
		}
		if own+counted >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the log file, not synchronising
	}
	if own+counted != total {
		t.Fatalf("%d attempts, %d own records + %d counted in summaries", total, own, counted)
	}
	if records > total/10 {
		t.Errorf("%d handshake records for %d attempts: the flood reached the log", records, total)
	}
	rateReason := false
	for k := range reasons {
		if strings.Contains(k, "rate") {
			rateReason = true
		}
	}
	if !rateReason {
		t.Errorf("no attempt was refused by the handshake rate cap: %v", reasons)
	}
	t.Logf("%d attempts: %d records (%d own, %d counted in summaries) %v", total, records, own, counted, reasons)
}

// Finding 7: method overrides are refused (400) before policy; client
// forwarding headers and Syncgate_* spellings never reach the upstream.
func TestMethodOverrideAndForwardingHeaders(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	get := "GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n"
	for name, req := range map[string]string{
		"X-HTTP-Method-Override": get + "X-HTTP-Method-Override: DELETE\r\n\r\n",
		"X-HTTP-Method":          get + "X-HTTP-Method: DELETE\r\n\r\n",
		"X-Method-Override":      get + "x-method-override: PATCH\r\n\r\n",
		"underscore spelling":    get + "X_HTTP_Method_Override: DELETE\r\n\r\n",
		"_HttpMethod":            "GET http://graph.test.example/ok?_HttpMethod=DELETE HTTP/1.1\r\nHost: graph.test.example\r\n\r\n",
		"_HttpMethod escaped":    "GET http://graph.test.example/ok?a=1&%5FHttpMethod=PATCH HTTP/1.1\r\nHost: graph.test.example\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			status, body := h.raw(t, req)
			if status != 400 || !strings.Contains(body, "method override") {
				t.Fatalf("status %d %s", status, body)
			}
			if rec := h.lastHTTP(); rec.Response.Status != 400 || rec.Decision.Allow {
				t.Fatalf("record %+v %+v", rec.Decision, rec.Response)
			}
		})
	}
	if up.count() != 0 {
		t.Fatalf("upstream saw %d requests", up.count())
	}
	status, body := h.raw(t, get+"Syncgate-Subject: alice@corp.example\r\nSyncgate_Subject: mallory@corp.example\r\n"+
		"X-Forwarded-For: 10.9.9.9\r\nX-Forwarded-Host: evil.example\r\nForwarded: for=10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\nX_Forwarded_For: 10.9.9.9\r\nTrue-Client-IP: 10.9.9.9\r\n\r\n")
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	for k := range up.last().Header {
		if n := strings.ToLower(strings.ReplaceAll(k, "_", "-")); strings.HasPrefix(n, "syncgate") || strings.Contains(n, "forward") || strings.Contains(n, "real-ip") || strings.Contains(n, "client-ip") {
			t.Errorf("upstream received %s: %v", k, up.last().Header[k])
		}
	}
}

// Finding 8: methods are case-sensitive; a lower-case method is refused
// before policy rather than matched as GET and forwarded as "get".
func TestLowerCaseMethodRefused(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	for _, m := range []string{"get", "Get", "gET"} {
		status, body := h.raw(t, m+" http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n")
		if status != 400 || !strings.Contains(body, "upper case") {
			t.Fatalf("%s: status %d %s", m, status, body)
		}
	}
	if up.count() != 0 {
		t.Fatalf("upstream saw %d requests (method %q)", up.count(), up.last().Method)
	}
}

// Finding 10: an unsolicited 101 from the upstream is answered 502, not
// relayed (which left the client hanging on a dead protocol switch).
func TestUnsolicitedUpgradeIs502(t *testing.T) {
	h := newPKI(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS,
		handler: func(w http.ResponseWriter, r *http.Request) {
			c, bw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			bw.Flush()
			<-release
		}})
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	c := rawConn(t, h)
	c.Write([]byte("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n"))
	r := readResp(t, newReader(c))
	if r.status != 502 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	rec := h.lastHTTP()
	if rec.Response.Status != 502 || rec.Upstream == nil || rec.Upstream.Error != "unsolicited_upgrade" {
		t.Fatalf("record %+v %+v", rec.Response, rec.Upstream)
	}
}

// Finding 11: HTTP/1.0 with Transfer-Encoding has faulty framing (RFC 9112
// §6.1): 400 and the connection is closed.
func TestHTTP10WithTransferEncodingRefused(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	c := rawConn(t, h)
	c.Write([]byte("POST http://graph.test.example/upload HTTP/1.0\r\nHost: graph.test.example\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
		"GET http://graph.test.example/ok HTTP/1.0\r\nHost: graph.test.example\r\nConnection: keep-alive\r\n\r\n"))
	br := newReader(c)
	if r := readResp(t, br); r.status != 400 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	if b, _ := io.ReadAll(br); len(b) != 0 {
		t.Fatalf("connection stayed open and answered: %q", b)
	}
	if up.count() != 0 {
		t.Fatalf("upstream saw %d requests", up.count())
	}
}

// Finding 12: a connection that never sends its first request is closed
// after the header timeout, not the idle timeout.
func TestFirstRequestUsesHeaderTimeout(t *testing.T) {
	h, _ := graphHarness(t, "", harnessOpts{limits: proxy.Limits{HeaderTimeout: 200 * time.Millisecond, IdleTimeout: 10 * time.Minute}})
	c := rawConn(t, h) // 15s client deadline
	start := time.Now()
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("read %d, %v", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("silent connection kept open for %v (idle timeout instead of header timeout)", time.Since(start).Round(time.Millisecond))
	}
}

// Finding 14: a subject is one concrete address (no glob characters), and
// {subject} binds with ASCII case folding only.
func TestSubjectMustBeConcreteAndASCIIFolded(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	get := func(path, subject string) (int, string) {
		return h.raw(t, "GET http://graph.test.example"+path+" HTTP/1.1\r\nHost: graph.test.example\r\nSyncgate-Subject: "+subject+"\r\n\r\n")
	}
	if s, b := get("/v1.0/users/*@corp.example/contacts/1", "*@corp.example"); s != 403 || !strings.Contains(b, "concrete address") {
		t.Fatalf("glob subject: %d %s", s, b)
	}
	if s, b := get("/v1.0/users/kate@corp.example/contacts/1", "\u212Aate@corp.example"); s != 403 {
		t.Fatalf("KELVIN SIGN subject bound to kate: %d %s", s, b)
	}
	if up.count() != 0 {
		t.Fatalf("upstream saw %d requests", up.count())
	}
	if s, b := get("/v1.0/users/kate@corp.example/contacts/1", "Kate@Corp.Example"); s != 200 {
		t.Fatalf("ASCII case variant: %d %s", s, b)
	}
}
