package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strings"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/policy"
)

// The request pipeline. A client's request (handleRequest) and the
// gateway's own (internalTransport.RoundTrip) run the same stages, methods
// on Server over one flight:
//
//	identify ─▶ authorize ─▶ credential ─▶ forward ─▶ relay
//
// identify names the policy client (and loads the policy generation);
// authorize asks policy (monitor mode included) and checks that the audit
// log can take the record; credential obtains and sets the destination's
// credential; forward makes the upstream round trip under the SSRF guard
// and the destination's TLS rules. A stage that stops the request returns a
// *refusal; finish turns a refusal into the flight's one audit record, and
// the entry point turns it into its answer (an HTTP error response for a
// client, an error for the gateway's own caller), as
// httputil.ReverseProxy's ErrorHandler does. relay writes the record of a
// request that went through, then hands the response on.

// refusalClass says what kind of refusal a stage made. It decides the audit
// record: the HTTP status never does.
type refusalClass uint8

const (
	// classDeny: policy, or a check that stands for it (the SSRF guard,
	// a credential's instance host, EWS inspection, connection limits),
	// refused the request. An allowing decision is turned into a deny.
	classDeny refusalClass = iota + 1
	// classFail: the request was allowed but could not be carried out (no
	// credential, the upstream failed, the audit log is unavailable). The
	// decision stands; the failure is recorded beside it as detail.error.
	classFail
	// classBadRequest: the client's request is malformed or too large.
	// Like a failure it leaves an allowing decision standing.
	classBadRequest
)

// refusal is a stage's verdict that the request stops here.
type refusal struct {
	status int    // answered to a client; 0: the client is gone, answer nothing
	reason string // safe to show the client and to audit
	class  refusalClass
	close  bool // close the client connection after the answer
}

func (r *refusal) Error() string { return r.reason }

func deny(status int, reason string) *refusal {
	return &refusal{status: status, reason: reason, class: classDeny, close: true}
}

func fail(status int, reason string) *refusal {
	return &refusal{status: status, reason: reason, class: classFail, close: true}
}

func malformed(status int, reason string) *refusal {
	return &refusal{status: status, reason: reason, class: classBadRequest, close: true}
}

// closeIf sets whether the client connection is closed after the answer.
func (r *refusal) closeIf(c bool) *refusal {
	r.close = c
	return r
}

// identify identifies a client connection's peer under the current policy
// and fills the audit record.
func (s *Server) identify(fl *flight, p *peer) *refusal {
	g := s.gen.Load()
	if g == nil {
		return fail(http.StatusServiceUnavailable, "no policy loaded")
	}
	fl.g = g
	if p.idGen != g {
		p.id, p.idErr = g.engine.Identify(&p.pkey)
		p.idGen = g
	}
	id, err := p.id, p.idErr
	if err == nil || errors.Is(err, policy.ErrSourceDenied) {
		fl.rec.Client.Name = id.Name
		fl.rec.Client.Identity = id.Identity
	}
	switch {
	case err == nil:
		fl.client = id
		return nil
	case errors.Is(err, policy.ErrSourceDenied):
		return deny(http.StatusForbidden, "source address not allowed for client")
	case errors.Is(err, policy.ErrUnidentified):
		return deny(http.StatusProxyAuthRequired, "client not identified")
	}
	return fail(http.StatusServiceUnavailable, "no policy loaded")
}

// identifyInternal identifies the gateway's own request as the named
// policy client.
func (s *Server) identifyInternal(fl *flight, client string) *refusal {
	g := s.gen.Load()
	if g == nil {
		return fail(http.StatusServiceUnavailable, "no policy loaded")
	}
	fl.g = g
	id, ok := g.engine.ClientByName(client)
	if !ok {
		return deny(http.StatusForbidden, "policy has no client \""+client+"\" for the gateway's own requests")
	}
	fl.client = id
	return nil
}

