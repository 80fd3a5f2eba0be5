package certs

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrOutsideConstraints is returned (wrapped in a *ConstraintError) by
// InterceptCA.Leaf for a host the CA's name constraints do not admit: every
// client would reject the leaf, so none is minted.
var ErrOutsideConstraints = errors.New("certs: host outside the intercept CA's name constraints")

// ConstraintError is a refusal to mint for a host outside the intercept
// CA's name constraints. DenyReason is the reason the gateway gives the
// client and writes to the audit log.
type ConstraintError struct {
	Host string
	Err  error // which constraint, for the log
}

func (e *ConstraintError) Error() string {
	return fmt.Sprintf("certs: intercept CA may not vouch for %q: %v", e.Host, e.Err)
}

func (e *ConstraintError) Unwrap() error { return ErrOutsideConstraints }

// DenyReason is what the client and the audit log are told.
func (e *ConstraintError) DenyReason() string {
	return "host is outside the intercept CA's name constraints (issue the CA from the current policy: syncgate certs rotate-intercept)"
}

// ErrHostNotAllowed is returned by InterceptCA.Leaf for a host that the Allow
// guard rejects. No certificate is minted for it.
var ErrHostNotAllowed = errors.New("certs: host not allowed for interception")

// DefaultLeafTTL is the lifetime of an intercept leaf when none is configured.
const DefaultLeafTTL = 4 * time.Hour

// InterceptOptions tunes an InterceptCA. The zero value is usable.
type InterceptOptions struct {
	// LeafTTL is each leaf's lifetime (default 4h). Leaves are re-minted when
	// less than a third of it is left.
	LeafTTL time.Duration
	// Allow, when set, must return true for a host before a leaf is minted
	// for it. The proxy asks policy first; this is the second line.
	Allow func(host string) bool
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// MaxCached bounds the leaf cache (default 10000 hosts).
	MaxCached int
	// OnReloadError hears about a reload that failed; the old CA stays.
	OnReloadError func(what string, err error)
	// OnReload hears about a reload that swapped in a new CA file.
	OnReload func()
}

// SignerSource picks the signing CA out of the certificates in an
// intercept_ca cert_file and returns its key, for keys that are not in a
// file (a Vault Transit key version). It is called at load and whenever the
// certificate file changes.
type SignerSource func(bundle []*x509.Certificate) (*x509.Certificate, crypto.Signer, error)

// InterceptCA mints leaf certificates for intercepted CONNECT hosts.
type InterceptCA struct {
	certFile, keyFile string
	source            SignerSource // nil: the key is keyFile
	o                 InterceptOptions
	ca                atomic.Pointer[interceptState]

	mu    sync.Mutex
	cache map[string]*tls.Certificate

	reloadMu sync.Mutex
	lastBad  [32]byte // files that failed, so Watch reports them once
	sf       singleflight.Group
}

type interceptState struct {
	cert   *x509.Certificate // the CA that signs
	key    crypto.Signer
	bundle *InterceptBundle
	pem    []byte // every CA in the file: what clients trust
	hash   [32]byte
}

// LoadInterceptCA reads the intercept CA's certificate file and key. The
// certificate file may be a bundle (current, next, previous, as `certs
// rotate-intercept` writes it): the certificate the key belongs to signs,
// and CertPEM publishes them all. A key file readable by group or others is
// refused.
func LoadInterceptCA(certFile, keyFile string, o InterceptOptions) (*InterceptCA, error) {
	return loadInterceptCA(certFile, keyFile, nil, o)
}

// LoadInterceptCAWithSigner is LoadInterceptCA for a key that is not in a
// file: src picks the signing certificate from the bundle and returns its
// signer (see vault.Transit.CASigner).
func LoadInterceptCAWithSigner(certFile string, src SignerSource, o InterceptOptions) (*InterceptCA, error) {
	if src == nil {
		return nil, errors.New("intercept CA: no signer source")
	}
	return loadInterceptCA(certFile, "", src, o)
}

