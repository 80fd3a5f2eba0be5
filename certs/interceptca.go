package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"
)

// DefaultInterceptCALifetime is how long a new intercept CA is valid. A
// year bounds what a leaked key is worth and keeps rotation a routine the
// operators practise (see `syncgate certs rotate-intercept`).
const DefaultInterceptCALifetime = 365 * 24 * time.Hour

// ExpiryWarning is how close to its not-after an intercept CA (or any
// certificate `certs show` lists) is reported as expiring.
const ExpiryWarning = 30 * 24 * time.Hour

// InterceptCAOptions describes a new intercept CA certificate.
type InterceptCAOptions struct {
	// Constraints are the names the CA may vouch for (from the policy).
	// nil makes an unconstrained CA, which can vouch for any host.
	Constraints *NameConstraints
	Lifetime    time.Duration // default DefaultInterceptCALifetime
	Now         func() time.Time
}

// NewInterceptCACert self-signs an intercept CA certificate for signer's
// public key (a local key, or a key that never leaves Vault). The CA may
// sign end-entity certificates only (path length 0), for TLS servers only
// (extended key usage serverAuth, which Go and OpenSSL also enforce on a
// root), and only for the names in o.Constraints (critical).
func NewInterceptCACert(signer crypto.Signer, o InterceptCAOptions) (*x509.Certificate, error) {
	if o.Lifetime <= 0 {
		o.Lifetime = DefaultInterceptCALifetime
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	sn, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := o.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "syncgate intercept CA " + now.UTC().Format("2006-01-02T15:04Z"), Organization: []string{"syncgate"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(o.Lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	if o.Constraints != nil {
		o.Constraints.apply(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create intercept CA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse intercept CA: %w", err)
	}
	return c, nil
}

// WriteInterceptCA creates a new intercept CA with a fresh ECDSA P-256 key
// and writes certFile (0644) and keyFile (0600).
func WriteInterceptCA(certFile, keyFile string, o InterceptCAOptions) (*x509.Certificate, error) {
	key, err := newECKey()
	if err != nil {
		return nil, err
	}
	ca, err := NewInterceptCACert(key, o)
	if err != nil {
		return nil, err
	}
	kb, err := encodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyFile, kb, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certFile, encodeCertPEM(ca.Raw), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// InterceptBundle is the content of an intercept_ca cert_file: the current
// CA (the one that signs) first, then the others clients should trust too:
// the next CA, staged by `certs rotate-intercept` before it signs anything,
// and the previous one, kept after a promotion for replicas that have not
// reloaded yet.
type InterceptBundle struct {
	Current  *x509.Certificate
	Next     []*x509.Certificate // issued after Current
	Previous []*x509.Certificate // issued before it
}

// ReadInterceptBundle reads certFile. The current CA is the first
// certificate, or, when keyFile is set, the one its key belongs to.
func ReadInterceptBundle(certFile, keyFile string) (*InterceptBundle, error) {
	cs, err := readCertsFile(certFile)
	if err != nil {
		return nil, err
	}
	cur := cs[0]
	if keyFile != "" {
		key, err := readKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
		if cur = matchingCert(cs, key.Public()); cur == nil {
			return nil, fmt.Errorf("%s: key %s matches no certificate in it", certFile, keyFile)
		}
	}
	return splitBundle(cs, cur), nil
}

func matchingCert(cs []*x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	for _, c := range cs {
		if publicKeysEqual(c.PublicKey, pub) {
			return c
		}
	}
	return nil
}

// splitBundle sorts the certificates other than cur into those issued
// after it (next) and before it (previous); one issued in the same second
// counts as next when it comes after cur in the file, as staging writes it.
func splitBundle(cs []*x509.Certificate, cur *x509.Certificate) *InterceptBundle {
	b := &InterceptBundle{Current: cur}
	seen := false
	for _, c := range cs {
		switch {
		case c == cur:
			seen = true
		case c.NotBefore.After(cur.NotBefore) || seen && c.NotBefore.Equal(cur.NotBefore):
			b.Next = append(b.Next, c)
		default:
			b.Previous = append(b.Previous, c)
		}
	}
	return b
}

// All is the bundle in file order: current, next, previous.
func (b *InterceptBundle) All() []*x509.Certificate {
	out := []*x509.Certificate{b.Current}
	out = append(out, b.Next...)
	return append(out, b.Previous...)
}

// NextKeyFile is where `certs rotate-intercept` keeps the staged next CA's
// key (file keys) until it is promoted.
func NextKeyFile(keyFile string) string { return keyFile + ".next" }

// StageNextIntercept creates the next intercept CA for signer's key and
// writes certFile as [current, next]: the gateway keeps signing with the
// current CA, and publishes both, so clients can trust the next one before
// it signs anything. A previous CA still in the file is dropped (it has
// stopped signing a whole rotation ago). The current CA is the first
// certificate, or the one keyFile's key matches.
func StageNextIntercept(certFile, keyFile string, next crypto.Signer, o InterceptCAOptions) (*x509.Certificate, error) {
	b, err := ReadInterceptBundle(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, n := range b.Next {
		if o.Now().Before(n.NotAfter) {
			return nil, fmt.Errorf("%s already holds a next intercept CA (%s, not after %s): promote it with --promote first",
				certFile, n.Subject.CommonName, n.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	nc, err := NewInterceptCACert(next, o)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certFile, encodeCertPEM(b.Current.Raw, nc.Raw), 0o644); err != nil {
		return nil, err
	}
	return nc, nil
}

// StageNextInterceptFile is StageNextIntercept with a new local key, which
// it writes to NextKeyFile(keyFile) (0600) before the bundle.
func StageNextInterceptFile(certFile, keyFile string, o InterceptCAOptions) (*x509.Certificate, error) {
	if _, err := ReadInterceptBundle(certFile, keyFile); err != nil {
		return nil, err
	}
	key, err := newECKey()
	if err != nil {
		return nil, err
	}
	kb, err := encodeKeyPEM(key)
	if err != nil {
		return nil, err
	}
	nk := NextKeyFile(keyFile)
	if _, err := os.Stat(nk); err == nil {
		return nil, fmt.Errorf("%s exists: a next intercept CA is already staged; promote it with --promote first", nk)
	}
	if err := writeFileAtomic(nk, kb, 0o600); err != nil {
		return nil, err
	}
	c, err := StageNextIntercept(certFile, keyFile, key, o)
	if err != nil {
		os.Remove(nk)
		return nil, err
	}
	return c, nil
}

// PromoteNextIntercept makes the staged next CA the current one: certFile
// becomes [next, old current] (the old one stays trusted for replicas that
// have not reloaded yet, until the next rotation drops it). With a file key
// (keyFile set), the next key then replaces keyFile; the certificate file is
// written first, so a gateway that reloads in between still finds its key's
// certificate in the bundle and keeps signing with the old CA.
func PromoteNextIntercept(certFile, keyFile string, now time.Time) (*x509.Certificate, error) {
	b, err := ReadInterceptBundle(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	var next *x509.Certificate
	var nextKey crypto.Signer
	if keyFile != "" {
		nextKey, err = readKeyFile(NextKeyFile(keyFile))
		if err != nil {
			return nil, fmt.Errorf("no staged next intercept CA (run rotate-intercept without --promote first): %w", err)
		}
		next = matchingCert(b.Next, nextKey.Public())
	} else if len(b.Next) > 0 {
		sort.Slice(b.Next, func(i, j int) bool { return b.Next[i].NotBefore.After(b.Next[j].NotBefore) })
		next = b.Next[0]
	}
	if next == nil {
		return nil, errors.New("no staged next intercept CA in " + certFile + " (run rotate-intercept without --promote first)")
	}
	if now.After(next.NotAfter) {
		return nil, fmt.Errorf("the staged next intercept CA expired at %s; stage a new one", next.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := writeFileAtomic(certFile, encodeCertPEM(next.Raw, b.Current.Raw), 0o644); err != nil {
		return nil, err
	}
	if keyFile != "" {
		if err := os.Rename(NextKeyFile(keyFile), keyFile); err != nil {
			return nil, fmt.Errorf("promote %s: %w", NextKeyFile(keyFile), err)
		}
	}
	return next, nil
}

// WriteCertPEMFile writes certificates to path (0644, atomically).
func WriteCertPEMFile(path string, cs ...*x509.Certificate) error {
	var ders [][]byte
	for _, c := range cs {
		ders = append(ders, c.Raw)
	}
	return writeFileAtomic(path, encodeCertPEM(ders...), 0o644)
}
