package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// clientTrust is one immutable snapshot of the client CA bundles and CRLs.
type clientTrust struct {
	pool *x509.CertPool
	cas  []*x509.Certificate
	crls map[string]*crlInfo // by the issuing CA's raw DER
	hash [32]byte
}

type crlInfo struct {
	file       string
	nextUpdate time.Time
	revoked    map[string]struct{} // serial numbers, big.Int.String()
}

func loadClientTrust(caFiles, crlFiles []string) (*clientTrust, error) {
	h, err := hashFiles(append(append([]string{}, caFiles...), crlFiles...)...)
	if err != nil {
		return nil, err
	}
	t := &clientTrust{pool: x509.NewCertPool(), crls: map[string]*crlInfo{}, hash: h}
	for _, f := range caFiles {
		cs, err := readCertsFile(f)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		for _, c := range cs {
			if !c.IsCA {
				return nil, fmt.Errorf("client CA %s: %q is not a CA certificate", f, c.Subject.String())
			}
			t.pool.AddCert(c)
			t.cas = append(t.cas, c)
		}
	}
	for _, f := range crlFiles {
		if err := t.addCRL(f); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// addCRL accepts a CRL only when one of the client CAs signed it: an
// unsigned or foreign list could otherwise "revoke" nothing and look fine.
func (t *clientTrust) addCRL(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("CRL: read %s: %w", file, err)
	}
	der := b
	if blk := pemBlock(b, "X509 CRL"); blk != nil {
		der = blk
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return fmt.Errorf("CRL %s: %w", file, err)
	}
	for _, ca := range t.cas {
		if string(ca.RawSubject) != string(crl.RawIssuer) || crl.CheckSignatureFrom(ca) != nil {
			continue
		}
		info := &crlInfo{file: file, nextUpdate: crl.NextUpdate, revoked: map[string]struct{}{}}
		if prev := t.crls[string(ca.Raw)]; prev != nil {
			// Several CRLs from one CA: revoked if any lists it, stale when
			// the first of them is.
			if !info.nextUpdate.IsZero() && info.nextUpdate.Before(prev.nextUpdate) {
				prev.nextUpdate = info.nextUpdate
			}
			info = prev
		}
		for _, e := range crl.RevokedCertificateEntries {
			info.revoked[e.SerialNumber.String()] = struct{}{}
		}
		t.crls[string(ca.Raw)] = info
		return nil
	}
	return fmt.Errorf("CRL %s (issuer %q) is not signed by any configured client CA", file, crl.Issuer.String())
}

// check verifies a presented chain against this snapshot at now: path to a
// client CA, clientAuth usage, validity, and revocation. It runs on every
// handshake, resumed ones included, so a CA removed by a reload or a CRL
// added later also stops clients whose sessions predate the change.
func (t *clientTrust) check(peer []*x509.Certificate, now time.Time) error {
	if len(peer) == 0 {
		return errors.New("client certificate required")
	}
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	leaf := peer[0]
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         t.pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("client certificate %q: %w", leaf.Subject.String(), err)
	}
	var lastErr error
	for _, chain := range chains {
		if lastErr = t.checkRevocation(chain, now); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (t *clientTrust) checkRevocation(chain []*x509.Certificate, now time.Time) error {
	for i := 0; i+1 < len(chain); i++ {
		info := t.crls[string(chain[i+1].Raw)]
		if info == nil {
			continue
		}
		// A CRL past its nextUpdate cannot say whether a certificate was
		// revoked since: fail closed.
		if !info.nextUpdate.IsZero() && now.After(info.nextUpdate) {
			return fmt.Errorf("CRL %s is stale (nextUpdate %s): cannot decide revocation of %q",
				info.file, info.nextUpdate.UTC().Format(time.RFC3339), chain[i].Subject.String())
		}
		if _, revoked := info.revoked[serialString(chain[i].SerialNumber)]; revoked {
			return fmt.Errorf("client certificate %q (serial %s) is revoked", chain[i].Subject.String(), chain[i].SerialNumber.Text(16))
		}
	}
	return nil
}

func serialString(n *big.Int) string { return n.String() }
