package certs

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The file layout `syncgate certs init` writes. The clients CA is a root of
// its own, not the internal root: a client CA bundle then admits only client
// certificates, and the root's key (which signs listener certificates) can
// stay offline from whoever issues client certificates.
const (
	RootCAFile      = "root-ca.pem"
	RootKeyFile     = "root-ca.key"
	ListenerFile    = "listener.pem"
	ListenerKeyFile = "listener.key"
	InterceptCAFile = "intercept-ca.pem"
	InterceptKey    = "intercept-ca.key"
	ClientsCAFile   = "clients-ca.pem"
	ClientsKeyFile  = "clients-ca.key"
)

// InitOptions describes `certs init`.
type InitOptions struct {
	Names            []string      // listener DNS names and IPs
	ListenerLifetime time.Duration // default 90 days (tls.internal renews it automatically instead)
	Force            bool          // overwrite existing files
	// InterceptConstraints are the names the intercept CA may vouch for,
	// from the policy (ConstraintsForHosts). nil makes an unconstrained CA.
	InterceptConstraints *NameConstraints
	// InterceptLifetime is the intercept CA's validity (default
	// DefaultInterceptCALifetime, one year).
	InterceptLifetime time.Duration
	// NoIntercept skips the intercept CA (its key will live in Vault
	// Transit: `syncgate certs init-intercept` makes it).
	NoIntercept bool
	Now         func() time.Time
}

