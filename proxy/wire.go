package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"sync/atomic"

	"golang.org/x/net/http/httpguts"
)

// errHeadTooLarge: the request head exceeded the configured limit (431).
var errHeadTooLarge = errors.New("request head too large")

// wireError is a malformed request: answered with Status and closed.
type wireError struct {
	Status int
	Reason string
}

func (e *wireError) Error() string { return e.Reason }

func badRequest(reason string) error {
	return &wireError{Status: http.StatusBadRequest, Reason: reason}
}

// readHead reads one request head (request line and header fields, up to and
// including the blank line) of at most max bytes, appended to buf (which a
// connection reuses; the caller must not keep the result past the next
// call). Leading blank lines are skipped as RFC 9112 §2.2 allows.
func readHead(br *bufio.Reader, max int, buf ...[]byte) ([]byte, error) {
	var head []byte
	if len(buf) > 0 {
		head = buf[0][:0]
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A single line longer than the buffer: keep reading it.
			for errors.Is(err, bufio.ErrBufferFull) {
				head = append(head, line...)
				if len(head) > max {
					return nil, errHeadTooLarge
				}
				line, err = br.ReadSlice('\n')
			}
		}
		if err != nil {
			if len(head) == 0 && len(line) == 0 {
				return nil, err
			}
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(head) == 0 && (len(line) == 2 && line[0] == '\r' || len(line) == 1) {
			continue // leading empty line
		}
		head = append(head, line...)
		if len(head) > max {
			return nil, errHeadTooLarge
		}
		if len(line) == 2 && line[0] == '\r' || len(line) == 1 {
			return head, nil
		}
	}
}

// parsedRequest is a request head, validated, and its body framing.
type parsedRequest struct {
	Method  string
	Target  string // request-target as sent
	Header  http.Header
	Chunked bool
	Length  int64 // -1 when chunked; 0 when no body
	Expect  bool  // Expect: 100-continue
	Close   bool  // client asked to close after this request
	HTTP10  bool  // an HTTP/1.0 client cannot read chunked responses
}

// parseHead validates and parses a request head. It is strict on purpose:
// anything a downstream parser could read differently is refused. The head
// is copied once; names and values are pieces of that copy, all values share
// one backing array, so a request costs a handful of allocations however many
// fields it has.
func parseHead(headBytes []byte) (*parsedRequest, error) {
	p := &parsedRequest{}
	if err := parseHeadInto(headBytes, p); err != nil {
		return nil, err
	}
	return p, nil
}

