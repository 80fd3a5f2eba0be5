package proxy

import (
	"bufio"
	"bytes"
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
	"sync/atomic"
	"time"

	"github.com/syncgate/syncgate/policy"
	"golang.org/x/net/http/httpguts"
)

// The direct exchange: every client request (bodiless GETs, the sync
// engine's writes, EWS SOAP POSTs) runs in the handler's own goroutine over
// a pooled upstream connection — the request head and the first body bytes
// written with one flush, the rest of the body streamed from the client
// connection, the response head read with a strict parser, the body relayed
// from the connection's reader — instead of handing it to net/http
// Transport's write and read loops. Connections are dialled by the same
// dialTLS (SSRF guard, pinned address, the destination's TLS rules, pins,
// client certificate) as the Transport's. Only the gateway's own requests
// (the token broker's) still use the Transport: they are few, and the
// broker's client wants an http.RoundTripper.
//
// No request kind needs the Transport: Upgrade and Connection are hop-by-hop
// and never forwarded, so an upstream has no upgrade to accept, and an
// unsolicited 101 is answered 502 and its connection never pooled.
//
// Retrying: a request that meets a pooled connection the upstream has
// closed is sent again on a fresh connection only when that is safe — the
// method is idempotent (RFC 9110 §9.2.2) and the body can be sent again
// whole, or no byte of the request reached the connection at all. A
// non-idempotent request whose bytes may have reached the upstream is never
// sent twice: the client gets a 502. To make that rare, a pooled connection
// is checked for a close (or stray bytes) without blocking before such a
// request is written on it.

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

	cw        countWriter // under bw: counts what reached the connection
	cancelled atomic.Bool // the request's context ended (see setDeadline)
	cancel    func()      // made once: cuts the connection when the request's context ends
	idlec     idleCheck   // the non-blocking close check (idle_unix.go)
}

// newUpConn wraps a freshly dialled connection.
func (u *upstreams) newUpConn(tc *tls.Conn) *upConn {
	c := &upConn{tc: tc, ip: u.ipOf(tc), state: tc.ConnectionState()}
	c.cw.w = tc
	c.br = bufio.NewReaderSize(tc, 8<<10)
	c.bw = bufio.NewWriterSize(&c.cw, 8<<10)
	c.cancel = func() {
		c.cancelled.Store(true)
		_ = c.tc.SetDeadline(time.Unix(1, 0))
	}
	c.idlec.init(tc)
	return c
}

// setDeadline sets the connection's deadline unless the request's context
// has ended: the watch's past deadline must not be overwritten by a later
// phase's (the flag is set before the watch sets its deadline, so either
// order ends with the past one).
func (c *upConn) setDeadline(t time.Time) {
	_ = c.tc.SetDeadline(t)
	if c.cancelled.Load() {
		_ = c.tc.SetDeadline(time.Unix(1, 0))
	}
}

// countWriter counts the bytes its connection accepted: a request none of
// whose bytes reached the upstream may be sent again whatever its method.
type countWriter struct {
	w io.Writer
	n int64
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
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

// reqBody is a request body as the direct exchange sends it.
type reqBody struct {
	r      io.Reader     // the body (nil: none)
	length int64         // -1: sent chunked
	replay *bytes.Reader // the whole body in memory: can be sent again
	first  []byte        // streamed bodies: read ahead for the first flush
	all    bool          // first is the whole body
	more   bool          // bytes past first were read: cannot be sent again
	srcErr error         // reading the client's body failed (its fault, not the upstream's)
}

// resendable reports whether the whole body can still be sent again.
func (b *reqBody) resendable() bool {
	return b == nil || b.r == nil || b.replay != nil || !b.more
}

// whole reports whether the body is all in memory, so that it can be sent
// again even after it was written in full.
func (b *reqBody) whole() bool {
	return b == nil || b.r == nil || b.replay != nil || b.all
}

// Read reads the rest of a streamed body, noting a client-side failure.
func (b *reqBody) Read(p []byte) (int, error) {
	b.more = true
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.srcErr = err
	}
	return n, err
}

// readFirst reads up to len(buf) bytes of a streamed body ahead of the
// first write, so that a body that fits is sent with the head in one flush
// and can be sent again, and a short or oversized body is refused before
// anything reaches the upstream.
func (b *reqBody) readFirst(buf []byte) error {
	n := 0
	for n < len(buf) {
		m, err := b.r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			b.all = true
			break
		}
		if err != nil {
			b.srcErr = err
			return err
		}
	}
	b.first = buf[:n]
	return nil
}

// idempotent: RFC 9110 §9.2.2.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// retrySafe reports whether a request that failed on a connection may be
// sent again on a fresh one: its body must be whole to send, and either no
// byte of it reached the connection, or the connection was a reused one that
// closed before any response byte and the method is idempotent. A request
// whose bytes may have reached the upstream is otherwise never sent twice.
func retrySafe(method string, body *reqBody, notSent, stale bool) bool {
	if !body.resendable() {
		return false
	}
	return notSent || stale && idempotent(method)
}

