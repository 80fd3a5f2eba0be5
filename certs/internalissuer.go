package certs

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/caddyserver/certmagic"
)

// DefaultInternalLifetime is the lifetime of a listener certificate issued
// by the internal CA when none is configured.
const DefaultInternalLifetime = 7 * 24 * time.Hour

// internalIssuer is a certmagic.Issuer backed by syncgate's internal CA, so
// that internal listener certificates get the same storage, renewal and
// replica sharing as ACME ones.
type internalIssuer struct {
	ca       *x509.Certificate
	key      crypto.Signer
	lifetime time.Duration
	now      func() time.Time
}

var _ certmagic.Issuer = (*internalIssuer)(nil)

func (i *internalIssuer) IssuerKey() string {
	sum := sha256.Sum256(i.ca.Raw)
	return "syncgate-internal-" + hex.EncodeToString(sum[:8])
}

func (i *internalIssuer) Issue(_ context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("internal CA: CSR signature: %w", err)
	}
	now := i.now()
	cn := csr.Subject.CommonName
	if cn == "" && len(csr.DNSNames) > 0 {
		cn = csr.DNSNames[0]
	}
	leaf, err := signLeaf(i.ca, i.key, csr.PublicKey, leafSpec{
		CN: cn, DNS: csr.DNSNames, IPs: csr.IPAddresses,
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(i.lifetime), Server: true,
	})
	if err != nil {
		return nil, fmt.Errorf("internal CA: %w", err)
	}
	chain := [][]byte{leaf.Raw}
	if string(i.ca.RawIssuer) != string(i.ca.RawSubject) {
		chain = append(chain, i.ca.Raw)
	}
	return &certmagic.IssuedCertificate{Certificate: encodeCertPEM(chain...)}, nil
}