// parseHeadInto is parseHead into a connection's own parsedRequest.
func parseHeadInto(headBytes []byte, p *parsedRequest) error {
	*p = parsedRequest{}
	lineEnd := bytes.IndexByte(headBytes, '\n')
	if lineEnd < 0 {
		return badRequest("malformed request line")
	}
	if lineEnd == 0 || headBytes[lineEnd-1] != '\r' {
		return badRequest("bare LF in request line")
	}
	head := string(headBytes)
	line := head[:lineEnd-1]
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || strings.IndexByte(proto, ' ') >= 0 {
		return badRequest("malformed request line")
	}
	if proto != "HTTP/1.1" && proto != "HTTP/1.0" {
		return badRequest("unsupported protocol version")
	}
	if method == "" || !validToken(method) {
		return badRequest("invalid method")
	}
	if strings.ToUpper(method) != method {
		// Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET,
		// and policy must not match one while the upstream sees the other.
		return badRequest("method must be upper case")
	}
	if target == "" || !validTarget(target) {
		return badRequest("invalid request target")
	}
	fields := head[lineEnd+1:]
	n := strings.Count(fields, "\n")
	h := make(http.Header, n)
	vals := make([]string, 0, n)
	for len(fields) > 0 {
		i := strings.IndexByte(fields, '\n')
		if i < 0 {
			return badRequest("malformed header section")
		}
		if i == 0 || fields[i-1] != '\r' {
			return badRequest("bare LF in header section")
		}
		l := fields[:i-1]
		fields = fields[i+1:]
		if len(l) == 0 {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			return badRequest("obsolete header line folding")
		}
		colon := strings.IndexByte(l, ':')
		if colon <= 0 {
			return badRequest("malformed header field")
		}
		name := l[:colon]
		if !httpguts.ValidHeaderFieldName(name) {
			return badRequest("invalid byte in header name")
		}
		value := strings.Trim(l[colon+1:], " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return badRequest("invalid byte in header value")
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if prev, ok := h[key]; ok {
			h[key] = append(prev[:len(prev):len(prev)], value)
			continue
		}
		vals = append(vals, value)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	p.Method, p.Target, p.Header = method, target, h
	if _, te := h["Transfer-Encoding"]; te && proto == "HTTP/1.0" {
		// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has
		// faulty framing.
		return badRequest("Transfer-Encoding in an HTTP/1.0 request")
	}
	if proto == "HTTP/1.0" {
		p.HTTP10 = true
		p.Close = !headerHasToken(h, "Connection", "keep-alive")
	} else {
		p.Close = headerHasToken(h, "Connection", "close")
	}
	if err := p.framing(); err != nil {
		return err
	}
	if v := h.Get("Expect"); v != "" {
		if !strings.EqualFold(v, "100-continue") || len(h["Expect"]) > 1 {
			return &wireError{Status: http.StatusExpectationFailed, Reason: "unsupported expectation"}
		}
		// RFC 9110 §10.1.1: a server MUST ignore the expectation in an
		// HTTP/1.0 request (and §15.2: never send it a 1xx).
		p.Expect = !p.HTTP10
	}
	return nil
}

// framing decides the body length per RFC 9112 §6.3, refusing every shape on
// which two parsers could disagree (request smuggling).
func (p *parsedRequest) framing() error {
	te, hasTE := p.Header["Transfer-Encoding"]
	cl, hasCL := p.Header["Content-Length"]
	if hasTE && hasCL {
		return badRequest("both Content-Length and Transfer-Encoding")
	}
	if hasTE {
		// Exactly one field whose value is exactly "chunked" (any case).
		// Lists ("gzip, chunked"), padding, duplicates and look-alikes are
		// the classic obfuscations.
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return badRequest("unsupported or obfuscated Transfer-Encoding")
		}
		p.Chunked = true
		p.Length = -1
		return nil
	}
	if hasCL {
		var n int64 = -1
		for _, v := range cl {
			for more := true; more; {
				var f string
				f, v, more = strings.Cut(v, ",")
				f = strings.TrimSpace(f)
				if f == "" || strings.TrimLeft(f, "0123456789") != "" || len(f) > 18 {
					return badRequest("invalid Content-Length")
				}
				x, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return badRequest("invalid Content-Length")
				}
				if n >= 0 && x != n {
					return badRequest("conflicting Content-Length")
				}
				n = x
			}
		}
		p.Length = n
		return nil
	}
	p.Length = 0
	return nil
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for v != "" {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// hopByHop are the connection-specific fields of RFC 9110 §7.6.1, plus the
// ones proxies have historically honoured.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// stripHopByHop removes hop-by-hop fields, fields named in Connection, and
// every Proxy-* field.
func stripHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for v != "" {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
	for k := range h {
		if strings.HasPrefix(k, "Proxy-") {
			delete(h, k)
		}
	}
}

// bodyReader returns the framed request body. A chunked body's trailer
// section is read and discarded, bounded by maxTrailer bytes.
func bodyReader(br *bufio.Reader, p *parsedRequest, maxTrailer int) io.Reader {
	switch {
	case p.Chunked:
		return newChunkedBody(br, maxTrailer)
	case p.Length > 0:
		return &fixedBody{r: br, left: p.Length}
	default:
		return http.NoBody
	}
}

// limitedBody counts bytes and fails once more than max have been read, so a
// chunked body cannot exceed the limit either. The counters are atomic and
// done tells when the reader has let go, for a reader that is not the
// request's own goroutine (net/http's Transport reads from its own).
type limitedBody struct {
	r      io.Reader
	max    int64
	n      atomic.Int64
	tooBig atomic.Bool
	failed atomic.Bool // a read error other than EOF or the limit
	done   atomic.Bool // closed by whoever was reading it
}

func newLimitedBody(r io.Reader, max int64) *limitedBody {
	return &limitedBody{r: r, max: max}
}

var errBodyTooLarge = errors.New("request body too large")

// fixedBody is a Content-Length body; ending before its length is the
// client's fault.
type fixedBody struct {
	r    io.Reader
	left int64
}

func (f *fixedBody) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	switch {
	case f.left == 0:
		return n, io.EOF
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		return n, fmt.Errorf("%w: the connection ended %d bytes early", errBadBody, f.left)
	}
	return n, fmt.Errorf("%w: %v", errBadBody, err)
}

// prefetch reads up to n bytes of the body ahead of forwarding, so that a
// chunked body's framing (and trailer) is validated before anything reaches
// the upstream. Read still returns the prefetched bytes. complete reports
// that the whole body was read; buf is then the body.
func (b *limitedBody) prefetch(n int64) (buf []byte, complete bool, err error) {
	limit := min(n, b.max) + 1
	buf, err = io.ReadAll(io.LimitReader(b.r, limit))
	if err != nil {
		b.failed.Store(true)
		return nil, false, err
	}
	if int64(len(buf)) > b.max {
		b.tooBig.Store(true)
		return nil, false, errBodyTooLarge
	}
	if int64(len(buf)) < limit {
		// All of it: the body is now buf, already counted.
		b.n.Store(int64(len(buf)))
		b.r = eofReader{}
		return buf, true, nil
	}
	b.r = io.MultiReader(bytes.NewReader(buf), b.r)
	return buf, false, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.tooBig.Load() {
		return 0, errBodyTooLarge
	}
	n, err := b.r.Read(p)
	if b.n.Add(int64(n)) > b.max {
		b.tooBig.Store(true)
		return 0, errBodyTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.failed.Store(true)
	}
	return n, err
}

// Close marks the body as released by whoever was reading it.
func (b *limitedBody) Close() error {
	b.done.Store(true)
	return nil
}

// released reports whether the transport is done with the body.
func (b *limitedBody) released() bool { return b.done.Load() }

// writeResponseHead writes a status line, header fields and the blank line.
func writeResponseHead(w *bufio.Writer, status int, h http.Header) error {
	writeHeadFields(w, status, h)
	_, err := w.WriteString("\r\n")
	return err
}

// writeHeadFields writes a status line and header fields, in sorted order as
// http.Header.Write does, without the blank line. It does not allocate for
// a head of up to 32 distinct field names.
func writeHeadFields(w *bufio.Writer, status int, h http.Header) {
	writeStatusLine(w, status)
	var stack [32]string
	keys := stack[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			writeField(w, k, v)
		}
	}
}

