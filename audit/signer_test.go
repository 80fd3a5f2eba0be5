package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

// keySigner signs checkpoints with an RSA or ECDSA key the way a Vault
// Transit signer does: rs256 (PKCS #1 v1.5, SHA-256) or es256 (r||s).
type keySigner struct {
	key crypto.Signer
	id  string
	alg string
}

func newKeySigner(t testing.TB, k crypto.Signer) *keySigner {
	t.Helper()
	alg, err := AlgorithmFor(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	id, err := KeyID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &keySigner{key: k, id: id, alg: alg}
}

func (s *keySigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	switch k := s.key.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	case *ecdsa.PrivateKey:
		r, ss, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		ss.FillBytes(out[32:])
		return out, nil
	}
	return ed25519.Sign(s.key.(ed25519.PrivateKey), msg), nil
}
func (s *keySigner) Algorithm() string { return s.alg }
func (s *keySigner) KeyID() string     { return s.id }
func (s *keySigner) PublicKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), err
}

// Checkpoints signed with RSA and ECDSA P-256 keys (as Vault Transit rsa-*
// and ecdsa-p256 keys sign them) verify with NewVerifier; another key, a
// rewritten head or a mislabelled algorithm do not.
func TestCheckpointsWithRSAAndECDSA(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	for name, k := range map[string]crypto.Signer{"rs256": rk, "es256": ek, "ed25519": edk} {
		t.Run(name, func(t *testing.T) {
			s := newKeySigner(t, k)
			if s.alg != name || !strings.HasPrefix(s.id, name+":") {
				t.Fatalf("alg %s id %s", s.alg, s.id)
			}
			o := logOpts(t)
			o.Signer, o.CheckpointEvery = s, 10
			files := makeLog(t, o, 25)
			pub, _ := s.PublicKeyPEM()
			v, err := NewVerifier(pub)
			if err != nil {
				t.Fatal(err)
			}
			res := mustVerify(t, files, VerifyOptions{Verifier: v})
			if !res.Intact || res.Checkpoints < 3 || res.SignedThrough < 25 {
				t.Fatalf("signed log: %+v %v", res, res.Problem)
			}
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			opub, _ := newKeySigner(t, other).PublicKeyPEM()
			ov, _ := NewVerifier(opub)
			if res := mustVerify(t, files, VerifyOptions{Verifier: ov}); res.Intact || !strings.Contains(res.Problem.Reason, "unknown signing key") {
				t.Fatalf("verified with another key: %+v", res.Problem)
			}
			msg := CheckpointMessage(7, "abc")
			sig, _ := s.Sign(context.Background(), msg)
			if err := v.Verify(context.Background(), s.alg, s.id, msg, sig); err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(context.Background(), s.alg, s.id, CheckpointMessage(8, "abc"), sig); err == nil {
				t.Fatal("signature verified another message")
			}
			wrong := map[string]string{"rs256": "es256", "es256": "ed25519", "ed25519": "rs256"}[name]
			if err := v.Verify(context.Background(), wrong, s.id, msg, sig); err == nil || !strings.Contains(err.Error(), "does not match") {
				t.Fatalf("mislabelled algorithm: %v", err)
			}
			// Checkpoints written before key ids carried the algorithm
			// named the Transit key: the fingerprint still picks it.
			legacy := "transit:audit-key:" + s.id[strings.Index(s.id, ":")+1:]
			if err := v.Verify(context.Background(), s.alg, legacy, msg, sig); err != nil {
				t.Fatalf("legacy key id: %v", err)
			}
		})
	}
}

func TestKeyIDMatchesEd25519KeyID(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	id, err := KeyID(pub)
	if err != nil || id != Ed25519KeyID(pub) {
		t.Fatalf("KeyID %s, Ed25519KeyID %s, %v", id, Ed25519KeyID(pub), err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]crypto.PublicKey{"rsa-1024": &small.PublicKey, "p384": &p384.PublicKey} {
		if _, err := AlgorithmFor(k); err == nil {
			t.Errorf("%s accepted for checkpoints", name)
		}
	}
}
