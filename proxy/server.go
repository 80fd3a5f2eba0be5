package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/vault"
)

// AuditWriter is where the gateway writes its records. Write must return
// only when the record is durable per the writer's fsync policy, and must
// not keep r (or anything it points to) after it returns: a client
// connection reuses its record for its next request.
type AuditWriter interface {
	Write(ctx context.Context, r *audit.Record) error
	Healthy() error
}

// LeafMinter mints interception certificates for a host that policy allows.
type LeafMinter interface {
	Leaf(host string) (*tls.Certificate, error)
}

// Injector obtains credentials; the sync engine never holds them. The
// credential broker (*vault.Broker) is one; the Injection it returns is the
// one credential shape shared by vault and proxy.
type Injector interface {
	Authorize(ctx context.Context, credential, subject string) (*vault.Injection, error)
	Invalidate(credential, subject, tokenFP string)
}

// Limits bound what one client can make the gateway do.
type Limits struct {
	MaxHeaderBytes    int           // request head, default 32 KiB
	MaxBodyBytes      int64         // request body, default 32 MiB
	MaxEWSBodyBytes   int64         // SOAP envelope read for operation checks, default 1 MiB
	HeaderTimeout     time.Duration // to read a request head, default 10s
	IdleTimeout       time.Duration // between requests on a connection, default 90s
	RequestTimeout    time.Duration // whole request incl. body, default 5m
	UpstreamTimeout   time.Duration // upstream response headers, default 60s
	MaxConnsPerClient int           // concurrent connections per client (or source), default 256
	// HandshakesPerSecond caps client TLS handshakes per source address
	// (burst: twice as many), checked before any TLS work; default 50.
	HandshakesPerSecond float64
	// HandshakeAuditInterval is the interval over which repeated failed
	// handshakes from one source are summarised in one record; default 10s.
	HandshakeAuditInterval time.Duration
	// EWSItemIDs is how many EWS item ids the gateway remembers per EWS
	// destination (see policy.EWSItems); default 100,000.
	EWSItemIDs int
}

// withDefaults fills zero fields with safe defaults: the one place the
// gateway's limits get theirs (the serve config passes zeros through).
func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 32 << 10
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 32 << 20
	}
	if l.MaxEWSBodyBytes <= 0 {
		l.MaxEWSBodyBytes = 1 << 20
	}
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = 10 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 90 * time.Second
	}
	if l.RequestTimeout <= 0 {
		l.RequestTimeout = 5 * time.Minute
	}
	if l.UpstreamTimeout <= 0 {
		l.UpstreamTimeout = 60 * time.Second
	}
	if l.MaxConnsPerClient <= 0 {
		l.MaxConnsPerClient = 256
	}
	if l.HandshakesPerSecond <= 0 {
		l.HandshakesPerSecond = 50
	}
	if l.HandshakeAuditInterval <= 0 {
		l.HandshakeAuditInterval = 10 * time.Second
	}
	if l.EWSItemIDs <= 0 {
		l.EWSItemIDs = policy.DefaultEWSItemsPerDestination
	}
	return l
}

// Network is how the gateway reaches upstreams.
type Network struct {
	AllowRanges []netip.Prefix
	Hosts       map[string]netip.AddrPort
	Resolver    string
}

// Options configure a Server.
type Options struct {
	TLSConfig  *tls.Config // listener TLS (client auth inside); required for TLS listeners
	Intercept  LeafMinter  // required for CONNECT
	Audit      AuditWriter // required
	FailClosed bool        // refuse requests while the audit log cannot be written
	// Injector supplies credentials; nil (and no NewInjector): destinations
	// with a credential are refused (503).
	Injector Injector
	// NewInjector builds the Injector once the server exists, given the
	// server's transport for the gateway's own token requests (policy,
	// SSRF guard, upstream TLS rules and audit as for a client's request,
	// under the policy client TokenClient, audited as kind token). It is
	// how the credential broker gets the proxy's transport through its
	// constructor. Set Injector or NewInjector, not both.
	NewInjector func(tokens http.RoundTripper) (Injector, error)
	// TokenClient names the policy client of the token requests that
	// NewInjector's transport sends.
	TokenClient string
	ClientCerts ClientCertSource
	Network     Network
	Limits      Limits
	Logger      zerolog.Logger
	Registerer  prometheus.Registerer // nil: metrics are kept but not registered
	Now         func() time.Time
}

// generation is one policy with the upstream transports built for it.
type generation struct {
	engine *policy.Engine
	up     *upstreams
}

