package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/vault"
)

// SubjectHeader names the user a client acts as; the gateway strips it.
const SubjectHeader = "Syncgate-Subject"

// RequestIDHeader is on every response.
const RequestIDHeader = "Syncgate-Request-Id"

// tunnel is an intercepted CONNECT: every request inside must be for it.
type tunnel struct {
	host string // normalised
	port int
}

// flight is one request in flight through the pipeline: its id, start and audit record.
type flight struct {
	id    string
	start time.Time
	rec   *audit.Record
	dest  string // the destination's name, once policy named one

	internal bool        // the gateway's own request (the token broker's)
	g        *generation // the policy generation it runs under
	client   policy.ClientID
	host     string
	port     int
	subject  string
	route    *policy.Dest     // the destination policy allowed
	inj      *vault.Injection // the credential set on it, if any
	remote   string           // the upstream address the request went to (set by the client trace)
	auditCtx context.Context  // the context records are written under, if made already

	// The record and its parts live in the flight: one allocation, or none
	// when a connection reuses its flight (see connState). The audit writer
	// does not keep a record past Write, so nothing outlives the request.
	recv audit.Record
	cli  audit.Client
	req  audit.Request
	dec  audit.Decision
	up   audit.Upstream
	resp audit.Response
}

func (s *Server) newFlight(p *peer, tun *tunnel) *flight {
	fl := &flight{}
	s.resetFlight(fl, p)
	return fl
}

// resetFlight makes fl a new request's flight from p.
func (s *Server) resetFlight(fl *flight, p *peer) {
	*fl = flight{id: newID(), start: s.now()}
	fl.cli = audit.Client{IP: p.srcText, CertSHA256: p.certFP}
	fl.recv = audit.Record{Time: fl.start.UTC(), ID: fl.id, Kind: audit.KindHTTP, Client: &fl.cli}
	fl.rec = &fl.recv
}

// decision, request, upstream and response set a part of the flight's
// record and return it.
func (fl *flight) decision(d audit.Decision) *audit.Decision {
	fl.dec = d
	fl.rec.Decision = &fl.dec
	return &fl.dec
}

func (fl *flight) request(method string) *audit.Request {
	fl.req = audit.Request{Method: method}
	fl.rec.Request = &fl.req
	return &fl.req
}

func (fl *flight) upstream(u audit.Upstream) *audit.Upstream {
	fl.up = u
	fl.rec.Upstream = &fl.up
	return &fl.up
}

