package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/audit"
)

var _ audit.Signer = (*TransitAuditSigner)(nil)

// Checkpoints signed by Transit ed25519, rsa-2048 and ecdsa-p256 keys verify
// with the public keys as Key() returns them (each parsed from the format
// Vault uses for its type); the signer stays on its key version across a
// rotation, and a verifier given every version checks both.
func TestTransitAuditSigner(t *testing.T) {
	tv := newTestVault(t)
	ctx := context.Background()
	tr := NewTransit(tv.admin, "transit")
	for typ, alg := range map[string]string{"ed25519": audit.AlgEd25519, "rsa-2048": audit.AlgRS256, "ecdsa-p256": audit.AlgES256} {
		t.Run(typ, func(t *testing.T) {
			name, _ := transitKey(t, tv, typ)
			s1, err := NewTransitAuditSigner(ctx, tr, name)
			if err != nil {
				t.Fatal(err)
			}
			ki, err := tr.Key(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			wantID, _ := audit.KeyID(ki.PublicKey)
			if s1.Algorithm() != alg || s1.KeyID() != wantID || s1.KeyVersion() != 1 {
				t.Fatalf("alg %s id %s version %d", s1.Algorithm(), s1.KeyID(), s1.KeyVersion())
			}
			if typ == "ed25519" && s1.KeyID() != audit.Ed25519KeyID(ki.PublicKey.(ed25519.PublicKey)) {
				t.Fatal("ed25519 key id differs from the audit package's")
			}
			msg := audit.CheckpointMessage(42, "abc")
			sig1, err := s1.Sign(ctx, msg)
			if err != nil {
				t.Fatal(err)
			}
			pem1, _ := s1.PublicKeyPEM()
			v1, err := audit.NewVerifier(pem1)
			if err != nil {
				t.Fatal(err)
			}
			if err := v1.Verify(ctx, s1.Algorithm(), s1.KeyID(), msg, sig1); err != nil {
				t.Fatalf("signature does not verify: %v", err)
			}
			if err := v1.Verify(ctx, s1.Algorithm(), s1.KeyID(), audit.CheckpointMessage(43, "abc"), sig1); err == nil {
				t.Fatal("signature verifies another message")
			}
			if _, err := tr.Rotate(ctx, name); err != nil {
				t.Fatal(err)
			}
			old, err := s1.Sign(ctx, msg) // still version 1
			if err != nil || v1.Verify(ctx, s1.Algorithm(), s1.KeyID(), msg, old) != nil {
				t.Fatalf("pinned version after rotation: %v", err)
			}
			s2, err := NewTransitAuditSigner(ctx, tr, name)
			if err != nil || s2.KeyVersion() != 2 || s2.KeyID() == s1.KeyID() {
				t.Fatalf("signer after rotation: %v %+v", err, s2)
			}
			sig2, _ := s2.Sign(ctx, msg)
			ki, _ = tr.Key(ctx, name)
			var pems [][]byte
			for _, v := range ki.Versions {
				pems = append(pems, v.PublicKeyPEM)
			}
			all, err := audit.NewVerifier(pems...)
			if err != nil || len(ki.Versions) != 2 {
				t.Fatalf("versions %d: %v", len(ki.Versions), err)
			}
			if all.Verify(ctx, s1.Algorithm(), s1.KeyID(), msg, sig1) != nil || all.Verify(ctx, s2.Algorithm(), s2.KeyID(), msg, sig2) != nil {
				t.Fatal("a verifier with every version rejects one")
			}
		})
	}
	t.Run("unsupported type refused up front", func(t *testing.T) {
		if tv.emu == nil {
			t.Skip("the real server's ecdsa-p384 is covered by the emulator run")
		}
		name, _ := transitKey(t, tv, "ecdsa-p384")
		if _, err := NewTransitAuditSigner(ctx, tr, name); err == nil || !strings.Contains(err.Error(), "cannot sign") {
			t.Fatalf("ecdsa-p384 checkpoint key: %v", err)
		}
	})
}

// public_key comes as Vault formats it per type; each form parses, and a
// key that does not match its type is refused.
func TestParseTransitPublicKey(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemOf := func(pub any) string {
		der, _ := x509.MarshalPKIXPublicKey(pub)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	edRaw := base64.StdEncoding.EncodeToString(edPub)
	ok := []struct{ typ, in string }{
		{"ed25519", edRaw},        // what Vault returns
		{"ed25519", pemOf(edPub)}, // what this project's old emulator returned
		{"rsa-2048", pemOf(&rk.PublicKey)},
		{"ecdsa-p256", pemOf(&ek.PublicKey)},
	}
	for _, c := range ok {
		if _, err := parseTransitPublicKey(c.typ, c.in); err != nil {
			t.Errorf("%s %.20q: %v", c.typ, c.in, err)
		}
	}
	bad := []struct{ typ, in string }{
		{"ed25519", pemOf(&rk.PublicKey)},
		{"rsa-2048", edRaw},
		{"ed25519", "!!not base64"},
		{"ed25519", base64.StdEncoding.EncodeToString([]byte("short"))},
	}
	for _, c := range bad {
		if _, err := parseTransitPublicKey(c.typ, c.in); err == nil {
			t.Errorf("%s %.20q accepted", c.typ, c.in)
		}
	}
}