// authorize decides the request under policy and records the decision. In
// monitor mode a request policy would deny goes on, recorded as would_deny,
// for a client and for the gateway alike; a request with no destination
// cannot go on in any mode. Before anything leaves, the audit log must be
// writable (fail closed).
func (s *Server) authorize(fl *flight, r *policy.Request) *refusal {
	d := fl.g.engine.Decide(r)
	s.recordDecision(fl, d)
	if !d.Allow || d.Dest == nil {
		reason := d.Reason
		if d.Allow {
			reason = "monitor mode cannot forward to a host without a destination"
		}
		return deny(http.StatusForbidden, reason)
	}
	fl.route = d.Dest
	if err := s.opt.Audit.Healthy(); err != nil && s.opt.FailClosed {
		return fail(http.StatusServiceUnavailable, "audit log unavailable")
	}
	return nil
}

// credential puts the destination's credential on out. Client-sent
// credentials are dropped first. The gateway's own requests never carry
// one: a token request must not recurse into credential injection.
func (s *Server) credential(ctx context.Context, fl *flight, out *http.Request) *refusal {
	dest := fl.route
	if dest.Credential == "" {
		return nil
	}
	if fl.internal {
		return deny(http.StatusForbidden, "a token endpoint destination must not carry a credential")
	}
	out.Header.Del("Authorization")
	out.Header.Del("Cookie")
	fl.rec.Credential = &audit.Credential{Name: dest.Credential}
	if s.opt.Injector == nil {
		return fail(http.StatusServiceUnavailable, "no credential source is configured")
	}
	inj, err := s.opt.Injector.Authorize(ctx, dest.Credential, fl.subject)
	if err != nil {
		s.log.Warn().Str("credential", dest.Credential).Err(err).Msg("no credential")
		return fail(http.StatusServiceUnavailable, "credential unavailable: "+err.Error())
	}
	fl.rec.Credential.TokenFP = inj.TokenFP
	if inj.InstanceHost != "" && !strings.EqualFold(inj.InstanceHost, fl.host) {
		return deny(http.StatusForbidden, "request host is not the credential's instance host")
	}
	header := inj.Header
	if header == "" {
		header = "Authorization"
	}
	out.Header.Set(header, inj.Value)
	fl.inj = inj
	return nil
}

// retryCredential handles an upstream 401 to an injected credential: the
// token is reported and a fresh one set. It reports whether to try again.
func (s *Server) retryCredential(ctx context.Context, fl *flight, out *http.Request) (bool, *refusal) {
	if fl.inj == nil {
		return false, nil
	}
	s.opt.Injector.Invalidate(fl.route.Credential, fl.subject, fl.inj.TokenFP)
	fl.inj = nil
	if ref := s.credential(ctx, fl, out); ref != nil {
		return false, ref
	}
	return true, nil
}