func (fl *flight) response(status int, bytes int64) *audit.Response {
	fl.resp = audit.Response{Status: status, Bytes: bytes}
	fl.rec.Response = &fl.resp
	return &fl.resp
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// connState is what a client connection's request loop keeps from one
// request to the next: its buffers, its flight (a connection carries one
// request at a time), the last authority it normalised and upstream address
// it dialled.
type connState struct {
	head     []byte
	pr       parsedRequest
	fl       flight
	cr       clientRequest
	noBody   limitedBody // the body of requests without one
	auditCtx context.Context

	// The last authority normalised (a tunnel's Host, an origination
	// target's host) and what it gave.
	auth     string
	authHost string
	authPort int

	rb    reqBody     // the direct exchange's view of the current request's body
	body  limitedBody // the current request's body, when it has one
	fixed fixedBody   // its Content-Length framing
	watch upWatch     // cuts the upstream connection in use when ctx ends

	upHost string // the last upstream host:port dialled for, and its address
	upPort int
	upAddr string
}

// newConnState makes a connection's state; its owner must call release.
func newConnState(ctx context.Context) *connState {
	cs := &connState{auditCtx: context.WithoutCancel(ctx)}
	cs.watch.init(ctx)
	return cs
}

// release ends the connection's context watch.
func (cs *connState) release() { cs.watch.stop() }

// splitAuthority is policy.SplitHostPort with the connection's last answer
// kept: a kept-alive connection sends the same authority again and again,
// and IDNA normalisation is not free.
func (cs *connState) splitAuthority(auth string, defaultPort int) (string, int, error) {
	if cs != nil && auth == cs.auth && defaultPort == 443 {
		return cs.authHost, cs.authPort, nil
	}
	h, p, err := policy.SplitHostPort(auth, defaultPort)
	if err == nil && cs != nil && defaultPort == 443 {
		cs.auth, cs.authHost, cs.authPort = auth, h, p
	}
	return h, p, err
}

// serveHTTP runs the request loop of one client connection (or of one
// intercepted tunnel when tun is set).
func (s *Server) serveHTTP(ctx context.Context, conn net.Conn, p *peer, tun *tunnel) {
	br := bufio.NewReaderSize(conn, 16<<10)
	bw := bufio.NewWriterSize(conn, 16<<10)
	cs := newConnState(ctx)
	defer cs.release()
	for first := true; ; first = false {
		if ctx.Err() != nil {
			return
		}
		// Until the first request head is read, a connection is not idle
		// between requests: it gets the header timeout, so silent sockets
		// cannot hold a client's connection slots for the idle timeout.
		wait := s.limits.IdleTimeout
		if first {
			wait = s.limits.HeaderTimeout
		}
		_ = conn.SetReadDeadline(s.now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			return
		}
		_ = conn.SetReadDeadline(s.now().Add(s.limits.HeaderTimeout))
		head, err := readHead(br, s.limits.MaxHeaderBytes, cs.head[:0])
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				fl := s.newFlight(p, tun)
				s.identify(fl, p)
				s.finishError(ctx, bw, fl, malformed(http.StatusRequestHeaderFieldsTooLarge, "request head too large"))
			}
			return
		}
		if cap(head) <= 64<<10 {
			cs.head = head
		}
		_ = conn.SetReadDeadline(s.now().Add(s.limits.RequestTimeout))
		_ = conn.SetWriteDeadline(s.now().Add(s.limits.RequestTimeout))
		pr := &cs.pr
		if err := parseHeadInto(head, pr); err != nil {
			fl := s.newFlight(p, tun)
			s.identify(fl, p)
			status, reason := http.StatusBadRequest, err.Error()
			var we *wireError
			if errors.As(err, &we) {
				status = we.Status
			}
			s.finishError(ctx, bw, fl, malformed(status, reason))
			return
		}
		if pr.Method == http.MethodConnect {
			if tun != nil {
				fl := s.newFlight(p, tun)
				s.identify(fl, p)
				s.finishError(ctx, bw, fl, malformed(http.StatusBadRequest, "CONNECT inside a tunnel"))
				return
			}
			s.handleConnect(ctx, conn, br, bw, p, pr)
			return
		}
		if !s.handleRequest(ctx, cs, br, bw, p, tun, pr) {
			return
		}
	}
}

