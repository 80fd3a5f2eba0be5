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

// RoundTrip runs the gateway's own request through the pipeline a client's
// request takes (identify as the named client, authorize, credential,
// forward); monitor mode applies as it does to clients. A refusal is
// audited like a client's and returned as an error: ErrInternalDenied for a
// deny or a bad request, the failure's reason otherwise.
func (t *internalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	ctx := req.Context()
	fl := &flight{id: newID(), start: s.now(), internal: true}
	fl.rec = &audit.Record{
		Time:    fl.start.UTC(),
		ID:      fl.id,
		Kind:    t.kind,
		Client:  &audit.Client{Name: t.client, IP: "gateway", Identity: "internal"},
		Request: &audit.Request{Method: req.Method, Path: req.URL.EscapedPath()},
	}
	resp, ref := t.run(ctx, fl, req)
	if ref != nil {
		_, reason := s.finish(ctx, fl, ref)
		if ref.class == classFail {
			return nil, fmt.Errorf("token request to %s: %s", fl.host, reason)
		}
		return nil, fmt.Errorf("%w: %s", ErrInternalDenied, reason)
	}
	// relay: the record first, then the response to the caller.
	fl.rec.Response = &audit.Response{Status: resp.StatusCode, Bytes: resp.ContentLength}
	if !s.writeRecord(ctx, fl) {
		resp.Body.Close()
		return nil, errors.New("audit log unavailable")
	}
	s.metrics.observe(fl.dest, decisionLabel(fl.rec.Decision), s.now().Sub(fl.start))
	return resp, nil
}

// run takes the request through the stages. The request body is closed on
// every path, as a RoundTripper must.
func (t *internalTransport) run(ctx context.Context, fl *flight, req *http.Request) (*http.Response, *refusal) {
	s := t.s
	sent := false
	defer func() {
		if !sent && req.Body != nil {
			req.Body.Close()
		}
	}()
	if req.URL.Scheme != "https" {
		return nil, malformed(http.StatusBadRequest, "only https:// token endpoints are allowed")
	}
	host, port, err := policy.SplitHostPort(req.URL.Host, 443)
	if err != nil {
		return nil, malformed(http.StatusBadRequest, "invalid host")
	}
	fl.host, fl.port = host, port
	fl.rec.Request.Host, fl.rec.Request.Port = host, port
	if ref := s.identifyInternal(fl, t.client); ref != nil {
		return nil, ref
	}
	if ref := s.authorize(fl, &policy.Request{Client: fl.client, Method: req.Method, Host: host, Port: port, Path: req.URL.EscapedPath()}); ref != nil {
		return nil, ref
	}
	out := req.Clone(ctx)
	out.URL = &url.URL{Scheme: "https", Host: hostPort(host, port), Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	out.Host = hostPort(host, port)
	if ref := s.credential(ctx, fl, out); ref != nil {
		return nil, ref
	}
	var body = req.Body
	if body == nil {
		body = http.NoBody
	}
	sent = true // the transport closes it from here on
	resp, err := s.forward(ctx, nil, fl, out, body, req.ContentLength)
	if err != nil {
		return nil, s.upstreamRefusal(fl, err)
	}
	return resp, nil
}
