package vault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"
)

// CASignTimeout bounds one Transit sign call made for a certificate.
const CASignTimeout = 10 * time.Second

// TransitCASigner is a crypto.Signer whose private key is one version of an
// ecdsa-p256 Vault Transit key: certificates (the intercept CA itself and
// the leaves it mints) are signed by Vault and the key never leaves it.
// x509.CreateCertificate hashes the to-be-signed certificate with SHA-256
// and hands the digest to Sign, which asks Vault to sign it as is
// (prehashed, ASN.1 marshaling, the DER ECDSA-Sig-Value X.509 wants):
// https://developer.hashicorp.com/vault/api-docs/secret/transit#sign-data
type TransitCASigner struct {
	t       *Transit
	key     string
	version int
	pub     *ecdsa.PublicKey
}

// CASigner returns a signer for the version of Transit key name whose
// public key is pub (the CA certificate's), or, with pub nil, for the
// latest version. The key must be of type ecdsa-p256 and exist: a missing
// key, another type, or no version matching pub is an error, so a gateway
// refuses to start rather than mint leaves nobody trusts.
func (t *Transit) CASigner(ctx context.Context, name string, pub crypto.PublicKey) (*TransitCASigner, error) {
	ki, err := t.Key(ctx, name)
	if err != nil {
		return nil, err
	}
	if ki.Type != "ecdsa-p256" {
		return nil, fmt.Errorf("transit: key %s has type %q; a certificate authority key must be ecdsa-p256", name, ki.Type)
	}
	for i := len(ki.Versions) - 1; i >= 0; i-- {
		v := ki.Versions[i]
		ec, ok := v.PublicKey.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			continue
		}
		if pub == nil && v.Version == ki.LatestVersion || pub != nil && ec.Equal(pub) {
			return &TransitCASigner{t: t, key: name, version: v.Version, pub: ec}, nil
		}
	}
	if pub == nil {
		return nil, fmt.Errorf("transit: key %s has no latest version with an ecdsa-p256 public key", name)
	}
	return nil, fmt.Errorf("transit: no version of key %s holds the CA certificate's public key (was it made from another key, or was that version trimmed?)", name)
}

// Public is the key version's public key.
func (s *TransitCASigner) Public() crypto.PublicKey { return s.pub }

// KeyVersion is the Transit key version that signs.
func (s *TransitCASigner) KeyVersion() int { return s.version }

// KeyName is the Transit key's name.
func (s *TransitCASigner) KeyName() string { return s.key }

// Sign signs a SHA-256 digest with the pinned key version and returns an
// ASN.1 DER ECDSA signature, checked against the public key before it is
// returned.
func (s *TransitCASigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("transit: a CA key signs SHA-256 digests only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), CASignTimeout)
	defer cancel()
	sec, err := s.t.write(ctx, "sign/"+s.key, map[string]any{
		"input":                base64.StdEncoding.EncodeToString(digest),
		"prehashed":            true,
		"hash_algorithm":       "sha2-256",
		"marshaling_algorithm": "asn1",
		"key_version":          s.version,
	})
	if err != nil {
		return nil, fmt.Errorf("transit: sign with %s: %w", s.key, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("transit: sign with %s: empty response", s.key)
	}
	str, _ := sec.Data["signature"].(string)
	sig, ver, err := decodeTransitSignature(str, false)
	if err != nil {
		return nil, fmt.Errorf("transit: sign with %s: %w", s.key, err)
	}
	if ver != s.version {
		return nil, fmt.Errorf("transit: key %s signed with version %d, not %d", s.key, ver, s.version)
	}
	if !ecdsa.VerifyASN1(s.pub, digest, sig) {
		return nil, fmt.Errorf("transit: key %s version %d returned a signature its public key does not verify", s.key, s.version)
	}
	return sig, nil
}