func (s *Server) handleConnect(ctx context.Context, conn net.Conn, br *bufio.Reader, bw *bufio.Writer, p *peer, pr *parsedRequest) {
	fl := s.newFlight(p, nil)
	fl.request(http.MethodConnect)
	if ref := s.identify(fl, p); ref != nil {
		s.finishError(ctx, bw, fl, ref)
		return
	}
	id, g := fl.client, fl.g
	host, port, err := policy.SplitHostPort(pr.Target, 443)
	if err != nil || strings.HasPrefix(pr.Target, "/") {
		s.finishError(ctx, bw, fl, malformed(http.StatusBadRequest, "invalid CONNECT authority"))
		return
	}
	fl.rec.Request.Host, fl.rec.Request.Port = host, port
	if pr.Length != 0 {
		s.finishError(ctx, bw, fl, malformed(http.StatusBadRequest, "CONNECT with a body"))
		return
	}
	// Never mint a certificate for a host this client may not reach.
	dest, ok := g.engine.HostAllowed(host, port, id)
	if !ok {
		fl.decision(audit.Decision{Allow: false, Mode: g.engine.Mode(), Reason: "no destination for host allows this client"})
		s.finishError(ctx, bw, fl, deny(http.StatusForbidden, "no destination for host allows this client"))
		return
	}
	if s.opt.Intercept == nil {
		s.finishError(ctx, bw, fl, fail(http.StatusServiceUnavailable, "interception is not configured"))
		return
	}
	leaf, err := s.opt.Intercept.Leaf(host)
	var refusal interface{ DenyReason() string }
	if errors.As(err, &refusal) {
		// The minter refuses the host on purpose (a leaf outside the
		// intercept CA's name constraints, which clients would reject):
		// a denial with its reason, audited, not an outage.
		s.log.Warn().Err(err).Str("host", host).Msg("refused to mint interception certificate")
		s.finishError(ctx, bw, fl, deny(http.StatusForbidden, refusal.DenyReason()))
		return
	}
	if err != nil {
		s.log.Error().Err(err).Str("host", host).Msg("mint interception certificate")
		s.finishError(ctx, bw, fl, fail(http.StatusServiceUnavailable, "cannot mint interception certificate"))
		return
	}
	// The allowed CONNECT is audited as kind connect, and the Syncgate-
	// Request-Id of its 200 is that record's id. The record is written once
	// the client's TLS handshake with the minted leaf has finished (or
	// failed), so that it can say which TLS the client spoke; no request in
	// the tunnel is read before it is on disk.
	fl.rec.Kind = audit.KindConnect
	fl.decision(audit.Decision{Allow: true, Mode: g.engine.Mode(), Reason: "destination allows this client", Destination: dest.Name})
	fl.response(http.StatusOK, 0)
	fl.rec.Detail = map[string]string{}
	if len(leaf.Certificate) > 0 {
		fl.rec.Detail["leaf_sha256"] = sha256Hex(leaf.Certificate[0])
	}
	if _, err := bw.WriteString("HTTP/1.1 200 Connection established\r\n" + RequestIDHeader + ": " + fl.id + "\r\n\r\n"); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		fl.rec.Detail["error"] = "client went away before the tunnel opened"
		s.writeRecord(ctx, fl)
		return
	}
	var inner net.Conn = conn
	if br.Buffered() > 0 {
		inner = &bufConn{Conn: conn, r: io.MultiReader(bytes.NewReader(mustPeek(br)), conn)}
	}
	tc := tls.Server(inner, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: upstreamCipherSuites,
		NextProtos:   []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return leaf, nil
		},
	})
	_ = conn.SetDeadline(s.now().Add(s.limits.HeaderTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Debug().Err(err).Str("host", host).Msg("intercept handshake failed")
		fl.rec.Detail["error"] = "client TLS handshake failed"
		s.writeRecord(ctx, fl)
		return
	}
	cs := tc.ConnectionState()
	fl.rec.Detail["client_tls_version"] = tlsVersionName(cs.Version)
	fl.rec.Detail["client_cipher"] = cipherName(cs.CipherSuite)
	if !s.writeRecord(ctx, fl) {
		return // fail closed: no request goes through a tunnel that is not on record
	}
	_ = conn.SetDeadline(time.Time{})
	s.serveHTTP(ctx, tc, p, &tunnel{host: host, port: port})
}

func mustPeek(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}

