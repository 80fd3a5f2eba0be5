package vault

import (
	"context"
	"fmt"

	"github.com/syncgate/syncgate/audit"
)

// TransitAuditSigner signs audit checkpoints with a Vault Transit key, so
// the audit signing key never leaves Vault. It satisfies audit.Signer.
// ed25519 keys (recommended) sign as "ed25519", rsa-2048/3072/4096 keys as
// "rs256" (PKCS #1 v1.5, SHA-256) and ecdsa-p256 keys as "es256" (r||s);
// audit.NewVerifier checks all three. Any other type is refused when the
// signer is made, that is at config load, before a checkpoint is written.
type TransitAuditSigner struct {
	t       *Transit
	key     string
	typ     string
	alg     string
	version int
	pubPEM  []byte
	keyID   string
}

// NewTransitAuditSigner reads the key's type and latest public key from
// Vault. The key version is pinned at construction (signatures ask Vault
// for that version), so KeyID always names the key that signed; after a
// Transit rotation, a new signer picks up the new version.
func NewTransitAuditSigner(ctx context.Context, t *Transit, key string) (*TransitAuditSigner, error) {
	ki, err := t.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	if ki.PublicKey == nil {
		return nil, fmt.Errorf("transit: key %s (%s) has no public key, so it cannot sign audit checkpoints (use ed25519, rsa-2048 or ecdsa-p256)", key, ki.Type)
	}
	if _, _, err := signParams(ki.Type, nil); err != nil {
		return nil, fmt.Errorf("transit: key %s: %w", key, err)
	}
	alg, err := audit.AlgorithmFor(ki.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("transit: key %s (%s) cannot sign audit checkpoints: %v", key, ki.Type, err)
	}
	id, err := audit.KeyID(ki.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("transit: key %s: %w", key, err)
	}
	return &TransitAuditSigner{t: t, key: key, typ: ki.Type, alg: alg, version: ki.LatestVersion, pubPEM: ki.PublicKeyPEM, keyID: id}, nil
}

// Sign returns the raw signature over msg, made by the pinned key version.
func (s *TransitAuditSigner) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	sig, _, ver, err := s.t.signRaw(ctx, s.key, s.typ, s.version, msg)
	if err != nil {
		return nil, err
	}
	if ver != s.version {
		return nil, fmt.Errorf("transit: key %s signed with version %d, not %d", s.key, ver, s.version)
	}
	return sig, nil
}

// Algorithm is "ed25519", "rs256" or "es256".
func (s *TransitAuditSigner) Algorithm() string { return s.alg }

// KeyID identifies the public key (audit.KeyID).
func (s *TransitAuditSigner) KeyID() string { return s.keyID }

// KeyVersion is the Transit key version that signs.
func (s *TransitAuditSigner) KeyVersion() int { return s.version }

// PublicKeyPEM returns the key's PKIX public key.
func (s *TransitAuditSigner) PublicKeyPEM() ([]byte, error) { return s.pubPEM, nil }
