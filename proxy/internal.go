package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/policy"
)

// ErrInternalDenied is returned (wrapped) when policy refuses one of the
// gateway's own requests.
var ErrInternalDenied = errors.New("policy denies the gateway's own request")

// internalTransport sends the gateway's own requests (token requests from the
// credential broker) through the same decision, SSRF guard, upstream TLS
// rules and audit as a client's request, under a named policy client.
type internalTransport struct {
	s      *Server
	client string
	kind   string
}

// InternalTransport returns an http.RoundTripper for the gateway's own
// upstream calls. client names the policy client they act as (it needs a
// destination that lists it, like any client); kind is the audit record
// kind (audit.KindToken for the credential broker). Destinations that
// carry a credential are refused, so a token request can never recurse
// into credential injection.
func (s *Server) InternalTransport(client, kind string) http.RoundTripper {
	return &internalTransport{s: s, client: client, kind: kind}
}

func (t *internalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	ctx := req.Context()
	ex := &exchange{id: newID(), start: s.now()}
	ex.rec = &audit.Record{
		Time:    ex.start.UTC(),
		ID:      ex.id,
		Kind:    t.kind,
		Client:  &audit.Client{Name: t.client, IP: "gateway", Identity: "internal"},
		Request: &audit.Request{Method: req.Method, Path: req.URL.EscapedPath()},
	}
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	g := s.gen.Load()
	if g == nil {
		closeBody()
		return nil, errors.New("no policy loaded")
	}
	if req.URL.Scheme != "https" {
		closeBody()
		return nil, t.refuse(ctx, ex, "only https:// token endpoints are allowed", http.StatusBadRequest)
	}
	host, port, err := policy.SplitHostPort(req.URL.Host, 443)
	if err != nil {
		closeBody()
		return nil, t.refuse(ctx, ex, "invalid host", http.StatusBadRequest)
	}
	ex.rec.Request.Host, ex.rec.Request.Port = host, port
	id, ok := g.engine.ClientByName(t.client)
	if !ok {
		closeBody()
		return nil, t.refuse(ctx, ex, fmt.Sprintf("policy has no client %q for the gateway's own requests", t.client), http.StatusForbidden)
	}
	d := g.engine.Decide(&policy.Request{Client: id, Method: req.Method, Host: host, Port: port, Path: req.URL.EscapedPath()})
	s.recordDecision(ex, d)
	if !d.Allow || d.Dest == nil || d.WouldDeny {
		closeBody()
		reason := d.Reason
		if d.Allow {
			reason = "monitor mode does not apply to the gateway's own requests"
		}
		ex.rec.Decision.Allow = false
		return nil, t.refuse(ctx, ex, reason, http.StatusForbidden)
	}
	if d.Dest.Credential != "" {
		closeBody()
		ex.rec.Decision.Allow = false
		return nil, t.refuse(ctx, ex, "a token endpoint destination must not carry a credential", http.StatusForbidden)
	}
	if err := s.opt.Audit.Healthy(); err != nil && s.opt.FailClosed {
		closeBody()
		return nil, t.refuse(ctx, ex, "audit log unavailable", http.StatusServiceUnavailable)
	}
	out := req.Clone(ctx)
	out.URL = &url.URL{Scheme: "https", Host: hostPort(host, port), Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	out.Host = hostPort(host, port)
	var body = req.Body
	if body == nil {
		body = http.NoBody
	}
	resp, err := s.roundTrip(ctx, g, d.Dest, ex, out, body, req.ContentLength)
	if err != nil {
		status, reason := s.upstreamFailure(ex, err)
		ex.rec.Response = &audit.Response{Status: status}
		s.writeRecord(ctx, ex)
		return nil, fmt.Errorf("token request to %s: %s", host, reason)
	}
	ex.rec.Response = &audit.Response{Status: resp.StatusCode, Bytes: resp.ContentLength}
	if !s.writeRecord(ctx, ex) {
		resp.Body.Close()
		return nil, errors.New("audit log unavailable")
	}
	s.metrics.observe(ex.dest, decisionLabel(ex.rec.Decision), s.now().Sub(ex.start))
	return resp, nil
}

func (t *internalTransport) refuse(ctx context.Context, ex *exchange, reason string, status int) error {
	if ex.rec.Decision == nil {
		ex.rec.Decision = &audit.Decision{Allow: false, Mode: t.s.mode()}
	}
	ex.rec.Decision.Reason = reason
	ex.rec.Response = &audit.Response{Status: status}
	t.s.writeRecord(ctx, ex)
	t.s.metrics.observe(ex.dest, decisionLabel(ex.rec.Decision), t.s.now().Sub(ex.start))
	return fmt.Errorf("%w: %s", ErrInternalDenied, reason)
}