// upWatch ties a client connection's context (the server's: it ends at
// shutdown) to the upstream connection its current request uses, so that
// its reads and writes are cut then. It is registered once per client
// connection, not once per request. Exactly one of the watch and the
// request's release takes an armed connection: one the watch fired on is
// closed, never pooled.
type upWatch struct {
	ctx  context.Context
	cur  atomic.Pointer[upConn]
	stop func() bool
}

func (w *upWatch) init(ctx context.Context) {
	w.ctx = ctx
	w.stop = context.AfterFunc(ctx, w.fire)
}

func (w *upWatch) fire() {
	if c := w.cur.Swap(nil); c != nil {
		c.cancel()
	}
}

// arm watches c; a context that has already ended cuts it at once.
func (w *upWatch) arm(c *upConn) {
	w.cur.Store(c)
	if w.ctx.Err() != nil {
		w.fire()
	}
}

// disarm stops watching c and reports whether the watch had not fired on it.
func (w *upWatch) disarm(c *upConn) bool { return w.cur.CompareAndSwap(c, nil) }

// errStaleConn: a reused connection failed before any response byte came.
var errStaleConn = errors.New("upstream closed an idle connection")

// errClosedUnanswered: the upstream closed the connection without a
// response to a request that may not be sent twice.
var errClosedUnanswered = errors.New("upstream closed the connection without answering")

// exchange sends out (with body, if any) to the destination and reads the
// response head. deadline bounds the whole exchange (the client request's
// timeout); the response head must come within the upstream timeout of the
// request's end. w watches the client connection's context: the returned
// connection is armed in it until its body is released.
func (u *upstreams) exchange(ctx context.Context, w *upWatch, d *policy.Dest, addr string, out *http.Request, body *reqBody, deadline time.Time) (*http.Response, *upConn, error) {
	if err := validHeader(out.Header); err != nil {
		return nil, nil, err
	}
	p := u.pool(d)
	// A request that could not be sent again after a stale close is only
	// written on a pooled connection that shows no sign of one.
	check := !(idempotent(out.Method) && body.whole())
	for attempt := 0; ; attempt++ {
		var c *upConn
		for attempt == 0 {
			if c = p.get(addr, time.Now()); c == nil || !check || c.idlec.clean() {
				break
			}
			c.tc.Close()
		}
		if c == nil {
			nc, err := u.dialTLS(ctx, d, addr)
			if err != nil {
				return nil, nil, err
			}
			c = u.newUpConn(nc.(*tls.Conn))
		}
		c.cancelled.Store(false)
		w.arm(c)
		resp, err := u.roundTrip(c, out, body, deadline)
		if err == nil {
			c.used = true
			return resp, c, nil
		}
		w.disarm(c)
		c.tc.Close()
		if body != nil && body.srcErr != nil {
			return nil, nil, err // the client's body failed: nothing to retry
		}
		stale := errors.Is(err, errStaleConn)
		if attempt == 0 && ctx.Err() == nil && retrySafe(out.Method, body, c.cw.n == 0, stale) {
			continue
		}
		if stale {
			err = fmt.Errorf("%w: %w", errClosedUnanswered, err)
		}
		return nil, nil, err
	}
}

// roundTrip writes out and its body on c and reads the response head.
func (u *upstreams) roundTrip(c *upConn, out *http.Request, body *reqBody, deadline time.Time) (*http.Response, error) {
	c.cw.n = 0
	length := int64(0)
	if body != nil && body.r != nil {
		length = body.length
		// Sending the body may take as long as the client takes to send it.
		c.setDeadline(deadline)
	} else {
		c.setDeadline(u.headDeadline(deadline))
	}
	writeRequestHead(c.bw, out, length)
	if length != 0 {
		if err := body.write(c.bw); err != nil {
			if body.srcErr != nil {
				return nil, err
			}
			return u.earlyResponse(c, out, err, deadline)
		}
	}
	if err := c.bw.Flush(); err != nil {
		if c.cw.n > 0 && length != 0 {
			return u.earlyResponse(c, out, err, deadline)
		}
		if c.used {
			return nil, fmt.Errorf("%w: %v", errStaleConn, err)
		}
		return nil, err
	}
	if length != 0 {
		c.setDeadline(u.headDeadline(deadline))
	}
	return u.readResponse(c, out, deadline)
}

// validHeader: as net/http's Transport, a field it could not write is an
// error, before anything is sent.
func validHeader(h http.Header) error {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("invalid header field value for %q", k)
			}
		}
	}
	return nil
}

// headDeadline is when a response head is due: the upstream timeout from
// now, within the request's deadline.
func (u *upstreams) headDeadline(deadline time.Time) time.Time {
	hdl := time.Now().Add(u.timeout)
	if !deadline.IsZero() && deadline.Before(hdl) {
		hdl = deadline
	}
	return hdl
}