// forward sends out upstream with the given body (length -1: chunked) and
// records what the upstream connection was. A client's request takes the
// direct exchange (exchange.go); the gateway's own requests (cs nil) take
// net/http's Transport.
func (s *Server) forward(ctx context.Context, cs *connState, fl *flight, out *http.Request, body io.Reader, length int64) (*http.Response, error) {
	dest := fl.route
	fl.remote = ""
	if cs != nil {
		resp, c, err := s.forwardDirect(ctx, cs, fl, out, body, length)
		if c != nil {
			fl.remote = c.ip
		}
		return s.upstreamFacts(fl, resp, err)
	}
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if ap, err := netip.ParseAddrPort(ci.Conn.RemoteAddr().String()); err == nil {
			fl.remote = ap.Addr().String()
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
	resp, err := fl.g.up.transport(dest).RoundTrip(req)
	return s.upstreamFacts(fl, resp, err)
}

// upstreamFacts records what the upstream connection of a round trip was.
func (s *Server) upstreamFacts(fl *flight, resp *http.Response, err error) (*http.Response, error) {
	dest := fl.route
	up := fl.upstream(audit.Upstream{IP: fl.remote, CABundle: dest.CABundle, ClientCert: dest.ClientCert})
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

// upstreamRefusal maps a transport error to a refusal and records the
// upstream's part in it. The SSRF guard's refusal is a deny; every other
// upstream failure is a failure.
func (s *Server) upstreamRefusal(fl *flight, err error) *refusal {
	var ue *UpstreamError
	if errors.As(err, &ue) {
		fl.rec.Upstream.Error = ue.Reason
		s.metrics.upstreamFailures.WithLabelValues(ue.Reason).Inc()
		s.log.Warn().Str("destination", fl.dest).Str("reason", ue.Reason).Err(ue.Err).Msg("upstream refused")
		if ue.Reason == ReasonSSRF {
			return deny(http.StatusForbidden, "upstream address not allowed")
		}
		return fail(http.StatusBadGateway, "upstream "+strings.ReplaceAll(ue.Reason, "_", " "))
	}
	// With TLS 1.3 the server judges our client certificate after the
	// handshake has completed on our side, so its alert arrives here.
	var ae tls.AlertError
	if errors.As(err, &ae) || strings.Contains(err.Error(), "remote error: tls:") {
		return s.upstreamRefusal(fl, &UpstreamError{Reason: classifyTLS(err), Err: err})
	}
	if errors.Is(err, errClosedUnanswered) {
		// A reused connection closed under a request that may not be sent
		// twice (the upstream may have acted on it): not retried.
		fl.rec.Upstream.Error = "closed_unanswered"
		s.metrics.upstreamFailures.WithLabelValues("closed_unanswered").Inc()
		s.log.Warn().Str("destination", fl.dest).Err(err).Msg("upstream closed the connection; request not retried")
		return fail(http.StatusBadGateway, "upstream closed the connection before answering; not retried")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		fl.rec.Upstream.Error = "timeout"
		return fail(http.StatusGatewayTimeout, "upstream timeout")
	}
	fl.rec.Upstream.Error = "transport"
	s.log.Warn().Str("destination", fl.dest).Err(err).Msg("upstream request failed")
	return fail(http.StatusBadGateway, "upstream request failed")
}

// finish turns a refusal into the flight's one audit record and returns the
// status and reason to answer with: the refusal's own, or 503 when the
// record could not be made durable and the gateway fails closed.
func (s *Server) finish(ctx context.Context, fl *flight, ref *refusal) (int, string) {
	status, reason := ref.status, ref.reason
	switch d := fl.rec.Decision; {
	case d == nil:
		fl.decision(audit.Decision{Allow: false, Mode: s.mode(), Reason: reason})
	case !d.Allow:
		d.Reason = reason
	case ref.class == classDeny:
		// Policy allowed the request line but a later check refused it
		// (the credential's instance host, say): that is a deny.
		d.Allow, d.Reason = false, reason
	default:
		// Allowed by policy, failed later (upstream TLS, no credential,
		// limits): the decision stands and the failure is recorded beside it.
		if fl.rec.Detail == nil {
			fl.rec.Detail = map[string]string{}
		}
		fl.rec.Detail["error"] = reason
	}
	fl.response(status, 0)
	if !s.writeRecord(ctx, fl) && status != http.StatusServiceUnavailable && status != 0 {
		status, reason = http.StatusServiceUnavailable, "audit log unavailable"
	}
	s.metrics.observe(fl.dest, decisionLabel(fl.rec.Decision), s.now().Sub(fl.start))
	s.metrics.refused(fl.dest, ref.class.String(), ref.reason)
	return status, reason
}

func (c refusalClass) String() string {
	switch c {
	case classDeny:
		return "deny"
	case classFail:
		return "fail"
	case classBadRequest:
		return "bad_request"
	}
	return "unknown"
}

// recordDecision puts a policy decision in the flight's record.
func (s *Server) recordDecision(fl *flight, d policy.Decision) {
	ad := fl.decision(audit.Decision{Allow: d.Allow, Mode: d.Mode, Rule: d.Rule, Reason: d.Reason, WouldDeny: d.WouldDeny})
	if d.Dest != nil {
		ad.Destination = d.Dest.Name
		fl.dest = d.Dest.Name
	}
}
