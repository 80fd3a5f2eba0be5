package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Checkpoint signature algorithms besides AlgEd25519, for signers whose key
// lives elsewhere (Vault Transit rsa-* and ecdsa-p256 keys).
const (
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RSA keys of 2048 bits or more).
	AlgRS256 = "rs256"
	// AlgES256 is ECDSA P-256 with SHA-256; the signature is r||s, 64 bytes.
	AlgES256 = "es256"
)

// AlgorithmFor returns the checkpoint algorithm for a public key: ed25519,
// rs256 (RSA of at least 2048 bits) or es256 (ECDSA P-256). Other keys
// cannot sign checkpoints.
func AlgorithmFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return AlgEd25519, nil
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return AlgRS256, nil
		}
		return "", fmt.Errorf("audit: RSA key of %d bits: checkpoints need at least 2048", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return AlgES256, nil
		}
		return "", fmt.Errorf("audit: ECDSA key on %s: checkpoints need P-256", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("audit: %T cannot sign checkpoints (want Ed25519, RSA or ECDSA P-256)", pub)
}

// KeyID derives the key id a checkpoint names: the algorithm, a colon and
// the first 16 hex digits of the SHA-256 of the key's PKIX DER. For an
// Ed25519 key it equals Ed25519KeyID.
func KeyID(pub crypto.PublicKey) (string, error) {
	alg, err := AlgorithmFor(pub)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("audit: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return alg + ":" + hex.EncodeToString(sum[:8]), nil
}

// VerifySignature checks a checkpoint signature made with alg by pub.
func VerifySignature(pub crypto.PublicKey, alg string, msg, sig []byte) error {
	want, err := AlgorithmFor(pub)
	if err != nil {
		return err
	}
	if alg != want {
		return fmt.Errorf("signature algorithm %q does not match the %s key", alg, want)
	}
	ok := false
	switch k := pub.(type) {
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		ok = len(sig) == 64 && ecdsa.Verify(k, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	}
	if !ok {
		return errors.New("bad signature")
	}
	return nil
}

// PublicKeyVerifier verifies checkpoints against a set of Ed25519, RSA and
// ECDSA P-256 public keys, selected by key id. It also accepts key ids of
// the older form "transit:NAME:HEX": the hex fingerprint picks the key.
type PublicKeyVerifier struct {
	keys map[string]crypto.PublicKey // fingerprint (16 hex) -> key
}

// NewVerifier parses one or more PEM inputs, each holding one or more
// "PUBLIC KEY" blocks (as `audit pubkey` prints them).
func NewVerifier(pems ...[]byte) (*PublicKeyVerifier, error) {
	v := &PublicKeyVerifier{keys: map[string]crypto.PublicKey{}}
	for _, p := range pems {
		rest := p
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "PUBLIC KEY" {
				return nil, fmt.Errorf("audit: public key: PEM block is %q, want \"PUBLIC KEY\"", blk.Type)
			}
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("audit: public key: %w", err)
			}
			id, err := KeyID(k)
			if err != nil {
				return nil, err
			}
			v.keys[id[strings.LastIndex(id, ":")+1:]] = k
		}
	}
	if len(v.keys) == 0 {
		return nil, errors.New("audit: no PEM \"PUBLIC KEY\" block found")
	}
	return v, nil
}

// Verify implements Verifier.
func (v *PublicKeyVerifier) Verify(_ context.Context, alg, keyID string, msg, sig []byte) error {
	k, ok := v.keys[keyID[strings.LastIndex(keyID, ":")+1:]]
	if !ok {
		return fmt.Errorf("unknown signing key %q", keyID)
	}
	return VerifySignature(k, alg, msg, sig)
}
