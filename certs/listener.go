package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
	"github.com/rs/zerolog"
	"go.uber.org/zap"

	"github.com/syncgate/syncgate/internal/keyfile"
)

// ListenerConfig is the serve config's `tls:` section. Exactly one source
// is set: cert_file + key_file, acme, or internal. Paths are relative to
// the config file's directory (baseDir).
type ListenerConfig struct {
	CertFile string          `yaml:"cert_file"`
	KeyFile  string          `yaml:"key_file"`
	ClientCA []string        `yaml:"client_ca"`
	CRLFiles []string        `yaml:"crl_files"`
	ACME     *ACMEConfig     `yaml:"acme"`
	Internal *InternalConfig `yaml:"internal"`
	// StorageDir is certmagic's storage for acme and internal (default
	// <baseDir>/certmagic). Point replicas at one shared directory.
	StorageDir string `yaml:"storage_dir"`
}

// ACMEConfig obtains the listener certificate from an ACME CA.
type ACMEConfig struct {
	Directory string   `yaml:"directory"` // ACME directory URL
	Names     []string `yaml:"names"`     // DNS names or IPs
	Email     string   `yaml:"email"`
	// TrustedRoots are PEM bundles trusted for the directory's own TLS
	// (an internal step-ca, Pebble); empty means the system roots.
	TrustedRoots []string `yaml:"trusted_roots"`
	// Challenges enabled: "http-01", "tls-alpn-01" (default both).
	Challenges  []string `yaml:"challenges"`
	ListenHost  string   `yaml:"listen_host"`   // where challenge servers bind
	HTTPPort    int      `yaml:"http_port"`     // default 80
	TLSALPNPort int      `yaml:"tls_alpn_port"` // default 443
	EAB         *EAB     `yaml:"eab"`
	// RenewalWindowRatio is the share of the lifetime left at which to
	// renew (default 1/3).
	RenewalWindowRatio float64 `yaml:"renewal_window_ratio"`
}

// EAB is an ACME external account binding. The MAC key is a secret: it is
// read from MACKeyFile or set by the caller from the secret store, and it is
// never logged or put in an error.
type EAB struct {
	KeyID      string `yaml:"key_id"`
	MACKeyFile string `yaml:"mac_key_file"`
	MACKey     string `yaml:"-"` // base64url, as the CA hands it out
}

// InternalConfig issues the listener certificate from syncgate's internal
// CA (`syncgate certs init` writes one), renewed automatically.
type InternalConfig struct {
	CACert             string        `yaml:"ca_cert"`
	CAKey              string        `yaml:"ca_key"`
	Names              []string      `yaml:"names"`
	Lifetime           time.Duration `yaml:"lifetime"` // default 7 days
	RenewalWindowRatio float64       `yaml:"renewal_window_ratio"`
}

// Option adjusts a Listener.
type Option func(*listenerOptions)

type listenerOptions struct {
	onReloadError func(what string, err error)
	onEvent       func(event string, data map[string]any)
	storage       certmagic.Storage
	renewCheck    time.Duration
	now           func() time.Time
	nextProtos    []string
}

// WithOnReloadError sets the callback for a reload that failed (the old
// certificate or CA stays in use). what names the part: "listener",
// "client_ca", "certmagic".
func WithOnReloadError(f func(what string, err error)) Option {
	return func(o *listenerOptions) { o.onReloadError = f }
}

// WithEvents receives certmagic's events (cert_obtained, cert_failed, ...)
// for audit records and metrics. It must return quickly.
func WithEvents(f func(event string, data map[string]any)) Option {
	return func(o *listenerOptions) { o.onEvent = f }
}

// WithStorage replaces certmagic's file storage (e.g. with a Vault one).
func WithStorage(s certmagic.Storage) Option { return func(o *listenerOptions) { o.storage = s } }

// WithRenewCheckInterval sets how often certmagic looks for certificates due
// for renewal (default certmagic's 10 minutes).
func WithRenewCheckInterval(d time.Duration) Option {
	return func(o *listenerOptions) { o.renewCheck = d }
}

// WithClock sets the clock used for client certificate and CRL checks.
func WithClock(now func() time.Time) Option { return func(o *listenerOptions) { o.now = now } }

// WithNextProtos sets the ALPN protocols offered (default http/1.1).
func WithNextProtos(p ...string) Option {
	return func(o *listenerOptions) { o.nextProtos = append([]string(nil), p...) }
}