func writeStatusLine(w *bufio.Writer, status int) {
	w.WriteString("HTTP/1.1 ")
	if status >= 0 && status < 100 {
		w.WriteByte('0') // %03d
		if status < 10 {
			w.WriteByte('0')
		}
	}
	writeInt(w, int64(status))
	w.WriteByte(' ')
	if text := http.StatusText(status); text != "" {
		w.WriteString(text)
	} else {
		w.WriteString("status ")
		writeInt(w, int64(status))
	}
	w.WriteString("\r\n")
}

// writeInt writes n in decimal a byte at a time, so that no buffer escapes.
func writeInt(w *bufio.Writer, n int64) {
	var num [20]byte
	for _, c := range strconv.AppendInt(num[:0], n, 10) {
		w.WriteByte(c)
	}
}

// writeField writes one header field. Like http.Header.Write it turns CR
// and LF in a name or value into spaces and trims the value, so that no
// field can end the head or start another.
func writeField(w *bufio.Writer, name, value string) {
	value = textproto.TrimString(value)
	writeFieldPart(w, name)
	w.WriteString(": ")
	writeFieldPart(w, value)
	w.WriteString("\r\n")
}

func writeFieldPart(w *bufio.Writer, s string) {
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 {
		w.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		w.WriteByte(c)
	}
}

// requestURL parses an absolute-form target. It refuses userinfo, which has
// been used to make one URL mean two hosts.
func requestURL(target string) (*url.URL, error) {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, badRequest("invalid request target")
	}
	if u.User != nil {
		return nil, badRequest("userinfo in request target")
	}
	if u.Fragment != "" {
		return nil, badRequest("fragment in request target")
	}
	return u, nil
}

// bodyAllowed reports whether a response with this status to this method
// carries a body.
func bodyAllowed(method string, status int) bool {
	if method == http.MethodHead {
		return false
	}
	return !(status >= 100 && status < 200 || status == http.StatusNoContent || status == http.StatusNotModified)
}

// methodOverrideHeaders make some upstreams (Google, Salesforce, many
// frameworks) act on another method than the request line's, which policy
// decided on.
var methodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// methodOverride names a method override in the head or the query string
// ("" when there is none). Header names are compared with '_' read as '-',
// as some servers do.
func methodOverride(h http.Header, rawQuery string) string {
	for k := range h {
		n := headerNameDashed(k)
		for _, o := range methodOverrideHeaders {
			if strings.EqualFold(n, o) {
				return "method override header " + o + " is not allowed"
			}
		}
	}
	for q := rawQuery; q != ""; {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, _, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if strings.EqualFold(strings.TrimSpace(k), "_HttpMethod") {
			return "method override query parameter _HttpMethod is not allowed"
		}
	}
	return ""
}

// forwardingHeaders claim a client address or scheme; a client must not be
// able to tell the upstream it is someone else. The gateway adds none.
var forwardingHeaders = []string{"Forwarded", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "X-Originating-Ip", "Client-Ip", "Cf-Connecting-Ip"}

// clientOnlyHeader reports whether a client's header field must not reach
// the upstream: the gateway's own Syncgate-* fields (also spelled with
// '_'), and forwarding fields (Forwarded, X-Forwarded-*, X-Real-IP, ...).
func clientOnlyHeader(name string) bool {
	n := headerNameDashed(name)
	if hasPrefixFold(n, "syncgate-") || hasPrefixFold(n, "x-forwarded-") {
		return true
	}
	for _, f := range forwardingHeaders {
		if strings.EqualFold(n, f) {
			return true
		}
	}
	return false
}

func headerNameDashed(name string) string { return strings.ReplaceAll(name, "_", "-") }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
