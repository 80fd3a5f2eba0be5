package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/policy"
	"golang.org/x/net/http/httpguts"
)

// The direct exchange: a client's bodiless idempotent request (GET, HEAD,
// OPTIONS; the bulk of a sync engine's traffic) runs in the handler's own
// goroutine over a pooled upstream connection — the request written with
// one flush, the response head read with a strict parser, the body relayed
// from the connection's reader — instead of handing it to net/http
// Transport's write and read loops. Connections are dialled by the same
// dialTLS (SSRF guard, pinned address, the destination's TLS rules, pins,
// client certificate) as the Transport's. Requests with a body and the
// gateway's own requests still use the Transport.

// maxIdlePerHost and idleTimeout are the Transport's settings, and
// maxResponseHead its default MaxResponseHeaderBytes.
const (
	maxIdlePerHost  = 64
	idleTimeout     = 90 * time.Second
	maxResponseHead = 1 << 20
)

// upConn is one upstream connection of the direct exchange's pool.
type upConn struct {
	tc    *tls.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	ip    string
	state tls.ConnectionState // once, at the handshake
	idle  time.Time
	head  []byte // the last response head's buffer
	used  bool   // has carried an exchange (a failure on it may be a stale close)
}

// connPool holds the idle direct-exchange connections of one destination,
// by authority. It belongs to one policy generation's upstreams.
type connPool struct {
	mu     sync.Mutex
	idle   map[string][]*upConn
	n      int         // idle connections
	timer  *time.Timer // sweeps while any connection is idle
	closed bool
}

func (p *connPool) get(addr string, now time.Time) *upConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	l := p.idle[addr]
	for len(l) > 0 {
		c := l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		p.n--
		if now.Sub(c.idle) < idleTimeout {
			p.idle[addr] = l
			return c
		}
		c.tc.Close()
	}
	p.idle[addr] = l
	return nil
}

func (p *connPool) put(addr string, c *upConn, now time.Time) {
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= maxIdlePerHost {
		p.mu.Unlock()
		c.tc.Close()
		return
	}
	c.idle = now
	p.idle[addr] = append(p.idle[addr], c)
	p.n++
	if p.timer == nil {
		p.timer = time.AfterFunc(idleTimeout/3, p.sweepTick)
	}
	p.mu.Unlock()
}

// sweepTick sweeps and re-arms the timer while connections are idle.
func (p *connPool) sweepTick() {
	p.sweep(time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n > 0 && !p.closed {
		p.timer.Reset(idleTimeout / 3)
	} else {
		p.timer = nil
	}
}

// sweep closes connections idle for longer than the idle timeout.
func (p *connPool) sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.idle {
		keep := l[:0]
		for _, c := range l {
			if now.Sub(c.idle) < idleTimeout {
				keep = append(keep, c)
			} else {
				c.tc.Close()
				p.n--
			}
		}
		clear(l[len(keep):])
		if len(keep) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = keep
		}
	}
}

// close closes every idle connection; connections still in use are closed
// when they come back.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.n = 0
	for _, l := range p.idle {
		for _, c := range l {
			c.tc.Close()
		}
	}
	p.idle = nil
}

// pool returns destination d's direct-exchange pool.
func (u *upstreams) pool(d *policy.Dest) *connPool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if p, ok := u.pools[d]; ok {
		return p
	}
	p := &connPool{idle: make(map[string][]*upConn), closed: u.closed}
	u.pools[d] = p
	return p
}