// Listener serves the gateway's listener certificate and checks its clients.
type Listener struct {
	cfg     ListenerConfig
	baseDir string
	log     zerolog.Logger
	o       listenerOptions

	certFile, keyFile string
	caFiles, crlFiles []string

	cert   atomic.Pointer[fileCert]    // file mode
	trust  atomic.Pointer[clientTrust] // nil without client CAs
	server atomic.Pointer[tls.Config]  // the per-handshake config

	magic   *certmagic.Config // acme and internal modes
	cache   *certmagic.Cache
	acme    *certmagic.ACMEIssuer
	names   []string
	acmeTLS *tls.Config

	mu       sync.Mutex // serialises reloads
	badCert  [32]byte
	badTrust [32]byte
}

type fileCert struct {
	cert *tls.Certificate
	hash [32]byte
}

// NewListener loads or obtains the listener certificate. For acme it blocks
// until a certificate is in storage (obtaining one if needed), so ctx should
// carry a deadline. Close releases certmagic's background maintenance.
func NewListener(ctx context.Context, cfg ListenerConfig, baseDir string, log zerolog.Logger, opts ...Option) (*Listener, error) {
	l := &Listener{cfg: cfg, baseDir: baseDir, log: log}
	for _, o := range opts {
		o(&l.o)
	}
	if l.o.now == nil {
		l.o.now = time.Now
	}
	if len(l.o.nextProtos) == 0 {
		l.o.nextProtos = []string{"http/1.1"}
	}
	sources := 0
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		sources++
	}
	if cfg.ACME != nil {
		sources++
	}
	if cfg.Internal != nil {
		sources++
	}
	if sources != 1 {
		return nil, errors.New("tls: set exactly one of cert_file+key_file, acme, internal")
	}
	for _, f := range cfg.ClientCA {
		l.caFiles = append(l.caFiles, resolve(baseDir, f))
	}
	for _, f := range cfg.CRLFiles {
		l.crlFiles = append(l.crlFiles, resolve(baseDir, f))
	}
	if len(l.crlFiles) > 0 && len(l.caFiles) == 0 {
		return nil, errors.New("tls: crl_files needs client_ca")
	}
	if len(l.caFiles) > 0 {
		t, err := loadClientTrust(l.caFiles, l.crlFiles)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		l.trust.Store(t)
	}
	switch {
	case cfg.ACME != nil || cfg.Internal != nil:
		if err := l.startManaged(ctx); err != nil {
			return nil, err
		}
	default:
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("tls: cert_file and key_file go together")
		}
		l.certFile, l.keyFile = resolve(baseDir, cfg.CertFile), resolve(baseDir, cfg.KeyFile)
		fc, err := l.loadFileCert()
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		l.cert.Store(fc)
	}
	l.rebuildServerConfig()
	return l, nil
}

func (l *Listener) loadFileCert() (*fileCert, error) {
	h, err := hashFiles(l.certFile, l.keyFile)
	if err != nil {
		return nil, err
	}
	c, err := loadKeyPair(l.certFile, l.keyFile, l.o.now())
	if err != nil {
		return nil, err
	}
	stapleOCSP(c, l.log)
	return &fileCert{cert: c, hash: h}, nil
}

