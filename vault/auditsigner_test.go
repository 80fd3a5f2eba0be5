package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/syncgate/syncgate/audit"
)

var _ audit.Signer = (*TransitAuditSigner)(nil)

func TestTransitAuditSigner(t *testing.T) {
	tv := newTestVault(t)
	name, _ := transitKey(t, tv, "ed25519")
	ctx := context.Background()
	s, err := NewTransitAuditSigner(ctx, NewTransit(tv.admin, "transit"), name)
	if err != nil {
		t.Fatal(err)
	}
	msg := audit.CheckpointMessage(42, "abc")
	sig, err := s.Sign(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := s.PublicKeyPEM()
	blk, _ := pem.Decode(pemBytes)
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ek := pub.(ed25519.PublicKey)
	if !ed25519.Verify(ek, msg, sig) {
		t.Fatal("signature does not verify")
	}
	if ed25519.Verify(ek, audit.CheckpointMessage(43, "abc"), sig) {
		t.Fatal("signature verifies another message")
	}
	if s.Algorithm() != audit.AlgEd25519 || s.KeyID() != audit.Ed25519KeyID(ek) {
		t.Fatalf("alg %s key id %s, want the audit package's", s.Algorithm(), s.KeyID())
	}
}
