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
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/policy"
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

// exchange is one request's state through the pipeline.
type exchange struct {
	id    string
	start time.Time
	rec   *audit.Record
	dest  string
}

func (s *Server) newExchange(p *peer, tun *tunnel) *exchange {
	ex := &exchange{id: newID(), start: s.now()}
	ex.rec = &audit.Record{
		Time:   ex.start.UTC(),
		ID:     ex.id,
		Kind:   audit.KindHTTP,
		Client: &audit.Client{IP: p.source.String(), CertSHA256: p.certFP},
	}
	return ex
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// serveHTTP runs the request loop of one client connection (or of one
// intercepted tunnel when tun is set).
func (s *Server) serveHTTP(ctx context.Context, conn net.Conn, p *peer, tun *tunnel) {
	br := bufio.NewReaderSize(conn, 16<<10)
	bw := bufio.NewWriterSize(conn, 16<<10)
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
		head, err := readHead(br, s.limits.MaxHeaderBytes)
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				ex := s.newExchange(p, tun)
				s.identifyInto(ex, p)
				s.finishError(ctx, bw, ex, http.StatusRequestHeaderFieldsTooLarge, "request head too large", true)
			}
			return
		}
		_ = conn.SetReadDeadline(s.now().Add(s.limits.RequestTimeout))
		_ = conn.SetWriteDeadline(s.now().Add(s.limits.RequestTimeout))
		pr, err := parseHead(head)
		if err != nil {
			ex := s.newExchange(p, tun)
			s.identifyInto(ex, p)
			status, reason := http.StatusBadRequest, err.Error()
			var we *wireError
			if errors.As(err, &we) {
				status = we.Status
			}
			s.finishError(ctx, bw, ex, status, reason, true)
			return
		}
		if pr.Method == http.MethodConnect {
			if tun != nil {
				ex := s.newExchange(p, tun)
				s.identifyInto(ex, p)
				s.finishError(ctx, bw, ex, http.StatusBadRequest, "CONNECT inside a tunnel", true)
				return
			}
			s.handleConnect(ctx, conn, br, bw, p, pr)
			return
		}
		if !s.handleRequest(ctx, br, bw, p, tun, pr) {
			return
		}
	}
}

// identifyInto identifies the client under the current policy and fills the
// audit record. It returns the identity or the identification error.
func (s *Server) identifyInto(ex *exchange, p *peer) (policy.ClientID, *generation, error) {
	g := s.gen.Load()
	if g == nil {
		return policy.ClientID{}, nil, errors.New("no policy loaded")
	}
	id, err := g.engine.Identify(&p.pkey)
	if err == nil || errors.Is(err, policy.ErrSourceDenied) {
		ex.rec.Client.Name = id.Name
		ex.rec.Client.Identity = id.Identity
	}
	return id, g, err
}

// identityError maps an identification failure to a status.
func identityError(err error) (int, string) {
	if errors.Is(err, policy.ErrSourceDenied) {
		return http.StatusForbidden, "source address not allowed for client"
	}
	if errors.Is(err, policy.ErrUnidentified) {
		return http.StatusProxyAuthRequired, "client not identified"
	}
	return http.StatusServiceUnavailable, "no policy loaded"
}