// directExchange reports whether out (with no body) may take the direct
// exchange: an idempotent method, so a request that met a connection the
// upstream had closed while idle can be sent again on a fresh one.
func directExchange(out *http.Request, length int64) bool {
	if length != 0 {
		return false
	}
	switch out.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// errStaleConn: a reused connection failed before any response byte came.
var errStaleConn = errors.New("upstream closed an idle connection")

// exchange sends out (no body) to the destination and reads the response
// head. deadline bounds the whole exchange (the client request's timeout);
// the response head must come within the upstream timeout.
func (u *upstreams) exchange(ctx context.Context, d *policy.Dest, addr string, out *http.Request, deadline time.Time) (*http.Response, *upConn, error) {
	p := u.pool(d)
	for attempt := 0; ; attempt++ {
		var c *upConn
		if attempt == 0 {
			c = p.get(addr, time.Now())
		}
		if c == nil {
			nc, err := u.dialTLS(ctx, d, addr)
			if err != nil {
				return nil, nil, err
			}
			tc := nc.(*tls.Conn)
			c = &upConn{tc: tc, br: bufio.NewReaderSize(tc, 8<<10), bw: bufio.NewWriterSize(tc, 4<<10), ip: u.ipOf(tc), state: tc.ConnectionState()}
		}
		resp, err := u.roundTrip(ctx, c, out, deadline)
		if err == nil {
			c.used = true
			return resp, c, nil
		}
		c.tc.Close()
		if errors.Is(err, errStaleConn) && attempt == 0 {
			continue // idempotent and bodiless: safe to send again
		}
		if errors.Is(err, errStaleConn) {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
}

func (u *upstreams) roundTrip(ctx context.Context, c *upConn, out *http.Request, deadline time.Time) (*http.Response, error) {
	hdl := time.Now().Add(u.timeout)
	if !deadline.IsZero() && deadline.Before(hdl) {
		hdl = deadline
	}
	for k, vs := range out.Header {
		// As net/http's Transport: a field it could not write is an error.
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("invalid header field value for %q", k)
			}
		}
	}
	_ = c.tc.SetDeadline(hdl)
	writeRequestHead(c.bw, out)
	if err := c.bw.Flush(); err != nil {
		if c.used {
			return nil, fmt.Errorf("%w: %v", errStaleConn, err)
		}
		return nil, err
	}
	for i := 0; ; i++ {
		if _, err := c.br.Peek(1); err != nil {
			if c.used && i == 0 && !isTimeout(err) {
				return nil, fmt.Errorf("%w: %v", errStaleConn, err)
			}
			return nil, err
		}
		resp, err := readResponseHead(c.br, out.Method, &c.head)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			if i >= 5 {
				return nil, errors.New("too many 1xx responses")
			}
			continue // interim response: the final one follows
		}
		// The body may take until the client request's deadline.
		_ = c.tc.SetDeadline(deadline)
		resp.TLS = &c.state
		return resp, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeRequestHead writes out's request line and header fields. Like
// net/http it writes Host first, adds a User-Agent when the client sent
// none, and Content-Length: 0 only for methods that expect a body.
func writeRequestHead(w *bufio.Writer, out *http.Request) {
	w.WriteString(out.Method)
	w.WriteByte(' ')
	w.WriteString(out.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(out.Host)
	w.WriteString("\r\n")
	if _, ok := out.Header["User-Agent"]; !ok {
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	for k, vs := range out.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
			continue
		}
		for _, v := range vs {
			if k == "User-Agent" && v == "" {
				continue
			}
			writeField(w, k, v)
		}
	}
	w.WriteString("\r\n")
}

// readResponseHead reads and strictly parses one response head. The body
// framing is decided here; the caller attaches the body.
func readResponseHead(br *bufio.Reader, method string, buf *[]byte) (*http.Response, error) {
	head, err := readHead(br, maxResponseHead, (*buf)[:0])
	if err == nil && cap(head) <= 64<<10 {
		*buf = head // the connection's, for the next response
	}
	if err != nil {
		if errors.Is(err, errHeadTooLarge) {
			return nil, errors.New("upstream response head too large")
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	s := string(head)
	nl := strings.IndexByte(s, '\n')
	line := strings.TrimSuffix(s[:nl], "\r")
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || (proto != "HTTP/1.1" && proto != "HTTP/1.0") {
		return nil, fmt.Errorf("malformed upstream status line %q", line)
	}
	code, _, _ := strings.Cut(rest, " ")
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return nil, fmt.Errorf("malformed upstream status code %q", code)
	}
	status := int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	fields := s[nl+1:]
	n := strings.Count(fields, "\n")
	h := make(http.Header, n)
	vals := make([]string, 0, n)
	for fields != "" {
		i := strings.IndexByte(fields, '\n')
		l := strings.TrimSuffix(fields[:i], "\r")
		fields = fields[i+1:]
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			return nil, errors.New("obsolete line folding in upstream response")
		}
		colon := strings.IndexByte(l, ':')
		if colon <= 0 || !httpguts.ValidHeaderFieldName(l[:colon]) {
			return nil, errors.New("malformed upstream response header field")
		}
		v := strings.Trim(l[colon+1:], " \t")
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, errors.New("invalid byte in upstream response header value")
		}
		key := textproto.CanonicalMIMEHeaderKey(l[:colon])
		if prev, ok := h[key]; ok {
			h[key] = append(prev[:len(prev):len(prev)], v)
			continue
		}
		vals = append(vals, v)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	resp := &http.Response{
		Status:     rest, // "200 OK"
		StatusCode: status,
		Proto:      proto,
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Close:      headerHasToken(h, "Connection", "close"),
	}
	if proto == "HTTP/1.0" {
		resp.ProtoMinor = 0
		resp.Close = !headerHasToken(h, "Connection", "keep-alive")
	}
	// Framing (RFC 9112 §6.3).
	resp.ContentLength = -1
	te, hasTE := h["Transfer-Encoding"]
	cl, hasCL := h["Content-Length"]
	if hasCL {
		n := int64(-1)
		for _, v := range cl {
			for f := range strings.SplitSeq(v, ",") {
				f = strings.TrimSpace(f)
				x, err := strconv.ParseInt(f, 10, 64)
				if err != nil || x < 0 || f == "" || f[0] == '+' {
					return nil, errors.New("invalid Content-Length in upstream response")
				}
				if n >= 0 && x != n {
					return nil, errors.New("conflicting Content-Length in upstream response")
				}
				n = x
			}
		}
		resp.ContentLength = n
	}
	if hasTE {
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return nil, errors.New("unsupported Transfer-Encoding in upstream response")
		}
		if hasCL {
			return nil, errors.New("both Content-Length and Transfer-Encoding in upstream response")
		}
		resp.TransferEncoding = chunkedTE
	}
	if !bodyAllowed(method, status) {
		if status == http.StatusNoContent || status == http.StatusNotModified || status < 200 {
			resp.ContentLength = 0
		}
		resp.TransferEncoding = nil
	}
	return resp, nil
}

var chunkedTE = []string{"chunked"}

// attachBody gives resp its body from c, which goes back to the pool once
// the body has been read to its end (and the response allowed reuse), and
// is closed otherwise.
func (u *upstreams) attachBody(resp *http.Response, c *upConn, method string, p *connPool, addr string, stop func() bool) {
	// After a 101 the connection speaks another protocol: never reuse it.
	b := &upBody{c: c, p: p, addr: addr, stop: stop, reuse: !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	switch {
	case !bodyAllowed(method, resp.StatusCode):
		b.r = eofReader{}
	case resp.TransferEncoding != nil:
		b.r = newChunkedBody(c.br, 64<<10)
	case resp.ContentLength >= 0:
		b.fixed = fixedBody{r: c.br, left: resp.ContentLength}
		b.r = &b.fixed
	default:
		// Close-delimited: the connection ends with the body.
		b.r, b.reuse = c.br, false
	}
	resp.Body = b
}

// upBody is a direct exchange's response body.
type upBody struct {
	r     io.Reader
	fixed fixedBody
	c     *upConn
	p     *connPool
	addr  string
	stop  func() bool // stops the context watch; false when it fired
	reuse bool
	eof   bool
	done  bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, errors.New("read on a closed upstream body")
	}
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
		// Back to the pool at once, before the client has the response
		// and sends its next request.
		b.release()
	}
	return n, err
}

