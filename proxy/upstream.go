package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/policy"
)

// upstreamCipherSuites are the TLS 1.2 suites the gateway offers upstream
// and on intercepted tunnels: the same ECDHE+AEAD list as its listeners.
var upstreamCipherSuites = certs.ListenerCipherSuites()

// UpstreamError is why an upstream connection was refused. Reason is one of
// the stable names below; it goes into the audit record and the metrics.
type UpstreamError struct {
	Reason string
	Err    error
}

// Upstream refusal reasons.
const (
	ReasonExpired          = "expired"
	ReasonUnknownAuthority = "unknown_authority"
	ReasonNameMismatch     = "name_mismatch"
	ReasonVersion          = "version"
	ReasonPin              = "pin"
	ReasonClientCert       = "client_cert_rejected"
	ReasonInvalidCert      = "invalid_certificate"
	ReasonHandshake        = "handshake"
	ReasonSSRF             = "ssrf"
	ReasonDial             = "dial"
	ReasonResolve          = "resolve"
	ReasonNoClientCert     = "client_cert_unavailable"
)

func (e *UpstreamError) Error() string { return "upstream " + e.Reason + ": " + e.Err.Error() }
func (e *UpstreamError) Unwrap() error { return e.Err }

var errPinMismatch = errors.New("no certificate in the verified chain matches a pinned SPKI hash")

// classifyTLS names a handshake failure.
func classifyTLS(err error) string {
	var cie x509.CertificateInvalidError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var ae tls.AlertError
	switch {
	case errors.Is(err, errPinMismatch):
		return ReasonPin
	case errors.As(err, &cie):
		if cie.Reason == x509.Expired {
			return ReasonExpired
		}
		return ReasonInvalidCert
	case errors.As(err, &uae):
		return ReasonUnknownAuthority
	case errors.As(err, &he):
		return ReasonNameMismatch
	case errors.As(err, &ae):
		switch uint8(ae) {
		case 70: // protocol_version
			return ReasonVersion
		case 42, 43, 44, 45, 46, 48, 116: // bad/unsupported/revoked/expired/unknown cert, unknown_ca, certificate_required
			return ReasonClientCert
		}
		return ReasonHandshake
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unsupported protocol version"), strings.Contains(msg, "protocol version not supported"):
		return ReasonVersion
	case strings.Contains(msg, "certificate required"), strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return ReasonClientCert
	}
	return ReasonHandshake
}

// ClientCertSource hands out upstream client certificates by name.
type ClientCertSource interface {
	Get(name string) (*tls.Certificate, error)
}

// upstreams holds one http.Transport per compiled destination. It belongs to
// one policy generation: a reload builds a new set and closes the old one's
// idle connections, so no connection made under an old TLS policy is reused.
type upstreams struct {
	guard   *Guard
	certs   ClientCertSource
	timeout time.Duration

	mu     sync.Mutex
	tr     map[*policy.Dest]*http.Transport
	pools  map[*policy.Dest]*connPool // the direct exchange's (exchange.go)
	closed bool

	// The vetted IP of each live upstream connection, for the audit record.
	// Weak keys: an entry goes when its connection is collected.
	ipMu sync.RWMutex
	ips  map[weak.Pointer[tls.Conn]]string
}

func newUpstreams(g *Guard, certs ClientCertSource, timeout time.Duration) *upstreams {
	return &upstreams{guard: g, certs: certs, timeout: timeout, tr: make(map[*policy.Dest]*http.Transport),
		pools: make(map[*policy.Dest]*connPool), ips: make(map[weak.Pointer[tls.Conn]]string)}
}

// remember notes the IP a connection was dialled to.
func (u *upstreams) remember(tc *tls.Conn, ip string) {
	k := weak.Make(tc)
	u.ipMu.Lock()
	u.ips[k] = ip
	u.ipMu.Unlock()
	runtime.AddCleanup(tc, u.forget, k)
}

func (u *upstreams) forget(k weak.Pointer[tls.Conn]) {
	u.ipMu.Lock()
	delete(u.ips, k)
	u.ipMu.Unlock()
}

// ipOf returns the IP c was dialled to ("" when unknown).
func (u *upstreams) ipOf(c net.Conn) string {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ""
	}
	u.ipMu.RLock()
	ip := u.ips[weak.Make(tc)]
	u.ipMu.RUnlock()
	return ip
}

func (u *upstreams) transport(d *policy.Dest) *http.Transport {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.tr[d]; ok {
		return t
	}
	t := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return u.dialTLS(ctx, d, addr) },
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("plain upstream connections are not allowed")
		},
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: u.timeout,
		DisableCompression:    true, // pass the client's Accept-Encoding through untouched
		ForceAttemptHTTP2:     false,
	}
	u.tr[d] = t
	return t
}

func (u *upstreams) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, t := range u.tr {
		t.CloseIdleConnections()
	}
	for _, p := range u.pools {
		p.close()
	}
	u.closed = true
}

// dialTLS resolves through the SSRF guard, dials exactly the vetted address,
// and completes a TLS handshake under the destination's rules.
func (u *upstreams) dialTLS(ctx context.Context, d *policy.Dest, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &UpstreamError{Reason: ReasonDial, Err: err}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, &UpstreamError{Reason: ReasonDial, Err: err}
	}
	ap, err := u.guard.Resolve(ctx, host, port)
	if err != nil {
		if errors.Is(err, ErrSSRF) {
			return nil, &UpstreamError{Reason: ReasonSSRF, Err: err}
		}
		return nil, &UpstreamError{Reason: ReasonResolve, Err: err}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	raw, err := dialer.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, &UpstreamError{Reason: ReasonDial, Err: err}
	}
	cfg, err := u.tlsConfig(d, host)
	if err != nil {
		raw.Close()
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, &UpstreamError{Reason: classifyTLS(err), Err: err}
	}
	u.remember(tc, ap.Addr().String())
	return tc, nil
}

func (u *upstreams) tlsConfig(d *policy.Dest, host string) (*tls.Config, error) {
	min := d.MinTLS
	if min < tls.VersionTLS12 {
		min = tls.VersionTLS12
	}
	cfg := &tls.Config{
		MinVersion:   min,
		MaxVersion:   tls.VersionTLS13,
		CipherSuites: upstreamCipherSuites,
		ServerName:   host,
		NextProtos:   []string{"http/1.1"},
	}
	if !d.SystemRoots {
		if d.Roots == nil {
			// A destination without roots cannot be verified: fail closed.
			return nil, &UpstreamError{Reason: ReasonUnknownAuthority, Err: errors.New("destination has no CA bundle")}
		}
		cfg.RootCAs = d.Roots
	}
	if len(d.Pins) > 0 {
		pins := d.Pins
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			for _, chain := range cs.VerifiedChains {
				for _, c := range chain {
					sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
					for _, p := range pins {
						if p == sum {
							return nil
						}
					}
				}
			}
			return errPinMismatch
		}
	}
	if d.ClientCert != "" {
		if u.certs == nil {
			return nil, &UpstreamError{Reason: ReasonNoClientCert, Err: fmt.Errorf("client certificate %q is not configured", d.ClientCert)}
		}
		name := d.ClientCert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := u.certs.Get(name)
			if err != nil {
				return nil, fmt.Errorf("client certificate %q: %w", name, err)
			}
			return c, nil
		}
		if _, err := u.certs.Get(name); err != nil {
			return nil, &UpstreamError{Reason: ReasonNoClientCert, Err: err}
		}
	}
	return cfg, nil
}

// tlsVersionName is the audit spelling of a TLS version.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return tls.VersionName(v)
}