func (s *Server) handleConnect(ctx context.Context, conn net.Conn, br *bufio.Reader, bw *bufio.Writer, p *peer, pr *parsedRequest) {
	ex := s.newExchange(p, nil)
	ex.rec.Request = &audit.Request{Method: http.MethodConnect}
	id, g, err := s.identifyInto(ex, p)
	if err != nil {
		status, reason := identityError(err)
		s.finishError(ctx, bw, ex, status, reason, true)
		return
	}
	host, port, err := policy.SplitHostPort(pr.Target, 443)
	if err != nil || strings.HasPrefix(pr.Target, "/") {
		s.finishError(ctx, bw, ex, http.StatusBadRequest, "invalid CONNECT authority", true)
		return
	}
	ex.rec.Request.Host, ex.rec.Request.Port = host, port
	if pr.Length != 0 {
		s.finishError(ctx, bw, ex, http.StatusBadRequest, "CONNECT with a body", true)
		return
	}
	// Never mint a certificate for a host this client may not reach.
	dest, ok := g.engine.HostAllowed(host, port, id)
	if !ok {
		ex.rec.Decision = &audit.Decision{Allow: false, Mode: g.engine.Mode(), Reason: "no destination for host allows this client"}
		s.finishError(ctx, bw, ex, http.StatusForbidden, "no destination for host allows this client", true)
		return
	}
	if s.opt.Intercept == nil {
		s.finishError(ctx, bw, ex, http.StatusServiceUnavailable, "interception is not configured", true)
		return
	}
	leaf, err := s.opt.Intercept.Leaf(host)
	var refusal interface{ DenyReason() string }
	if errors.As(err, &refusal) {
		// The minter refuses the host on purpose (a leaf outside the
		// intercept CA's name constraints, which clients would reject):
		// a denial with its reason, audited, not an outage.
		s.log.Warn().Err(err).Str("host", host).Msg("refused to mint interception certificate")
		s.finishError(ctx, bw, ex, http.StatusForbidden, refusal.DenyReason(), true)
		return
	}
	if err != nil {
		s.log.Error().Err(err).Str("host", host).Msg("mint interception certificate")
		s.finishError(ctx, bw, ex, http.StatusServiceUnavailable, "cannot mint interception certificate", true)
		return
	}
	// The allowed CONNECT is audited as kind connect, and the Syncgate-
	// Request-Id of its 200 is that record's id. The record is written once
	// the client's TLS handshake with the minted leaf has finished (or
	// failed), so that it can say which TLS the client spoke; no request in
	// the tunnel is read before it is on disk.
	ex.rec.Kind = audit.KindConnect
	ex.rec.Decision = &audit.Decision{Allow: true, Mode: g.engine.Mode(), Reason: "destination allows this client", Destination: dest.Name}
	ex.rec.Response = &audit.Response{Status: http.StatusOK}
	ex.rec.Detail = map[string]string{}
	if len(leaf.Certificate) > 0 {
		ex.rec.Detail["leaf_sha256"] = sha256Hex(leaf.Certificate[0])
	}
	if _, err := bw.WriteString("HTTP/1.1 200 Connection established\r\n" + RequestIDHeader + ": " + ex.id + "\r\n\r\n"); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		ex.rec.Detail["error"] = "client went away before the tunnel opened"
		s.writeRecord(ctx, ex)
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
		ex.rec.Detail["error"] = "client TLS handshake failed"
		s.writeRecord(ctx, ex)
		return
	}
	cs := tc.ConnectionState()
	ex.rec.Detail["client_tls_version"] = tlsVersionName(cs.Version)
	ex.rec.Detail["client_cipher"] = cipherName(cs.CipherSuite)
	if !s.writeRecord(ctx, ex) {
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
func (s *Server) target(pr *parsedRequest, tun *tunnel) (host string, port int, u *url.URL, status int, reason string) {
	if tun != nil {
		// Inside a tunnel: origin-form, and Host must name the CONNECT authority.
		if !strings.HasPrefix(pr.Target, "/") {
			return "", 0, nil, http.StatusBadRequest, "absolute-form request inside a tunnel"
		}
		hv := pr.Header["Host"]
		if len(hv) != 1 {
			return "", 0, nil, http.StatusBadRequest, "exactly one Host header is required"
		}
		h, prt, err := policy.SplitHostPort(hv[0], 443)
		if err != nil || h != tun.host || prt != tun.port {
			return "", 0, nil, http.StatusForbidden, "Host does not match the CONNECT authority"
		}
		pu, err := url.ParseRequestURI(pr.Target)
		if err != nil {
			return "", 0, nil, http.StatusBadRequest, "invalid request target"
		}
		return tun.host, tun.port, pu, 0, ""
	}
	if strings.HasPrefix(pr.Target, "/") {
		return "", 0, nil, http.StatusBadRequest, "not a proxy request (origin-form target)"
	}
	pu, err := requestURL(pr.Target)
	if err != nil {
		return "", 0, nil, http.StatusBadRequest, err.Error()
	}
	switch pu.Scheme {
	case "http":
	case "https":
		return "", 0, nil, http.StatusBadRequest, "use CONNECT for https:// URLs"
	default:
		return "", 0, nil, http.StatusBadRequest, "unsupported scheme"
	}
	// Origination: http://host[:port]/ is sent as TLS to port 443 unless a
	// port is given.
	h, prt, err := policy.SplitHostPort(pu.Host, 443)
	if err != nil {
		return "", 0, nil, http.StatusBadRequest, "invalid host"
	}
	return h, prt, pu, 0, ""
}

// handleRequest runs one request through the pipeline. It reports whether
// the connection may carry another request.
func (s *Server) handleRequest(ctx context.Context, br *bufio.Reader, bw *bufio.Writer, p *peer, tun *tunnel, pr *parsedRequest) bool {
	ex := s.newExchange(p, tun)
	ex.rec.Request = &audit.Request{Method: pr.Method}
	bodyPending := pr.Length != 0
	id, g, err := s.identifyInto(ex, p)
	if err != nil {
		status, reason := identityError(err)
		return s.finishError(ctx, bw, ex, status, reason, true)
	}
	host, port, u, status, reason := s.target(pr, tun)
	if status != 0 {
		return s.finishError(ctx, bw, ex, status, reason, true)
	}
	ex.rec.Request.Host, ex.rec.Request.Port = host, port
	ex.rec.Request.Path = u.EscapedPath()
	if reason := methodOverride(pr.Header, u.RawQuery); reason != "" {
		// Policy decides on the request method; an override would let
		// the upstream act on another one.
		return s.finishError(ctx, bw, ex, http.StatusBadRequest, reason, true)
	}

	subjects := pr.Header[SubjectHeader]
	if len(subjects) > 1 {
		return s.finishError(ctx, bw, ex, http.StatusBadRequest, "more than one "+SubjectHeader+" header", true)
	}
	subject := ""
	if len(subjects) == 1 {
		subject = subjects[0]
	}
	ex.rec.Subject = subject
	if pr.Length > s.limits.MaxBodyBytes {
		return s.finishError(ctx, bw, ex, http.StatusRequestEntityTooLarge, "request body too large", true)
	}

	d := g.engine.Decide(&policy.Request{Client: id, Method: pr.Method, Host: host, Port: port, Path: u.EscapedPath(), Subject: subject})
	s.recordDecision(ex, d)
	if !d.Allow || d.Dest == nil {
		reason := d.Reason
		if d.Allow {
			reason = "monitor mode cannot forward to a host without a destination"
			ex.rec.Decision.Allow = false
		}
		return s.finishError(ctx, bw, ex, http.StatusForbidden, reason, bodyPending)
	}
	dest := d.Dest

	// Before anything leaves: the audit log must be writable.
	if err := s.opt.Audit.Healthy(); err != nil && s.opt.FailClosed {
		return s.finishError(ctx, bw, ex, http.StatusServiceUnavailable, "audit log unavailable", true)
	}

	if pr.Expect {
		if _, err := bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil || bw.Flush() != nil {
			return false
		}
	}
	body := newLimitedBody(bodyReader(br, pr, s.limits.MaxHeaderBytes), s.limits.MaxBodyBytes)
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
			return s.bodyFailure(ctx, bw, ex, body, err)
		}
		prefetched, prefetchedAll = buf, all
	}
	var ewsReq *policy.EWSRequest // an EWS request policy allowed (not monitor mode): its response teaches item ids
	if dest.EWS != nil {
		buf, err := io.ReadAll(io.LimitReader(body, s.limits.MaxEWSBodyBytes+1))
		if err != nil && !body.tooBig.Load() {
			return s.bodyFailure(ctx, bw, ex, body, err)
		}
		if err != nil || int64(len(buf)) > s.limits.MaxEWSBodyBytes {
			return s.finishError(ctx, bw, ex, http.StatusRequestEntityTooLarge, "EWS request too large to inspect", true)
		}
		bodyPending = false
		er, err := policy.ParseEWS(bytes.NewReader(buf), s.limits.MaxEWSBodyBytes)
		if err == nil {
			err = ewsHeaderProblem(pr.Header, er.Operation)
		}
		if err != nil {
			reason := ewsRefusalReason(err)
			ex.rec.Decision.Allow = false
			ex.rec.Decision.Reason = reason
			return s.finishError(ctx, bw, ex, http.StatusForbidden, reason, false)
		}
		ex.rec.Request.Operation = er.Operation
		s.ewsItems.Resolve(dest.Name, subject, er)
		ed := g.engine.DecideEWS(dest, subject, er)
		s.recordDecision(ex, ed)
		if !ed.Allow {
			return s.finishError(ctx, bw, ex, http.StatusForbidden, ed.Reason, false)
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

	out := &http.Request{
		Method:     pr.Method,
		URL:        &url.URL{Scheme: "https", Host: hostPort(host, port), Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     pr.Header, // the parsed head is not used again: reuse it
		Host:       hostPort(host, port),
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
	var inj *Injection
	if dest.Credential != "" {
		out.Header.Del("Authorization")
		out.Header.Del("Cookie")
		inj, status, reason = s.inject(ctx, ex, dest, subject, host)
		if status != 0 {
			return s.finishError(ctx, bw, ex, status, reason, bodyPending)
		}
		out.Header.Set(inj.Header, inj.Value)
	}

	resp, err := s.roundTrip(ctx, g, dest, ex, out, outBody, length)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && inj != nil && replay != nil {
		// The injected token was refused: drop it and try once more with a fresh one.
		resp.Body.Close()
		s.opt.Injector.Invalidate(dest.Credential, subject, inj.TokenFP)
		inj, status, reason = s.inject(ctx, ex, dest, subject, host)
		if status != 0 {
			return s.finishError(ctx, bw, ex, status, reason, false)
		}
		out.Header.Set(inj.Header, inj.Value)
		resp, err = s.roundTrip(ctx, g, dest, ex, out, bytes.NewReader(replay), int64(len(replay)))
	}
	ex.rec.Request.Bytes = body.n.Load()
	if err != nil {
		if body.tooBig.Load() {
			return s.finishError(ctx, bw, ex, http.StatusRequestEntityTooLarge, "request body too large", true)
		}
		if body.failed.Load() {
			return s.bodyFailure(ctx, bw, ex, body, err)
		}
		status, reason := s.upstreamFailure(ex, err)
		return s.finishError(ctx, bw, ex, status, reason, true)
	}
	if ewsReq != nil {
		// Before the deferred Close, so that Close stops the watcher.
		resp.Body = s.ewsItems.Watch(dest.Name, subject, ewsReq, resp.Body)
	}
	defer resp.Body.Close()
	return s.relay(ctx, bw, ex, pr, resp, body)
}

// chunkPrefetchBytes is how much of a chunked request body is read and
// validated before forwarding starts.
const chunkPrefetchBytes = 1 << 20

// bodyFailure answers a request whose body could not be read: too large
// (413), a trailer section over max_header_bytes (431), or malformed or cut
// short (400). It is the client's fault, not the upstream's, and is audited
// so; the connection is closed, its framing being lost.
func (s *Server) bodyFailure(ctx context.Context, bw *bufio.Writer, ex *exchange, body *limitedBody, err error) bool {
	ex.rec.Request.Bytes = body.n.Load()
	if ex.rec.Upstream != nil {
		ex.rec.Upstream.Error = ""
	}
	switch {
	case body.tooBig.Load() || errors.Is(err, errBodyTooLarge):
		return s.finishError(ctx, bw, ex, http.StatusRequestEntityTooLarge, "request body too large", true)
	case errors.Is(err, errTrailerTooLarge):
		return s.finishError(ctx, bw, ex, http.StatusRequestHeaderFieldsTooLarge, "chunked trailer section too large", true)
	}
	return s.finishError(ctx, bw, ex, http.StatusBadRequest, "malformed or incomplete request body", true)
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

func (s *Server) recordDecision(ex *exchange, d policy.Decision) {
	ad := &audit.Decision{Allow: d.Allow, Mode: d.Mode, Rule: d.Rule, Reason: d.Reason, WouldDeny: d.WouldDeny}
	if d.Dest != nil {
		ad.Destination = d.Dest.Name
		ex.dest = d.Dest.Name
	}
	ex.rec.Decision = ad
}

// inject obtains the destination's credential for this subject.
func (s *Server) inject(ctx context.Context, ex *exchange, dest *policy.Dest, subject, host string) (*Injection, int, string) {
	ex.rec.Credential = &audit.Credential{Name: dest.Credential}
	if s.opt.Injector == nil {
		return nil, http.StatusServiceUnavailable, "no credential source is configured"
	}
	inj, err := s.opt.Injector.Authorize(ctx, dest.Credential, subject)
	if err != nil {
		s.log.Warn().Str("credential", dest.Credential).Err(err).Msg("no credential")
		return nil, http.StatusServiceUnavailable, "credential unavailable: " + err.Error()
	}
	ex.rec.Credential.TokenFP = inj.TokenFP
	if inj.InstanceHost != "" && !strings.EqualFold(inj.InstanceHost, host) {
		return nil, http.StatusForbidden, "request host is not the credential's instance host"
	}
	if inj.Header == "" {
		inj.Header = "Authorization"
	}
	return inj, 0, ""
}

func (s *Server) roundTrip(ctx context.Context, g *generation, dest *policy.Dest, ex *exchange, out *http.Request, body io.Reader, length int64) (*http.Response, error) {
	var remote string
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if ap, err := netip.ParseAddrPort(ci.Conn.RemoteAddr().String()); err == nil {
			remote = ap.Addr().String()
		}
	}}
	// A shallow copy is enough: only Body and ContentLength differ per try.
	req := out.WithContext(httptrace.WithClientTrace(ctx, trace))
	switch {
	case length == 0:
		req.Body, req.ContentLength = http.NoBody, 0
	default:
		rc, ok := body.(io.ReadCloser)
		if !ok {
			rc = io.NopCloser(body)
		}
		req.Body, req.ContentLength = rc, length
	}
	resp, err := g.up.transport(dest).RoundTrip(req)
	up := &audit.Upstream{IP: remote, CABundle: dest.CABundle, ClientCert: dest.ClientCert}
	ex.rec.Upstream = up
	if err != nil {
		return nil, err
	}
	if resp.TLS != nil {
		cs := resp.TLS
		up.TLSVersion = tlsVersionName(cs.Version)
		up.Cipher = cipherName(cs.CipherSuite)
		if len(cs.PeerCertificates) > 0 {
			up.CertSHA256, up.Issuer = s.certFacts(cs.PeerCertificates[0])
		}
	}
	return resp, nil
}

// upstreamFailure maps a transport error to a status and names the reason.
func (s *Server) upstreamFailure(ex *exchange, err error) (int, string) {
	var ue *UpstreamError
	if errors.As(err, &ue) {
		ex.rec.Upstream.Error = ue.Reason
		s.metrics.upstreamFailures.WithLabelValues(ue.Reason).Inc()
		s.log.Warn().Str("destination", ex.dest).Str("reason", ue.Reason).Err(ue.Err).Msg("upstream refused")
		if ue.Reason == ReasonSSRF {
			return http.StatusForbidden, "upstream address not allowed"
		}
		return http.StatusBadGateway, "upstream " + strings.ReplaceAll(ue.Reason, "_", " ")
	}
	// With TLS 1.3 the server judges our client certificate after the
	// handshake has completed on our side, so its alert arrives here.
	var ae tls.AlertError
	if errors.As(err, &ae) || strings.Contains(err.Error(), "remote error: tls:") {
		return s.upstreamFailure(ex, &UpstreamError{Reason: classifyTLS(err), Err: err})
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		ex.rec.Upstream.Error = "timeout"
		return http.StatusGatewayTimeout, "upstream timeout"
	}
	ex.rec.Upstream.Error = "transport"
	s.log.Warn().Str("destination", ex.dest).Err(err).Msg("upstream request failed")
	return http.StatusBadGateway, "upstream request failed"
}

// relay writes the audit record, then the upstream response. The record
// comes first: in fsync=always mode the client learns nothing until the
// record is durable.
func (s *Server) relay(ctx context.Context, bw *bufio.Writer, ex *exchange, pr *parsedRequest, resp *http.Response, body *limitedBody) bool {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The gateway never asks for an upgrade (Upgrade is hop-by-hop and
		// dropped), so a 101 is unsolicited: relaying it would leave the
		// client waiting on a protocol nobody speaks.
		if ex.rec.Upstream != nil {
			ex.rec.Upstream.Error = "unsolicited_upgrade"
		}
		return s.finishError(ctx, bw, ex, http.StatusBadGateway, "upstream switched protocols unasked (101)", true)
	}
	hasBody := bodyAllowed(pr.Method, resp.StatusCode)
	ex.rec.Response = &audit.Response{Status: resp.StatusCode, Bytes: resp.ContentLength}
	if !hasBody {
		ex.rec.Response.Bytes = 0
	}
	if !s.writeRecord(ctx, ex) {
		return s.writeError(bw, ex, http.StatusServiceUnavailable, "audit log unavailable", true)
	}
	h := resp.Header
	stripHopByHop(h)
	h.Del("Content-Length")
	h.Set(RequestIDHeader, ex.id)
	// The request body must be fully read before the connection can carry
	// another request; if the upstream stopped reading early, close.
	// If the transport still holds the body (the upstream answered before
	// reading it all), it cannot be drained here: close after this response.
	closeAfter := pr.Close || !body.released() || body.tooBig.Load() || body.failed.Load()
	if !closeAfter {
		if _, err := io.Copy(io.Discard, io.LimitReader(body, 64<<10)); err != nil {
			closeAfter = true
		} else if n, _ := body.Read(make([]byte, 1)); n > 0 {
			closeAfter = true
		}
	}
	chunked := false
	switch {
	case !hasBody:
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified && resp.ContentLength >= 0 {
			h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
	case resp.ContentLength >= 0:
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	case pr.HTTP10:
		// No chunked coding in HTTP/1.0: the body ends when the connection does.
		closeAfter = true
	default:
		chunked = true
		h.Set("Transfer-Encoding", "chunked")
	}
	if closeAfter {
		h.Set("Connection", "close")
	}
	if writeResponseHead(bw, resp.StatusCode, h) != nil {
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
	if bw.Flush() != nil {
		return false
	}
	s.metrics.observe(ex.dest, decisionLabel(ex.rec.Decision), s.now().Sub(ex.start))
	return !closeAfter
}

// finishError records a refused request and answers it. It reports whether
// the connection may continue.
func (s *Server) finishError(ctx context.Context, bw *bufio.Writer, ex *exchange, status int, reason string, closeConn bool) bool {
	switch d := ex.rec.Decision; {
	case d == nil:
		ex.rec.Decision = &audit.Decision{Allow: false, Mode: s.mode(), Reason: reason}
	case !d.Allow:
		d.Reason = reason
	case status == http.StatusForbidden || status == http.StatusProxyAuthRequired:
		// Policy allowed the request line but a later check refused it
		// (the credential's instance host, say): that is a deny.
		d.Allow, d.Reason = false, reason
	default:
		// Allowed by policy, failed later (upstream TLS, no credential,
		// limits): the decision stands and the failure is recorded beside it.
		if ex.rec.Detail == nil {
			ex.rec.Detail = map[string]string{}
		}
		ex.rec.Detail["error"] = reason
	}
	ex.rec.Response = &audit.Response{Status: status}
	if !s.writeRecord(ctx, ex) && status != http.StatusServiceUnavailable {
		status, reason = http.StatusServiceUnavailable, "audit log unavailable"
	}
	s.metrics.observe(ex.dest, decisionLabel(ex.rec.Decision), s.now().Sub(ex.start))
	return s.writeError(bw, ex, status, reason, closeConn)
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

// writeRecord writes the exchange's audit record; false means it is not durable.
func (s *Server) writeRecord(ctx context.Context, ex *exchange) bool {
	ex.rec.DurationMS = float64(s.now().Sub(ex.start).Microseconds()) / 1000
	if err := s.opt.Audit.Write(context.WithoutCancel(ctx), ex.rec); err != nil {
		s.metrics.auditFailures.Inc()
		s.log.Error().Err(err).Str("request_id", ex.id).Msg("audit record not written")
		return !s.opt.FailClosed
	}
	return true
}

type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id"`
	Reason    string `json:"reason"`
}

func (s *Server) writeError(bw *bufio.Writer, ex *exchange, status int, reason string, closeConn bool) bool {
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
	b, _ := json.Marshal(errorBody{Error: kind, RequestID: ex.id, Reason: reason})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set(RequestIDHeader, ex.id)
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