func (l *Listener) startManaged(ctx context.Context) error {
	zl := NewZapLogger(l.log.With().Str("library", "certmagic").Logger())
	storage := l.o.storage
	if storage == nil {
		dir := resolve(l.baseDir, l.cfg.StorageDir)
		if dir == "" {
			dir = resolve(l.baseDir, "certmagic")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("tls: certmagic storage: %w", err)
		}
		storage = &certmagic.FileStorage{Path: dir}
	}
	var magic *certmagic.Config
	l.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		RenewCheckInterval: l.o.renewCheck,
		OCSPCheckInterval:  l.o.renewCheck,
		Logger:             zl,
	})
	mc := certmagic.Config{Storage: storage, Logger: zl}
	if l.o.onEvent != nil {
		f := l.o.onEvent
		mc.OnEvent = func(_ context.Context, ev string, data map[string]any) error { f(ev, data); return nil }
	}
	var issuer certmagic.Issuer
	switch {
	case l.cfg.ACME != nil:
		a := l.cfg.ACME
		l.names = a.Names
		mc.RenewalWindowRatio = a.RenewalWindowRatio
		magic = certmagic.New(l.cache, mc)
		iss, err := newACMEIssuer(magic, a, l.baseDir, zl)
		if err != nil {
			l.cache.Stop()
			return err
		}
		l.acme = iss
		issuer = iss
		l.acmeTLS = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: magic.GetCertificate,
			NextProtos:     []string{acmez.ACMETLS1Protocol},
		}
	default:
		in := l.cfg.Internal
		l.names = in.Names
		mc.RenewalWindowRatio = in.RenewalWindowRatio
		ca, key, err := loadCA(resolve(l.baseDir, in.CACert), resolve(l.baseDir, in.CAKey))
		if err != nil {
			l.cache.Stop()
			return fmt.Errorf("tls.internal: %w", err)
		}
		life := in.Lifetime
		if life <= 0 {
			life = DefaultInternalLifetime
		}
		magic = certmagic.New(l.cache, mc)
		issuer = &internalIssuer{ca: ca, key: key, lifetime: life, now: time.Now}
	}
	if len(l.names) == 0 {
		l.cache.Stop()
		return errors.New("tls: names are required for acme and internal")
	}
	magic.Issuers = []certmagic.Issuer{issuer}
	magic.DefaultServerName = l.names[0]
	magic.FallbackServerName = l.names[0]
	l.magic = magic
	if err := magic.ManageSync(ctx, l.names); err != nil {
		l.cache.Stop()
		return fmt.Errorf("tls: obtain listener certificate for %v: %w", l.names, err)
	}
	return nil
}

func newACMEIssuer(magic *certmagic.Config, a *ACMEConfig, baseDir string, zl *zap.Logger) (*certmagic.ACMEIssuer, error) {
	if a.Directory == "" {
		return nil, errors.New("tls.acme: directory is required")
	}
	tmpl := certmagic.ACMEIssuer{
		CA:             a.Directory,
		Email:          a.Email,
		Agreed:         true, // configuring an ACME CA is the operator's agreement to its terms
		ListenHost:     a.ListenHost,
		AltHTTPPort:    a.HTTPPort,
		AltTLSALPNPort: a.TLSALPNPort,
		Logger:         zl,
	}
	if len(a.Challenges) > 0 {
		tmpl.DisableHTTPChallenge = !slices.Contains(a.Challenges, "http-01")
		tmpl.DisableTLSALPNChallenge = !slices.Contains(a.Challenges, "tls-alpn-01")
		for _, c := range a.Challenges {
			if c != "http-01" && c != "tls-alpn-01" {
				return nil, fmt.Errorf("tls.acme: unknown challenge %q (http-01, tls-alpn-01)", c)
			}
		}
	}
	if len(a.TrustedRoots) > 0 {
		pool := x509.NewCertPool()
		for _, f := range a.TrustedRoots {
			cs, err := readCertsFile(resolve(baseDir, f))
			if err != nil {
				return nil, fmt.Errorf("tls.acme.trusted_roots: %w", err)
			}
			for _, c := range cs {
				pool.AddCert(c)
			}
		}
		tmpl.TrustedRoots = pool
	}
	if a.EAB != nil {
		mac := a.EAB.MACKey
		if mac == "" && a.EAB.MACKeyFile != "" {
			if err := keyfile.CheckPrivate(resolve(baseDir, a.EAB.MACKeyFile), "ACME EAB MAC key"); err != nil {
				return nil, fmt.Errorf("tls.acme.eab: %w", err)
			}
			b, err := os.ReadFile(resolve(baseDir, a.EAB.MACKeyFile))
			if err != nil {
				return nil, fmt.Errorf("tls.acme.eab: %w", err)
			}
			mac = strings.TrimSpace(string(b))
		}
		if a.EAB.KeyID == "" || mac == "" {
			return nil, errors.New("tls.acme.eab: key_id and a MAC key (mac_key_file) are required")
		}
		tmpl.ExternalAccount = &acme.EAB{KeyID: a.EAB.KeyID, MACKey: mac}
	}
	iss := certmagic.NewACMEIssuer(magic, tmpl)
	return iss, nil
}

