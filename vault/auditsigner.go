package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
)

// TransitAuditSigner signs audit checkpoints with a Vault Transit key, so
// the audit signing key never leaves Vault. It satisfies audit.Signer
// (Sign, Algorithm, KeyID, PublicKeyPEM). An ed25519 key matches the audit
// package's built-in verifier and key id scheme.
type TransitAuditSigner struct {
	t      *Transit
	key    string
	typ    string
	pubPEM []byte
	keyID  string
}

// NewTransitAuditSigner reads the key's type and public key from Vault.
// The key version is fixed at construction: after a Transit rotation,
// make a new signer so KeyID names the key that signs.
func NewTransitAuditSigner(ctx context.Context, t *Transit, key string) (*TransitAuditSigner, error) {
	ki, err := t.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(ki.PublicKeyPEM)
	if blk == nil {
		return nil, fmt.Errorf("transit: key %s (%s) has no public key", key, ki.Type)
	}
	s := &TransitAuditSigner{t: t, key: key, typ: ki.Type, pubPEM: ki.PublicKeyPEM}
	sum := sha256.Sum256(blk.Bytes)
	switch ki.Type {
	case "ed25519":
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("transit: key %s: %w", key, err)
		}
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return nil, fmt.Errorf("transit: key %s: not an ed25519 public key", key)
		}
		s.keyID = "ed25519:" + hex.EncodeToString(sum[:8])
	case "rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256":
		s.keyID = "transit:" + key + ":" + hex.EncodeToString(sum[:8])
	default:
		return nil, fmt.Errorf("transit: key %s has type %q, which cannot sign", key, ki.Type)
	}
	return s, nil
}

// Sign returns the raw signature over msg.
func (s *TransitAuditSigner) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if s.typ != "ed25519" {
		sig, _, err := s.t.SignJWT(ctx, s.key, msg)
		return sig, err
	}
	sec, err := s.t.client.Logical().WriteWithContext(ctx, s.t.mount+"/sign/"+s.key, map[string]any{"input": base64.StdEncoding.EncodeToString(msg)})
	if err != nil {
		return nil, fmt.Errorf("transit: sign with %s: %w", s.key, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("transit: sign with %s: empty response", s.key)
	}
	str, _ := sec.Data["signature"].(string)
	return decodeTransitSignature(str, false)
}

// Algorithm is "ed25519", "rs256" (PKCS#1 v1.5 SHA-256) or "es256" (r||s).
func (s *TransitAuditSigner) Algorithm() string {
	switch s.typ {
	case "ed25519":
		return "ed25519"
	case "ecdsa-p256":
		return "es256"
	}
	return "rs256"
}

// KeyID identifies the public key.
func (s *TransitAuditSigner) KeyID() string { return s.keyID }

// PublicKeyPEM returns the key's PKIX public key.
func (s *TransitAuditSigner) PublicKeyPEM() ([]byte, error) { return s.pubPEM, nil }