// InitDir creates the internal root CA, a listener certificate for
// o.Names, an intercept CA and a clients CA in dir. Keys are written 0600.
// It returns the paths written.
func InitDir(dir string, o InitOptions) ([]string, error) {
	if len(o.Names) == 0 {
		return nil, errors.New("certs init: at least one --name or --ip is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ListenerLifetime <= 0 {
		o.ListenerLifetime = 90 * 24 * time.Hour
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs init: %w", err)
	}
	all := []string{RootCAFile, RootKeyFile, ListenerFile, ListenerKeyFile, InterceptCAFile, InterceptKey, ClientsCAFile, ClientsKeyFile}
	if o.NoIntercept {
		all = []string{RootCAFile, RootKeyFile, ListenerFile, ListenerKeyFile, ClientsCAFile, ClientsKeyFile}
	}
	if !o.Force {
		for _, f := range all {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return nil, fmt.Errorf("certs init: %s already exists (use --force to replace the whole set)", filepath.Join(dir, f))
			}
		}
	}
	now := o.Now()
	const caLife = 10 * 365 * 24 * time.Hour
	root, rootKey, err := newSelfSignedCA("syncgate internal root CA", caLife, now)
	if err != nil {
		return nil, err
	}
	dns, ips := hostSANs(o.Names)
	lkey, err := newECKey()
	if err != nil {
		return nil, err
	}
	leaf, err := signLeaf(root, rootKey, lkey.Public(), leafSpec{CN: o.Names[0], DNS: dns, IPs: ips,
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(o.ListenerLifetime), Server: true})
	if err != nil {
		return nil, err
	}
	icaKey, err := newECKey()
	if err != nil {
		return nil, err
	}
	ica, err := NewInterceptCACert(icaKey, InterceptCAOptions{Constraints: o.InterceptConstraints, Lifetime: o.InterceptLifetime, Now: o.Now})
	if err != nil {
		return nil, err
	}
	cca, ccaKey, err := newSelfSignedCA("syncgate clients CA", caLife, now)
	if err != nil {
		return nil, err
	}
	type file struct {
		name string
		der  []byte
		key  crypto.Signer
	}
	files := []file{
		{RootCAFile, root.Raw, nil}, {RootKeyFile, nil, rootKey},
		{ListenerFile, leaf.Raw, nil}, {ListenerKeyFile, nil, lkey},
		{InterceptCAFile, ica.Raw, nil}, {InterceptKey, nil, icaKey},
		{ClientsCAFile, cca.Raw, nil}, {ClientsKeyFile, nil, ccaKey},
	}
	if o.NoIntercept {
		files = append(files[:4], files[6:]...)
	}
	var written []string
	for _, w := range files {
		p := filepath.Join(dir, w.name)
		b, perm := encodeCertPEM(w.der), os.FileMode(0o644)
		if w.key != nil {
			if b, err = encodeKeyPEM(w.key); err != nil {
				return written, err
			}
			perm = 0o600
		}
		if err := writeFileAtomic(p, b, perm); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// ClientOptions describes `certs issue-client`.
type ClientOptions struct {
	URIs []string // e.g. spiffe://corp.example/sync
	DNS  []string
	TTL  time.Duration // default 24h
	Now  func() time.Time
}

// IssueClient signs a client certificate called name with the clients CA in
// caDir and writes outDir/name.pem and outDir/name.key (0600).
func IssueClient(caDir, outDir, name string, o ClientOptions) (certFile, keyFile string, err error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", "", fmt.Errorf("issue-client: invalid name %q", name)
	}
	if len(o.URIs) == 0 && len(o.DNS) == 0 {
		return "", "", errors.New("issue-client: at least one --uri or --dns identity is required")
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var uris []*url.URL
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "" || pu.Host == "" {
			return "", "", fmt.Errorf("issue-client: --uri %q is not an absolute URI like spiffe://corp.example/sync", u)
		}
		uris = append(uris, pu)
	}
	ca, caKey, err := loadCA(filepath.Join(caDir, ClientsCAFile), filepath.Join(caDir, ClientsKeyFile))
	if err != nil {
		return "", "", fmt.Errorf("issue-client: %w", err)
	}
	key, err := newECKey()
	if err != nil {
		return "", "", err
	}
	now := o.Now()
	leaf, err := signLeaf(ca, caKey, key.Public(), leafSpec{CN: name, DNS: o.DNS, URIs: uris,
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(o.TTL), Client: true})
	if err != nil {
		return "", "", fmt.Errorf("issue-client: %w", err)
	}
	kb, err := encodeKeyPEM(key)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", "", fmt.Errorf("issue-client: %w", err)
	}
	certFile, keyFile = filepath.Join(outDir, name+".pem"), filepath.Join(outDir, name+".key")
	if err := writeFileAtomic(keyFile, kb, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(certFile, encodeCertPEM(leaf.Raw), 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// CertInfo describes one certificate for `certs show`.
type CertInfo struct {
	Role        string
	File        string
	Subject     string
	Issuer      string
	SANs        []string
	NotAfter    time.Time
	NextRenewal time.Time // zero for CAs
	Renewal     string    // how it is renewed
}

// Describe summarises c. Leaves are due for renewal when a third of their
// lifetime is left, as certmagic and the intercept CA do.
func Describe(role, file string, c *x509.Certificate) CertInfo {
	ci := CertInfo{Role: role, File: file, Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter}
	ci.SANs = append(ci.SANs, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		ci.SANs = append(ci.SANs, ip.String())
	}
	for _, u := range c.URIs {
		ci.SANs = append(ci.SANs, u.String())
	}
	if c.IsCA {
		ci.Renewal = "CA: replace before not-after"
		return ci
	}
	life := c.NotAfter.Sub(c.NotBefore)
	ci.NextRenewal = c.NotAfter.Add(-life / 3)
	return ci
}

// DescribeDir lists every certificate in a `certs init` directory: the
// layout's files, other *.pem files (client certificates), and certificates
// certmagic keeps under certmagic/ (tls.internal or tls.acme storage).
func DescribeDir(dir string) ([]CertInfo, error) {
	roles := map[string]string{
		RootCAFile: "internal root CA", ListenerFile: "listener (file)",
		InterceptCAFile: "intercept CA", ClientsCAFile: "clients CA (mTLS)",
	}
	renewal := map[string]string{
		ListenerFile: "by hand, or use tls.internal to renew automatically",
	}
	var out []CertInfo
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("certs show: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		cs, err := readCertsFile(p)
		if err != nil {
			return nil, fmt.Errorf("certs show: %w", err)
		}
		role, ok := roles[e.Name()]
		if !ok {
			role = "client certificate"
			if cs[0].IsCA {
				role = "CA"
			} else if !hasEKU(cs[0], x509.ExtKeyUsageClientAuth) {
				role = "certificate"
			}
		}
		ci := Describe(role, p, cs[0])
		if r, ok := renewal[e.Name()]; ok {
			ci.Renewal = r
		} else if ci.Renewal == "" {
			ci.Renewal = "reissue before next-renewal"
		}
		out = append(out, ci)
	}
	managed := filepath.Join(dir, "certmagic", "certificates")
	_ = filepath.WalkDir(managed, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".crt") {
			return nil
		}
		cs, err := readCertsFile(p)
		if err != nil {
			return nil
		}
		ci := Describe("listener (managed)", p, cs[0])
		ci.Renewal = "automatic (certmagic)"
		out = append(out, ci)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Role < out[j].Role })
	return out, nil
}

func hasEKU(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	for _, e := range c.ExtKeyUsage {
		if e == u {
			return true
		}
	}
	return false
}