// target works out host, port and the URL to send upstream.
func (s *Server) target(cs *connState, pr *parsedRequest, tun *tunnel) (host string, port int, u *url.URL, ref *refusal) {
	if tun != nil {
		// Inside a tunnel: origin-form, and Host must name the CONNECT authority.
		if !strings.HasPrefix(pr.Target, "/") {
			return "", 0, nil, malformed(http.StatusBadRequest, "absolute-form request inside a tunnel")
		}
		hv := pr.Header["Host"]
		if len(hv) != 1 {
			return "", 0, nil, malformed(http.StatusBadRequest, "exactly one Host header is required")
		}
		h, prt, err := cs.splitAuthority(hv[0], 443)
		if err != nil || h != tun.host || prt != tun.port {
			return "", 0, nil, deny(http.StatusForbidden, "Host does not match the CONNECT authority")
		}
		pu, err := url.ParseRequestURI(pr.Target)
		if err != nil {
			return "", 0, nil, malformed(http.StatusBadRequest, "invalid request target")
		}
		return tun.host, tun.port, pu, nil
	}
	if strings.HasPrefix(pr.Target, "/") {
		return "", 0, nil, malformed(http.StatusBadRequest, "not a proxy request (origin-form target)")
	}
	pu, err := requestURL(pr.Target)
	if err != nil {
		return "", 0, nil, malformed(http.StatusBadRequest, err.Error())
	}
	switch pu.Scheme {
	case "http":
	case "https":
		return "", 0, nil, malformed(http.StatusBadRequest, "use CONNECT for https:// URLs")
	default:
		return "", 0, nil, malformed(http.StatusBadRequest, "unsupported scheme")
	}
	// Origination: http://host[:port]/ is sent as TLS to port 443 unless a
	// port is given.
	h, prt, err := cs.splitAuthority(pu.Host, 443)
	if err != nil {
		return "", 0, nil, malformed(http.StatusBadRequest, "invalid host")
	}
	return h, prt, pu, nil
}

// clientRequest is what a client's request brings besides its flight: the
// connection's reader and writer, the parsed head, its tunnel, and its body
// once read.
type clientRequest struct {
	br          *bufio.Reader
	bw          *bufio.Writer
	pr          *parsedRequest
	tun         *tunnel
	body        *limitedBody
	bodyPending bool // a body is still unread on the connection
	cs          *connState
}

// handleRequest runs one client request through the pipeline. It reports
// whether the connection may carry another request.
func (s *Server) handleRequest(ctx context.Context, cs *connState, br *bufio.Reader, bw *bufio.Writer, p *peer, tun *tunnel, pr *parsedRequest) bool {
	fl := &cs.fl
	s.resetFlight(fl, p)
	fl.auditCtx = cs.auditCtx
	fl.request(pr.Method)
	cr := &cs.cr
	*cr = clientRequest{br: br, bw: bw, pr: pr, tun: tun, bodyPending: pr.Length != 0, cs: cs}
	resp, ref := s.runClient(ctx, fl, p, cr)
	if ref != nil {
		return s.finishError(ctx, bw, fl, ref)
	}
	defer resp.Body.Close()
	return s.relay(ctx, bw, fl, pr, resp, cr.body)
}