// Close returns the connection to the pool when the body was read to its
// end, the response allowed reuse and the client's context did not end;
// otherwise it closes the connection.
func (b *upBody) Close() error {
	if b.done {
		return nil
	}
	if !b.eof {
		// A body with nothing left (a HEAD or 204 response, a body of
		// length zero) ends without a read.
		if n, err := b.r.Read(nil); n == 0 && errors.Is(err, io.EOF) {
			b.eof = true
		}
	}
	return b.release()
}

func (b *upBody) release() error {
	if b.done {
		return nil
	}
	b.done = true
	stopped := b.stop()
	if b.eof && b.reuse && stopped && b.c.br.Buffered() == 0 {
		_ = b.c.tc.SetDeadline(time.Time{})
		b.p.put(b.addr, b.c, time.Now())
		return nil
	}
	return b.c.tc.Close()
}

// upstreamAddr is host:port to dial, kept for the connection's last one.
func (cs *connState) upstreamAddr(host string, port int) string {
	if host != cs.upHost || port != cs.upPort || cs.upAddr == "" {
		cs.upHost, cs.upPort, cs.upAddr = host, port, net.JoinHostPort(host, strconv.Itoa(port))
	}
	return cs.upAddr
}

// forwardDirect runs the direct exchange for out and returns the response
// with its body attached.
func (s *Server) forwardDirect(ctx context.Context, cs *connState, fl *flight, out *http.Request) (*http.Response, *upConn, error) {
	u := fl.g.up
	deadline := time.Now().Add(s.limits.RequestTimeout)
	addr := cs.upstreamAddr(fl.host, fl.port)
	resp, c, err := u.exchange(ctx, fl.route, addr, out, deadline)
	if err != nil {
		return nil, nil, err
	}
	// A client's end (shutdown, connection gone) cuts the upstream read.
	tc := c.tc
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Unix(1, 0)) })
	u.attachBody(resp, c, out.Method, u.pool(fl.route), addr, stop)
	return resp, c, nil
}
