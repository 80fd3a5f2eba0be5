package emulate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/syncgate/syncgate/certs"
)

// loopbackNames are added to the listener certificate so the admin API and
// the Vault API are reachable by the listener's own address.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// CertNames is every name the listener certificate must cover: the service
// hosts and the loopback names.
func (s *Set) CertNames() []string { return append(s.Hosts(), loopbackNames...) }

const listenerLifetime = 90 * 24 * time.Hour

// EnsureCerts returns a listener certificate for names from the CA in dir,
// and the CA certificate's path for clients to trust. On first use it lays
// dir out with certs.InitDir (root-ca.pem, listener.pem and their keys).
// Later it reuses the listener certificate while it covers every name and
// has more than a day left; otherwise it signs a new one with the same root,
// so clients that trust root-ca.pem keep working.
func EnsureCerts(dir string, names []string, now time.Time) (tls.Certificate, string, error) {
	if len(names) == 0 {
		return tls.Certificate{}, "", errors.New("emulate: certificates: no names")
	}
	caFile := filepath.Join(dir, certs.RootCAFile)
	lf, lk := filepath.Join(dir, certs.ListenerFile), filepath.Join(dir, certs.ListenerKeyFile)
	if _, err := os.Stat(caFile); errors.Is(err, fs.ErrNotExist) {
		if _, err := certs.InitDir(dir, certs.InitOptions{Names: names, ListenerLifetime: listenerLifetime, Now: func() time.Time { return now }}); err != nil {
			return tls.Certificate{}, "", fmt.Errorf("emulate: create CA in %s: %w", dir, err)
		}
	} else if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("emulate: %w", err)
	}
	if cert, err := tls.LoadX509KeyPair(lf, lk); err == nil && covers(cert.Leaf, names, now) && issuedBy(cert.Leaf, caFile) {
		return cert, caFile, nil
	}
	if err := reissueListener(dir, names, now); err != nil {
		return tls.Certificate{}, "", err
	}
	cert, err := tls.LoadX509KeyPair(lf, lk)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("emulate: load listener certificate: %w", err)
	}
	return cert, caFile, nil
}

func covers(c *x509.Certificate, names []string, now time.Time) bool {
	if c == nil || now.Before(c.NotBefore) || now.Add(24*time.Hour).After(c.NotAfter) {
		return false
	}
	for _, n := range names {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func issuedBy(c *x509.Certificate, caFile string) bool {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return false
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: c.NotBefore.Add(time.Minute), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}

func reissueListener(dir string, names []string, now time.Time) error {
	ca, caKey, err := loadRoot(dir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("emulate: listener key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("emulate: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(listenerLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("emulate: sign listener certificate: %w", err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("emulate: listener key: %w", err)
	}
	// Key first: a crash between the two writes leaves a pair that fails to
	// load and is reissued on the next start, never a cert without its key.
	if err := writeFileAtomic(filepath.Join(dir, certs.ListenerKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return fmt.Errorf("emulate: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, certs.ListenerFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("emulate: %w", err)
	}
	return nil
}

func loadRoot(dir string) (*x509.Certificate, crypto.Signer, error) {
	cb, err := os.ReadFile(filepath.Join(dir, certs.RootCAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("emulate: read root CA: %w", err)
	}
	blk, _ := pem.Decode(cb)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("emulate: %s: no CERTIFICATE block", certs.RootCAFile)
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("emulate: parse root CA: %w", err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, certs.RootKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("emulate: read root CA key (needed to reissue the listener certificate): %w", err)
	}
	kblk, _ := pem.Decode(kb)
	if kblk == nil {
		return nil, nil, fmt.Errorf("emulate: %s: no PEM block", certs.RootKeyFile)
	}
	var k any
	switch kblk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(kblk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(kblk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(kblk.Bytes)
	default:
		err = fmt.Errorf("unsupported PEM type %q", kblk.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("emulate: parse root CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("emulate: root CA key cannot sign")
	}
	return ca, signer, nil
}