// TLSConfig is the listener's server configuration: TLS 1.2 minimum,
// ECDHE+AEAD suites only for TLS 1.2, the current certificate at every
// handshake and, with client CAs, a verified client certificate (current CA
// pool and CRLs, checked on resumed sessions too). Use it as is; to change
// ALPN use WithNextProtos, since handshakes are answered from a snapshot.
func (l *Listener) TLSConfig() *tls.Config {
	c := l.baseConfig()
	c.GetConfigForClient = l.getConfigForClient
	return c
}

func (l *Listener) baseConfig() *tls.Config {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   ListenerCipherSuites(),
		NextProtos:     append([]string(nil), l.o.nextProtos...),
		GetCertificate: l.getCertificate,
	}
	if t := l.trust.Load(); t != nil {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = t.pool
		c.VerifyConnection = l.verifyConnection
	}
	return c
}

func (l *Listener) rebuildServerConfig() { l.server.Store(l.baseConfig()) }

func (l *Listener) getConfigForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if l.acmeTLS != nil && slices.Contains(hello.SupportedProtos, acmez.ACMETLS1Protocol) {
		// A TLS-ALPN-01 validation: the CA presents no client certificate.
		return l.acmeTLS, nil
	}
	return l.server.Load(), nil
}

func (l *Listener) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if l.magic != nil {
		return l.magic.GetCertificate(hello)
	}
	return l.cert.Load().cert, nil
}

func (l *Listener) verifyConnection(cs tls.ConnectionState) error {
	t := l.trust.Load()
	if t == nil {
		return nil
	}
	return t.check(cs.PeerCertificates, l.o.now())
}

// Reload re-reads the certificate files (file mode), client CA bundles and
// CRLs. Each part that fails keeps its old value, is reported through the
// OnReloadError callback, and is returned (joined).
func (l *Listener) Reload() error { return l.reload(true) }

// Watch polls the files every interval and reloads what changed, until ctx
// ends. A file that fails is reported once per change, not on every poll.
func (l *Listener) Watch(ctx context.Context, every time.Duration) {
	poll(ctx, every, func() { _ = l.reload(false) })
}

func (l *Listener) reload(force bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.certFile != "" {
		h, _ := hashFiles(l.certFile, l.keyFile) // zero when unreadable; the load reports why
		if h != l.cert.Load().hash && (force || h != l.badCert) {
			fc, err := l.loadFileCert()
			if err != nil {
				l.badCert = h
				errs = append(errs, l.report("listener", fmt.Errorf("listener certificate reload (keeping the old one): %w", err)))
			} else {
				l.cert.Store(fc)
				l.log.Info().Str("serial", fc.cert.Leaf.SerialNumber.Text(16)).Time("not_after", fc.cert.Leaf.NotAfter).Msg("listener certificate reloaded")
			}
		}
	}
	if len(l.caFiles) > 0 {
		h, _ := hashFiles(append(append([]string{}, l.caFiles...), l.crlFiles...)...)
		if h != l.trust.Load().hash && (force || h != l.badTrust) {
			t, err := loadClientTrust(l.caFiles, l.crlFiles)
			if err != nil {
				l.badTrust = h
				errs = append(errs, l.report("client_ca", fmt.Errorf("client CA reload (keeping the old bundle): %w", err)))
			} else {
				l.trust.Store(t)
				l.rebuildServerConfig()
				l.log.Info().Int("cas", len(t.cas)).Int("crls", len(t.crls)).Msg("client CA bundle reloaded")
			}
		}
	}
	return errors.Join(errs...)
}

func (l *Listener) report(what string, err error) error {
	if l.o.onReloadError != nil {
		l.o.onReloadError(what, err)
	}
	return err
}

// HTTPChallengeHandler answers ACME HTTP-01 challenges in front of next, for
// when the gateway's own HTTP server holds the challenge port.
func (l *Listener) HTTPChallengeHandler(next http.Handler) http.Handler {
	if l.acme == nil {
		return next
	}
	return l.acme.HTTPChallengeHandler(next)
}

// Certificate returns the certificate served for name ("" for the default).
func (l *Listener) Certificate(name string) (*x509.Certificate, error) {
	if l.magic == nil {
		return l.cert.Load().cert.Leaf, nil
	}
	if name == "" {
		name = l.names[0]
	}
	c, err := l.magic.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil {
		return nil, err
	}
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	return x509.ParseCertificate(c.Certificate[0])
}

// Close stops certmagic's background renewal.
func (l *Listener) Close() {
	if l.cache != nil {
		l.cache.Stop()
	}
}
