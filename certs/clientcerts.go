package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnknownClientCert is returned for a client certificate name that the
// serve config does not define.
var ErrUnknownClientCert = errors.New("certs: unknown client certificate")

// ClientCertsOptions tunes ClientCerts. The zero value is usable.
type ClientCertsOptions struct {
	Now           func() time.Time
	OnReloadError func(what string, err error)
}

// ClientCerts holds the client certificates the gateway presents to
// upstreams (the serve config's client_certs), by name.
type ClientCerts struct {
	files map[string]FilePair // resolved paths
	o     ClientCertsOptions
	certs atomic.Pointer[map[string]*clientCert]

	mu      sync.Mutex          // serialises reloads
	lastBad map[string][32]byte // files that failed, so Watch reports them once
}

type clientCert struct {
	cert *tls.Certificate
	hash [32]byte
}

// LoadClientCerts loads every named pair; paths are relative to baseDir.
// Any broken pair fails the load: at startup there is no old one to keep.
func LoadClientCerts(m map[string]FilePair, baseDir string, opts ...ClientCertsOptions) (*ClientCerts, error) {
	var o ClientCertsOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &ClientCerts{files: map[string]FilePair{}, o: o}
	loaded := map[string]*clientCert{}
	var errs []error
	for _, name := range sortedKeys(m) {
		fp := m[name]
		if fp.CertFile == "" || fp.KeyFile == "" {
			errs = append(errs, fmt.Errorf("client certificate %q: cert_file and key_file are required", name))
			continue
		}
		fp = FilePair{CertFile: resolve(baseDir, fp.CertFile), KeyFile: resolve(baseDir, fp.KeyFile)}
		c.files[name] = fp
		cc, err := c.loadOne(name, fp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		loaded[name] = cc
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.certs.Store(&loaded)
	return c, nil
}

func (c *ClientCerts) loadOne(name string, fp FilePair) (*clientCert, error) {
	h, err := hashFiles(fp.CertFile, fp.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate %q: %w", name, err)
	}
	cert, err := loadKeyPair(fp.CertFile, fp.KeyFile, c.o.Now())
	if err != nil {
		return nil, fmt.Errorf("client certificate %q: %w", name, err)
	}
	return &clientCert{cert: cert, hash: h}, nil
}

// Names lists the configured names.
func (c *ClientCerts) Names() []string { return sortedKeys(c.files) }

// Get returns the current certificate for name.
func (c *ClientCerts) Get(name string) (*tls.Certificate, error) {
	cc := (*c.certs.Load())[name]
	if cc == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownClientCert, name)
	}
	return cc.cert, nil
}

// GetClientCertificate returns a tls.Config.GetClientCertificate callback
// presenting the certificate called name. It looks the certificate up at each
// handshake, so a reload takes effect on the next connection. When the
// upstream names the CAs it accepts and ours is not among them, the handshake
// fails here with an error that says so, instead of with the upstream's bare
// "bad certificate" alert.
func (c *ClientCerts) GetClientCertificate(name string) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, err := c.Get(name)
		if err != nil {
			return nil, err
		}
		if err := cri.SupportsCertificate(cert); err != nil {
			return nil, fmt.Errorf("client certificate %q (issuer %q) is not accepted by the upstream (it accepts %s): %w",
				name, cert.Leaf.Issuer.String(), describeCAs(cri.AcceptableCAs), err)
		}
		return cert, nil
	}
}

func describeCAs(dns [][]byte) string {
	if len(dns) == 0 {
		return "any CA"
	}
	var names []string
	for _, d := range dns {
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(d, &seq); err == nil && len(rest) == 0 {
			var n pkix.Name
			n.FillFromRDNSequence(&seq)
			names = append(names, fmt.Sprintf("%q", n.String()))
		} else {
			names = append(names, hex.EncodeToString(d))
		}
	}
	return strings.Join(names, ", ")
}

// Reload re-reads every pair whose files changed. A broken pair keeps its
// old certificate; each failure is returned (joined) and passed to
// OnReloadError.
func (c *ClientCerts) Reload() error { return c.reload(true) }

func (c *ClientCerts) reload(force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastBad == nil {
		c.lastBad = map[string][32]byte{}
	}
	cur := *c.certs.Load()
	next := make(map[string]*clientCert, len(cur))
	var errs []error
	changed := false
	for name, fp := range c.files {
		old := cur[name]
		next[name] = old
		h, _ := hashFiles(fp.CertFile, fp.KeyFile) // zero when unreadable; the load reports why
		if old != nil && h == old.hash {
			delete(c.lastBad, name)
			continue
		}
		if bad, ok := c.lastBad[name]; ok && h == bad && !force {
			continue
		}
		cc, err := c.loadOne(name, fp)
		if err != nil {
			c.lastBad[name] = h
			err = fmt.Errorf("reload (keeping the old certificate): %w", err)
			errs = append(errs, err)
			if c.o.OnReloadError != nil {
				c.o.OnReloadError("client_cert "+name, err)
			}
			continue
		}
		next[name] = cc
		delete(c.lastBad, name)
		changed = true
	}
	if changed {
		c.certs.Store(&next)
	}
	return errors.Join(errs...)
}

// Watch calls Reload every interval until ctx ends.
func (c *ClientCerts) Watch(ctx context.Context, every time.Duration) {
	poll(ctx, every, func() { _ = c.reload(false) })
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