func loadInterceptCA(certFile, keyFile string, src SignerSource, o InterceptOptions) (*InterceptCA, error) {
	if o.LeafTTL <= 0 {
		o.LeafTTL = DefaultLeafTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxCached <= 0 {
		o.MaxCached = 10000
	}
	c := &InterceptCA{certFile: certFile, keyFile: keyFile, source: src, o: o, cache: map[string]*tls.Certificate{}}
	st, err := c.load()
	if err != nil {
		return nil, fmt.Errorf("intercept CA: %w", err)
	}
	c.ca.Store(st)
	return c, nil
}

func (c *InterceptCA) files() []string {
	if c.keyFile == "" {
		return []string{c.certFile}
	}
	return []string{c.certFile, c.keyFile}
}

func (c *InterceptCA) load() (*interceptState, error) {
	h, err := hashFiles(c.files()...)
	if err != nil {
		return nil, err
	}
	cs, err := readCertsFile(c.certFile)
	if err != nil {
		return nil, err
	}
	var cert *x509.Certificate
	var key crypto.Signer
	if c.source != nil {
		if cert, key, err = c.source(cs); err != nil {
			return nil, err
		}
	} else {
		if key, err = readKeyFile(c.keyFile); err != nil {
			return nil, err
		}
		if cert = matchingCert(cs, key.Public()); cert == nil {
			return nil, fmt.Errorf("%s: key %s does not match any certificate in it", c.certFile, c.keyFile)
		}
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s: not a CA certificate (needs basicConstraints CA and keyCertSign)", c.certFile)
	}
	if now := c.o.Now(); now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%s expired at %s", c.certFile, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	var ders [][]byte
	for _, x := range cs {
		ders = append(ders, x.Raw)
	}
	return &interceptState{cert: cert, key: key, bundle: splitBundle(cs, cert), pem: encodeCertPEM(ders...), hash: h}, nil
}

// Reload re-reads the CA files if they changed. A broken new CA keeps the old
// one; the error is returned and passed to OnReloadError. Cached leaves of
// the old CA are dropped so that clients see the new CA's leaves.
func (c *InterceptCA) Reload() error { return c.reload(true) }

func (c *InterceptCA) reload(force bool) error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	h, _ := hashFiles(c.files()...) // zero when unreadable; the load reports why
	if h == c.ca.Load().hash || (h == c.lastBad && !force) {
		return nil
	}
	st, err := c.load()
	if err != nil {
		c.lastBad = h
		err = fmt.Errorf("intercept CA reload (keeping the old CA): %w", err)
		if c.o.OnReloadError != nil {
			c.o.OnReloadError("intercept_ca", err)
		}
		return err
	}
	c.mu.Lock()
	c.ca.Store(st)
	clear(c.cache)
	c.mu.Unlock()
	if c.o.OnReload != nil {
		c.o.OnReload()
	}
	return nil
}

// Watch calls Reload every interval until ctx ends.
func (c *InterceptCA) Watch(ctx context.Context, every time.Duration) {
	poll(ctx, every, func() { _ = c.reload(false) })
}

// CertPEM is what clients must trust: every intercept CA certificate in
// the file (the current one, and a staged next or a previous one).
func (c *InterceptCA) CertPEM() []byte { return append([]byte(nil), c.ca.Load().pem...) }

// Certificate is the intercept CA certificate that signs.
func (c *InterceptCA) Certificate() *x509.Certificate { return c.ca.Load().cert }

// Bundle is the current CA and the others in its file.
func (c *InterceptCA) Bundle() *InterceptBundle { return c.ca.Load().bundle }

// PermitsHost reports, as an error naming the constraint, whether the
// current CA's name constraints admit host (a policy host: a name, an IP
// address or "*.domain"). Nil when they do or when the CA has none.
func (c *InterceptCA) PermitsHost(host string) error { return PermitsHost(c.ca.Load().cert, host) }

// Constrained reports whether the current CA carries name constraints.
func (c *InterceptCA) Constrained() bool {
	_, ok := ConstraintsOf(c.ca.Load().cert)
	return ok
}