// earlyResponse: writing the body failed, which an upstream that answered
// before reading it all (and closed) causes. Its answer, if one came, is the
// response; the connection is not reused, the request being unfinished.
func (u *upstreams) earlyResponse(c *upConn, out *http.Request, werr error, deadline time.Time) (*http.Response, error) {
	c.setDeadline(u.headDeadline(deadline))
	resp, err := u.readResponse(c, out, deadline)
	if err != nil {
		if errors.Is(err, errStaleConn) {
			return nil, err
		}
		if c.used && c.cw.n == 0 {
			return nil, fmt.Errorf("%w: %v", errStaleConn, werr)
		}
		return nil, fmt.Errorf("write request: %w", werr)
	}
	resp.Close = true
	return resp, nil
}

// readResponse reads the final response head, skipping interim ones.
//
// Interim (1xx) responses other than 101 are read and dropped, as net/http's
// Transport does, not relayed: the gateway tells a client nothing before
// the request's audit record is written, and that record needs the final
// status. Expect: 100-continue never reaches an upstream (the gateway
// answers it itself once policy allowed the request, see runClient), so no
// upstream 100 is awaited.
func (u *upstreams) readResponse(c *upConn, out *http.Request, deadline time.Time) (*http.Response, error) {
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
		c.setDeadline(deadline)
		resp.TLS = &c.state
		return resp, nil
	}
}

// write writes the body after the head: the bytes read ahead (or the whole
// in-memory body), then the rest as the client sends it.
func (b *reqBody) write(bw *bufio.Writer) error {
	if b.replay != nil {
		if _, err := b.replay.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := b.replay.WriteTo(bw)
		return err
	}
	if b.length >= 0 {
		if _, err := bw.Write(b.first); err != nil || b.all {
			return err
		}
		_, err := bw.ReadFrom(b)
		return err
	}
	cw := newChunkedWriter(bw)
	if len(b.first) > 0 {
		if _, err := cw.Write(b.first); err != nil {
			return err
		}
	}
	if !b.all {
		if _, err := io.Copy(cw, b); err != nil {
			return err
		}
	}
	return cw.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeRequestHead writes out's request line and header fields, with the
// body framing for length (-1: chunked). Like net/http it writes Host
// first, adds a User-Agent when the client sent none, and Content-Length: 0
// only for methods that expect a body. The client's own framing fields are
// never copied: the gateway frames what it sends.
func writeRequestHead(w *bufio.Writer, out *http.Request, length int64) {
	w.WriteString(out.Method)
	w.WriteByte(' ')
	w.WriteString(out.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(out.Host)
	w.WriteString("\r\n")
	if _, ok := out.Header["User-Agent"]; !ok {
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	switch {
	case length < 0:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case length > 0 || out.Method == http.MethodPost || out.Method == http.MethodPut || out.Method == http.MethodPatch:
		w.WriteString("Content-Length: ")
		writeInt(w, length)
		w.WriteString("\r\n")
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
func (u *upstreams) attachBody(resp *http.Response, c *upConn, method string, p *connPool, addr string, w *upWatch) {
	// After a 101 the connection speaks another protocol: never reuse it.
	b := &upBody{c: c, p: p, addr: addr, w: w, reuse: !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols}
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
	w     *upWatch // the client connection's context watch, armed with c
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
	watched := b.w.disarm(b.c)
	if b.eof && b.reuse && watched && b.c.br.Buffered() == 0 {
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

// forwardDirect runs the direct exchange for out with its body (length -1:
// chunked) and returns the response with its body attached. A *bytes.Reader
// body is the whole body in memory; any other is streamed from the client.
func (s *Server) forwardDirect(ctx context.Context, cs *connState, fl *flight, out *http.Request, body io.Reader, length int64) (*http.Response, *upConn, error) {
	u := fl.g.up
	deadline := time.Now().Add(s.limits.RequestTimeout)
	addr := cs.upstreamAddr(fl.host, fl.port)
	var rb *reqBody
	if length != 0 {
		rb = &cs.rb
		*rb = reqBody{r: body, length: length}
		if br, ok := body.(*bytes.Reader); ok {
			rb.replay = br
		} else {
			buf := s.copyBufs.Get().(*[]byte)
			defer s.copyBufs.Put(buf)
			if err := rb.readFirst(*buf); err != nil {
				return nil, nil, err
			}
		}
	}
	resp, c, err := u.exchange(ctx, &cs.watch, fl.route, addr, out, rb, deadline)
	if rb != nil {
		// Whatever happened, the exchange is done with the client's body:
		// relay decides whether what is left of it can be drained.
		if cl, ok := body.(io.Closer); ok {
			cl.Close()
		}
		*rb = reqBody{} // keep no body past its request
	}
	if err != nil {
		return nil, nil, err
	}
	u.attachBody(resp, c, out.Method, u.pool(fl.route), addr, &cs.watch)
	return resp, c, nil
}