// Server is the gateway. Create it with New, give it a policy with
// SetPolicy, then Serve listeners.
type Server struct {
	opt     Options
	limits  Limits
	guard   *Guard
	log     zerolog.Logger
	metrics *metrics
	now     func() time.Time
	hs      *handshakeGuard
	// ewsItems outlives policy generations: a reload must not make the
	// sync engine's known item ids unusable.
	ewsItems *policy.EWSItems

	gen atomic.Pointer[generation]

	// factCache maps an upstream leaf to its audit facts (hash, issuer).
	factCache sync.Map
	factCount atomic.Int64
	// copyBufs are the relay's copy buffers, reused across requests.
	copyBufs sync.Pool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	per   map[string]int // open connections per client key
	wg    sync.WaitGroup
	inner sync.WaitGroup
}

// New builds a server.
func New(o Options) (*Server, error) {
	if o.Audit == nil {
		return nil, errors.New("proxy: an audit writer is required")
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		opt:    o,
		limits: o.Limits.withDefaults(),
		guard:  NewGuard(o.Network.AllowRanges, o.Network.Hosts, o.Network.Resolver),
		log:    o.Logger,
		now:    now,
		conns:  make(map[net.Conn]struct{}),
		per:    make(map[string]int),
	}
	s.copyBufs.New = func() any { b := make([]byte, 32<<10); return &b }
	s.ewsItems = policy.NewEWSItems(s.limits.EWSItemIDs)
	s.hs = newHandshakeGuard(s)
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if o.NewInjector != nil {
		if o.Injector != nil {
			return nil, errors.New("proxy: set Injector or NewInjector, not both")
		}
		inj, err := o.NewInjector(s.InternalTransport(o.TokenClient, audit.KindToken))
		if err != nil {
			return nil, err
		}
		s.opt.Injector = inj
	}
	return s, nil
}

// SetPolicy swaps in a compiled policy. Requests already past their decision
// finish under the old one; the old generation's idle upstream connections
// are closed so none made under an old TLS policy is reused.
func (s *Server) SetPolicy(e *policy.Engine) {
	old := s.gen.Swap(&generation{engine: e, up: newUpstreams(s.guard, s.opt.ClientCerts, s.limits.UpstreamTimeout)})
	if old != nil {
		old.up.closeIdle()
	}
}

// Policy returns the active policy engine, or nil.
func (s *Server) Policy() *policy.Engine {
	if g := s.gen.Load(); g != nil {
		return g.engine
	}
	return nil
}

// ListenPlain opens the plain HTTP listener, which must be on a loopback
// address: without TLS, the only identity is the source address, and only a
// loopback peer's source address is trustworthy.
func ListenPlain(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("plain_listen %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("plain_listen %q: plain HTTP is only allowed on a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("plain_listen: %w", err)
	}
	return ln, nil
}

// Serve accepts connections on ln until ctx ends. plain selects the loopback
// plain-HTTP mode; otherwise every connection must complete a TLS handshake
// with Options.TLSConfig first.
func (s *Server) Serve(ctx context.Context, ln net.Listener, plain bool) error {
	if plain {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().IsLoopback() {
			return fmt.Errorf("plain listener %s is not on a loopback address", ln.Addr())
		}
	} else if s.opt.TLSConfig == nil {
		return errors.New("TLS listener without a TLS configuration")
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.closeAll()
				s.wg.Wait()
				s.hs.flushAll() // no counted handshake failure is lost
				return nil
			}
			if temporaryAcceptError(err) {
				// Out of file descriptors under a connection flood, a
				// connection reset before it was accepted: wait and
				// retry, as net/http does. Anything else is fatal.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn().Err(err).Dur("retry_in", delay).Str("listener", ln.Addr().String()).Msg("accept failed; retrying")
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		delay = 0
		s.track(c, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			defer c.Close()
			s.handleConn(ctx, c, plain)
		}()
	}
}

// temporaryAcceptError reports whether an Accept error is one a listener
// recovers from: descriptor or buffer exhaustion, an aborted connection, a
// timeout.
func temporaryAcceptError(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EAGAIN, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return true
		}
		if t, ok := ne.(interface{ Temporary() bool }); ok && t.Temporary() {
			return true
		}
	}
	return false
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// peer is what is known about a client connection.
type peer struct {
	source  netip.Addr
	srcText string // source.String(), made once per connection
	plain   bool
	certs   []*x509.Certificate
	certFP  string
	pkey    policy.Peer
	limited string // key counted against MaxConnsPerClient

	// The identity under the last policy generation it was asked for. A
	// peer belongs to one connection, served by one goroutine (a tunnel's
	// requests run in the goroutine of the connection that opened it), so
	// the cache needs no lock; a reload makes a new generation and so a
	// fresh lookup.
	idGen *generation
	id    policy.ClientID
	idErr error
}