// Leaf returns a certificate for host (a DNS name or an IP address, without
// port), minting one if none is cached or the cached one has less than a
// third of its lifetime left. Call it only for a host policy allows.
func (c *InterceptCA) Leaf(host string) (*tls.Certificate, error) {
	h, ip, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}
	if c.o.Allow != nil && !c.o.Allow(h) {
		return nil, fmt.Errorf("%w: %q", ErrHostNotAllowed, h)
	}
	st := c.ca.Load()
	// A leaf the CA's constraints do not admit would be rejected by every
	// client: refuse it here, with a reason, instead of minting it.
	if err := PermitsHost(st.cert, h); err != nil {
		return nil, &ConstraintError{Host: h, Err: err}
	}
	c.mu.Lock()
	leaf := c.cache[h]
	c.mu.Unlock()
	if leaf != nil && c.fresh(leaf) {
		return leaf, nil
	}
	v, err, _ := c.sf.Do(h, func() (any, error) {
		c.mu.Lock()
		leaf := c.cache[h]
		c.mu.Unlock()
		if leaf != nil && c.fresh(leaf) {
			return leaf, nil
		}
		leaf, err := c.mint(st, h, ip)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.ca.Load() == st {
			c.store(h, leaf)
		}
		c.mu.Unlock()
		return leaf, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tls.Certificate), nil
}

// ServerConfig is a TLS server configuration that answers a client's
// handshake inside an intercepted CONNECT to host. The host is the CONNECT
// target, not the client's SNI: policy decided on the CONNECT target.
func (c *InterceptCA) ServerConfig(host string) (*tls.Config, error) {
	leaf, err := c.Leaf(host)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: ListenerCipherSuites(),
		Certificates: []tls.Certificate{*leaf},
		NextProtos:   []string{"http/1.1"},
	}, nil
}

func (c *InterceptCA) fresh(leaf *tls.Certificate) bool {
	// Entries are only ever stored for the current CA and the cache is
	// cleared when the CA changes, so only the lifetime needs checking here.
	l := leaf.Leaf
	life := l.NotAfter.Sub(l.NotBefore.Add(clockSkew))
	return c.o.Now().Before(l.NotAfter.Add(-life / 3))
}

// store caches leaf; called with c.mu held.
func (c *InterceptCA) store(h string, leaf *tls.Certificate) {
	if _, ok := c.cache[h]; !ok && len(c.cache) >= c.o.MaxCached {
		now := c.o.Now()
		for k, v := range c.cache {
			if now.After(v.Leaf.NotAfter) {
				delete(c.cache, k)
			}
		}
		for k := range c.cache {
			if len(c.cache) < c.o.MaxCached {
				break
			}
			delete(c.cache, k)
		}
	}
	c.cache[h] = leaf
}

func (c *InterceptCA) mint(st *interceptState, h string, ip net.IP) (*tls.Certificate, error) {
	key, err := newECKey()
	if err != nil {
		return nil, err
	}
	now := c.o.Now()
	spec := leafSpec{CN: h, NotBefore: now.Add(-clockSkew), NotAfter: now.Add(c.o.LeafTTL), Server: true}
	if ip != nil {
		spec.IPs = []net.IP{ip}
	} else {
		spec.DNS = []string{h}
	}
	cert, err := signLeaf(st.cert, st.key, key.Public(), spec)
	if err != nil {
		return nil, fmt.Errorf("intercept leaf for %q: %w", h, err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// normalizeHost lower-cases host, drops a trailing dot and IPv6 brackets, and
// rejects anything that is not a plain DNS name or IP address (no ports, no
// wildcards), so a leaf is only ever minted for exactly one name.
func normalizeHost(host string) (string, net.IP, error) {
	h := strings.ToLower(strings.TrimSpace(host))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), ip, nil
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return "", nil, fmt.Errorf("certs: invalid host %q", host)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", nil, fmt.Errorf("certs: invalid host %q", host)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", nil, fmt.Errorf("certs: invalid host %q", host)
			}
		}
	}
	return h, nil, nil
}

// poll runs f every interval until ctx ends. It is the one loop behind every
// Watch method.
func poll(ctx context.Context, every time.Duration, f func()) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