// runClient takes a client's request through the stages: identify, the
// request's own checks, authorize, the body (and EWS inspection),
// credential, forward. It returns the upstream response to relay, or the
// refusal to finish with.
func (s *Server) runClient(ctx context.Context, fl *flight, p *peer, cr *clientRequest) (*http.Response, *refusal) {
	pr := cr.pr
	if ref := s.identify(fl, p); ref != nil {
		return nil, ref
	}
	host, port, u, ref := s.target(cr.cs, pr, cr.tun)
	if ref != nil {
		return nil, ref
	}
	fl.host, fl.port = host, port
	fl.rec.Request.Host, fl.rec.Request.Port = host, port
	fl.rec.Request.Path = u.EscapedPath()
	if reason := methodOverride(pr.Header, u.RawQuery); reason != "" {
		// Policy decides on the request method; an override would let
		// the upstream act on another one.
		return nil, malformed(http.StatusBadRequest, reason)
	}

	subjects := pr.Header[SubjectHeader]
	if len(subjects) > 1 {
		return nil, malformed(http.StatusBadRequest, "more than one "+SubjectHeader+" header")
	}
	if len(subjects) == 1 {
		fl.subject = subjects[0]
	}
	fl.rec.Subject = fl.subject
	if pr.Length > s.limits.MaxBodyBytes {
		return nil, malformed(http.StatusRequestEntityTooLarge, "request body too large")
	}

	if ref := s.authorize(fl, &policy.Request{Client: fl.client, Method: pr.Method, Host: host, Port: port, Path: u.EscapedPath(), Subject: fl.subject}); ref != nil {
		if ref.class == classDeny {
			ref.closeIf(cr.bodyPending)
		}
		return nil, ref
	}
	dest := fl.route

	// Expect: 100-continue is answered here, once policy has allowed the
	// request, and stripped (below): the gateway is the server that reads
	// the content first, and may refuse without reading it (RFC 9110
	// §10.1.1). The upstream is then sent the whole request at once and
	// never asked for a 100 of its own.
	if pr.Expect {
		if _, err := cr.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil || cr.bw.Flush() != nil {
			return nil, fail(0, "client went away before 100 Continue")
		}
	}
	var body *limitedBody
	if pr.Length == 0 && cr.cs != nil {
		// Nothing to read, nothing handed to the transport (NoBody goes
		// upstream): the connection's own body value will do.
		body = &cr.cs.noBody
		*body = limitedBody{r: http.NoBody, max: s.limits.MaxBodyBytes}
	} else if cr.cs != nil && !pr.Chunked {
		// The connection's own values: a request is done with its body
		// before the next request is read.
		cr.cs.fixed = fixedBody{r: cr.br, left: pr.Length}
		body = &cr.cs.body
		*body = limitedBody{r: &cr.cs.fixed, max: s.limits.MaxBodyBytes}
	} else {
		body = newLimitedBody(bodyReader(cr.br, pr, s.limits.MaxHeaderBytes), s.limits.MaxBodyBytes)
	}
	cr.body = body
	var outBody io.Reader = body
	length := pr.Length
	var replay []byte // set when the body is buffered and can be sent again
	var prefetched []byte
	prefetchedAll := false
	if pr.Chunked && dest.EWS == nil {
		// Validate the chunked framing (and read the trailer) before
		// anything is forwarded; only a body larger than this is streamed.
		buf, all, err := body.prefetch(chunkPrefetchBytes)
		if err != nil {
			return nil, s.bodyFailure(fl, body, err)
		}
		prefetched, prefetchedAll = buf, all
	}
	var ewsReq *policy.EWSRequest // an EWS request policy allowed (not monitor mode): its response teaches item ids
	if dest.EWS != nil {
		buf, err := io.ReadAll(io.LimitReader(body, s.limits.MaxEWSBodyBytes+1))
		if err != nil && !body.tooBig.Load() {
			return nil, s.bodyFailure(fl, body, err)
		}
		if err != nil || int64(len(buf)) > s.limits.MaxEWSBodyBytes {
			return nil, malformed(http.StatusRequestEntityTooLarge, "EWS request too large to inspect")
		}
		cr.bodyPending = false
		er, err := policy.ParseEWS(bytes.NewReader(buf), s.limits.MaxEWSBodyBytes)
		if err == nil {
			err = ewsHeaderProblem(pr.Header, er.Operation)
		}
		if err != nil {
			return nil, deny(http.StatusForbidden, ewsRefusalReason(err)).closeIf(false)
		}
		fl.rec.Request.Operation = er.Operation
		s.ewsItems.Resolve(dest.Name, fl.subject, er)
		ed := fl.g.engine.DecideEWS(dest, fl.subject, er)
		s.recordDecision(fl, ed)
		if !ed.Allow {
			return nil, deny(http.StatusForbidden, ed.Reason).closeIf(false)
		}
		if !ed.WouldDeny {
			ewsReq = er
		}
		replay, length, outBody = buf, int64(len(buf)), bytes.NewReader(buf)
		body.Close()
	} else if pr.Length == 0 {
		replay = []byte{}
		body.Close()
	} else if prefetchedAll {
		replay, length, outBody = prefetched, int64(len(prefetched)), bytes.NewReader(prefetched)
		body.Close()
	}

	hp := hostPort(host, port)
	// u is this request's own parse: reuse it, keeping only path and query.
	*u = url.URL{Scheme: "https", Host: hp, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	out := &http.Request{
		Method:     pr.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     pr.Header, // the parsed head is not used again: reuse it
		Host:       hp,
	}
	stripHopByHop(out.Header)
	if dest.EWS != nil {
		// The gateway reads EWS responses for item ids: ask for them
		// uncompressed.
		out.Header.Del("Accept-Encoding")
	}
	out.Header.Del("Host")
	out.Header.Del("Expect")
	for k := range out.Header {
		if clientOnlyHeader(k) {
			delete(out.Header, k)
		}
	}
	if ref := s.credential(ctx, fl, out); ref != nil {
		return nil, ref.closeIf(cr.bodyPending)
	}

	resp, err := s.forward(ctx, cr.cs, fl, out, outBody, length)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && fl.inj != nil && replay != nil {
		// The injected token was refused: drop it and try once more with a fresh one.
		resp.Body.Close()
		if _, ref := s.retryCredential(ctx, fl, out); ref != nil {
			return nil, ref.closeIf(false)
		}
		resp, err = s.forward(ctx, cr.cs, fl, out, bytes.NewReader(replay), int64(len(replay)))
	}
	fl.rec.Request.Bytes = body.n.Load()
	if err != nil {
		if body.tooBig.Load() {
			return nil, malformed(http.StatusRequestEntityTooLarge, "request body too large")
		}
		if body.failed.Load() {
			return nil, s.bodyFailure(fl, body, err)
		}
		return nil, s.upstreamRefusal(fl, err)
	}
	if ewsReq != nil {
		// Before the caller's deferred Close, so that Close stops the watcher.
		resp.Body = s.ewsItems.Watch(dest.Name, fl.subject, ewsReq, resp.Body)
	}
	return resp, nil
}

// chunkPrefetchBytes is how much of a chunked request body is read and
// validated before forwarding starts.
const chunkPrefetchBytes = 1 << 20

// bodyFailure answers a request whose body could not be read: too large
// (413), a trailer section over max_header_bytes (431), or malformed or cut
// short (400). It is the client's fault, not the upstream's, and is audited
// so; the connection is closed, its framing being lost.
func (s *Server) bodyFailure(fl *flight, body *limitedBody, err error) *refusal {
	fl.rec.Request.Bytes = body.n.Load()
	if fl.rec.Upstream != nil {
		fl.rec.Upstream.Error = ""
	}
	switch {
	case body.tooBig.Load() || errors.Is(err, errBodyTooLarge):
		return malformed(http.StatusRequestEntityTooLarge, "request body too large")
	case errors.Is(err, errTrailerTooLarge):
		return malformed(http.StatusRequestHeaderFieldsTooLarge, "chunked trailer section too large")
	}
	return malformed(http.StatusBadRequest, "malformed or incomplete request body")
}

func hostPort(host string, port int) string {
	if port == 443 {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// relay writes the audit record, then the upstream response. The record
// comes first: in fsync=always mode the client learns nothing until the
// record is durable.
func (s *Server) relay(ctx context.Context, bw *bufio.Writer, fl *flight, pr *parsedRequest, resp *http.Response, body *limitedBody) bool {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The gateway never asks for an upgrade (Upgrade is hop-by-hop and
		// dropped), so a 101 is unsolicited: relaying it would leave the
		// client waiting on a protocol nobody speaks.
		if fl.rec.Upstream != nil {
			fl.rec.Upstream.Error = "unsolicited_upgrade"
		}
		return s.finishError(ctx, bw, fl, fail(http.StatusBadGateway, "upstream switched protocols unasked (101)"))
	}
	hasBody := bodyAllowed(pr.Method, resp.StatusCode)
	fl.response(resp.StatusCode, resp.ContentLength)
	if !hasBody {
		fl.rec.Response.Bytes = 0
	}
	if !s.writeRecord(ctx, fl) {
		return s.writeError(bw, fl, http.StatusServiceUnavailable, "audit log unavailable", true)
	}
	h := resp.Header
	stripHopByHop(h)
	delete(h, "Content-Length")
	delete(h, RequestIDHeader)
	// The request body must be fully read before the connection can carry
	// another request; if the upstream stopped reading early, close.
	// What the upstream exchange left unread (it answered before the body
	// ended) is drained here, up to a bound.
	closeAfter := pr.Close || !body.released() || body.tooBig.Load() || body.failed.Load()
	if !closeAfter && (pr.Length != 0 || body.r != http.NoBody) {
		closeAfter = !s.drained(body)
	}
	chunked := false
	length := int64(-1) // the Content-Length to send, if any
	switch {
	case !hasBody:
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified && resp.ContentLength >= 0 {
			length = resp.ContentLength
		}
	case resp.ContentLength >= 0:
		length = resp.ContentLength
	case pr.HTTP10:
		// No chunked coding in HTTP/1.0: the body ends when the connection does.
		closeAfter = true
	default:
		chunked = true
	}
	// The upstream's fields, then the gateway's own (no map writes, no
	// formatting allocations).
	writeHeadFields(bw, resp.StatusCode, h)
	writeField(bw, RequestIDHeader, fl.id)
	if length >= 0 {
		bw.WriteString("Content-Length: ")
		writeInt(bw, length)
		bw.WriteString("\r\n")
	}
	if chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if closeAfter {
		bw.WriteString("Connection: close\r\n")
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return false
	}
	if hasBody {
		var w io.Writer = bw
		var cw io.WriteCloser
		if chunked {
			cw = newChunkedWriter(bw)
			w = cw
		}
		// Small bodies of known length go out in one flush at the end;
		// anything else is streamed, flushed as it arrives.
		if chunked || resp.ContentLength > 64<<10 {
			w = &flushWriter{w: w, bw: bw}
		}
		buf := s.copyBufs.Get().(*[]byte)
		n, err := io.CopyBuffer(w, resp.Body, *buf)
		s.copyBufs.Put(buf)
		if err != nil || (resp.ContentLength >= 0 && n != resp.ContentLength) {
			// The response is incomplete; the client sees a cut connection,
			// never a short body it could take for whole.
			bw.Flush()
			return false
		}
		if cw != nil {
			if cw.Close() != nil {
				return false
			}
		}
	}
	// Let the upstream connection go (back to its pool) before the client
	// has the response and sends its next request.
	resp.Body.Close()
	if bw.Flush() != nil {
		return false
	}
	s.metrics.observe(fl.dest, decisionLabel(fl.rec.Decision), s.now().Sub(fl.start))
	return !closeAfter
}

// drained reads what is left of a request body, up to 64 KiB, and reports
// whether it ended there (so that the connection can carry another request).
func (s *Server) drained(body io.Reader) bool {
	buf := s.copyBufs.Get().(*[]byte)
	defer s.copyBufs.Put(buf)
	for total := 0; total <= 64<<10; {
		n, err := body.Read(*buf)
		total += n
		if errors.Is(err, io.EOF) {
			return total <= 64<<10
		}
		if err != nil {
			return false
		}
	}
	return false
}

// finishError finishes a client's refused request: the one audit record
// (finish), then the error response. It reports whether the connection may
// continue.
func (s *Server) finishError(ctx context.Context, bw *bufio.Writer, fl *flight, ref *refusal) bool {
	status, reason := s.finish(ctx, fl, ref)
	if status == 0 {
		return false // the client is gone: nobody to answer
	}
	return s.writeError(bw, fl, status, reason, ref.close)
}

func (s *Server) mode() string {
	if e := s.Policy(); e != nil {
		return e.Mode()
	}
	return "enforce"
}

func decisionLabel(d *audit.Decision) string {
	switch {
	case d == nil:
		return "error"
	case d.WouldDeny:
		return "would_deny"
	case d.Allow:
		return "allow"
	}
	return "deny"
}

// writeRecord writes the flight's audit record; false means it is not durable.
func (s *Server) writeRecord(ctx context.Context, fl *flight) bool {
	fl.rec.DurationMS = float64(s.now().Sub(fl.start).Microseconds()) / 1000
	t0 := time.Now()
	if fl.auditCtx != nil {
		ctx = fl.auditCtx // the connection's, made once
	} else {
		ctx = context.WithoutCancel(ctx)
	}
	err := s.opt.Audit.Write(ctx, fl.rec)
	s.metrics.auditWrite.Observe(time.Since(t0).Seconds())
	if err != nil {
		s.metrics.auditFailures.Inc()
		s.log.Error().Err(err).Str("request_id", fl.id).Msg("audit record not written")
		return !s.opt.FailClosed
	}
	return true
}

type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id"`
	Reason    string `json:"reason"`
}

func (s *Server) writeError(bw *bufio.Writer, fl *flight, status int, reason string, closeConn bool) bool {
	kind := "denied"
	switch {
	case status == http.StatusBadRequest || status == http.StatusRequestHeaderFieldsTooLarge || status == http.StatusRequestEntityTooLarge || status == http.StatusExpectationFailed:
		kind = "bad_request"
	case status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		kind = "upstream_failed"
	case status == http.StatusServiceUnavailable:
		kind = "unavailable"
	case status == http.StatusTooManyRequests:
		kind = "limited"
	}
	b, _ := json.Marshal(errorBody{Error: kind, RequestID: fl.id, Reason: reason})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set(RequestIDHeader, fl.id)
	h.Set("Cache-Control", "no-store")
	if status == http.StatusProxyAuthRequired {
		// RFC 9110 requires a challenge; the only accepted "credential" is a
		// client certificate or a loopback source address.
		h.Set("Proxy-Authenticate", `Mutual realm="syncgate", hint="client certificate required"`)
	}
	if closeConn {
		h.Set("Connection", "close")
	}
	if writeResponseHead(bw, status, h) != nil {
		return false
	}
	bw.Write(b)
	if bw.Flush() != nil {
		return false
	}
	return !closeConn
}

// cipherNames is built once: tls.CipherSuiteName allocates the whole suite
// list on every call, which showed in profiles at one call per request.
var cipherNames = func() map[uint16]string {
	m := map[uint16]string{}
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m[c.ID] = c.Name
	}
	return m
}()

func cipherName(id uint16) string {
	if n, ok := cipherNames[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}

// certFacts returns the audit facts of an upstream leaf. A keep-alive
// connection presents the same *x509.Certificate on every response, so the
// hash and issuer string are computed once per certificate.
func (s *Server) certFacts(c *x509.Certificate) (sha, issuer string) {
	if v, ok := s.factCache.Load(c); ok {
		f := v.([2]string)
		return f[0], f[1]
	}
	f := [2]string{sha256Hex(c.Raw), c.Issuer.String()}
	if s.factCount.Add(1) > 4096 {
		// Bound the cache; upstream certificates are few, so this is rare.
		s.factCache.Clear()
		s.factCount.Store(0)
	}
	s.factCache.Store(c, f)
	return f[0], f[1]
}

// flushWriter flushes after every write so streamed responses are not held
// back by the gateway's buffer.
type flushWriter struct {
	w  io.Writer
	bw *bufio.Writer
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.bw.Flush()
}