func newPeer(c net.Conn, plain bool, certs []*x509.Certificate) *peer {
	p := &peer{plain: plain, certs: certs}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		p.source = ap.Addr().Unmap()
	}
	p.srcText = p.source.String()
	p.pkey = policy.Peer{Source: p.source, Plain: plain}
	if len(certs) > 0 {
		leaf := certs[0]
		p.pkey.HasCert = true
		p.pkey.CN = leaf.Subject.CommonName
		p.pkey.DNSNames = leaf.DNSNames
		for _, u := range leaf.URIs {
			p.pkey.URIs = append(p.pkey.URIs, u.String())
		}
		p.certFP = sha256Hex(leaf.Raw)
	}
	return p
}

func (s *Server) handleConn(ctx context.Context, c net.Conn, plain bool) {
	var conn net.Conn = c
	var certs []*x509.Certificate
	if !plain {
		if src, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil && !s.hs.allow(src.Addr().Unmap()) {
			// Over the handshake rate: no TLS work, counted for the summary.
			s.metrics.clientHandshakeFailures.Inc()
			s.recordHandshakeFailure(ctx, c, reasonHandshakeRate)
			return
		}
		tc := tls.Server(c, s.opt.TLSConfig)
		_ = c.SetDeadline(s.now().Add(s.limits.HeaderTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			s.metrics.clientHandshakeFailures.Inc()
			s.log.Debug().Str("remote", c.RemoteAddr().String()).Err(err).Msg("client TLS handshake failed")
			s.auditHandshakeFailure(ctx, c, err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		conn = tc
		certs = tc.ConnectionState().PeerCertificates
	}
	p := newPeer(c, plain, certs)
	key := "source:" + p.srcText
	if g := s.gen.Load(); g != nil {
		if id, err := g.engine.Identify(&p.pkey); err == nil {
			key = "client:" + id.Name
		}
	}
	if !s.acquire(key) {
		s.refuseConn(ctx, conn, p)
		return
	}
	defer s.release(key)
	s.serveHTTP(ctx, conn, p, nil)
}

func (s *Server) acquire(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.per[key] >= s.limits.MaxConnsPerClient {
		return false
	}
	s.per[key]++
	return true
}

func (s *Server) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.per[key]--; s.per[key] <= 0 {
		delete(s.per, key)
	}
}

// refuseConn answers the first request on a connection over the
// per-client limit with 429 and closes it.
func (s *Server) refuseConn(ctx context.Context, conn net.Conn, p *peer) {
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	_ = conn.SetReadDeadline(s.now().Add(s.limits.HeaderTimeout))
	if _, err := readHead(br, s.limits.MaxHeaderBytes); err != nil {
		return
	}
	fl := s.newFlight(p, nil)
	fl.rec.Decision = &audit.Decision{Allow: false, Mode: "enforce", Reason: "too many connections for this client"}
	s.finishError(ctx, bw, fl, deny(http.StatusTooManyRequests, "too many connections for this client"))
}

// bufConn lets a TLS server read bytes a client pipelined after CONNECT.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// auditHandshakeFailure records a refused client handshake: a client that
// could not prove who it is made no request, but a security team wants to
// see the attempt (no certificate, expired, another CA's, revoked).
func (s *Server) auditHandshakeFailure(ctx context.Context, c net.Conn, err error) {
	if errors.Is(err, io.EOF) {
		return // a port probe that hung up; nothing was attempted
	}
	s.recordHandshakeFailure(ctx, c, clientHandshakeReason(err))
}

// recordHandshakeFailure writes the failure's own record, or counts it for
// its source's summary (see handshakeGuard).
func (s *Server) recordHandshakeFailure(ctx context.Context, c net.Conn, reason string) {
	p := newPeer(c, false, nil)
	if !s.hs.failed(p.source, reason) {
		return // counted; written in the interval's summary record
	}
	fl := s.newFlight(p, nil)
	fl.rec.Decision = &audit.Decision{Allow: false, Mode: s.mode(), Reason: reason}
	fl.rec.Response = &audit.Response{Status: 0}
	s.writeRecord(ctx, fl)
}

func clientHandshakeReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "didn't provide a certificate"), strings.Contains(msg, "certificate required"):
		return "client TLS handshake failed: no client certificate"
	case strings.Contains(msg, "expired"):
		return "client TLS handshake failed: client certificate expired or not yet valid"
	case strings.Contains(msg, "unknown authority"):
		return "client TLS handshake failed: client certificate from an unknown authority"
	case strings.Contains(msg, "revoked"):
		return "client TLS handshake failed: client certificate revoked"
	case strings.Contains(msg, "protocol version"), strings.Contains(msg, "unsupported versions"):
		return "client TLS handshake failed: protocol version"
	case strings.Contains(msg, "cipher"):
		return "client TLS handshake failed: no shared cipher suite"
	}
	return "client TLS handshake failed"
}
