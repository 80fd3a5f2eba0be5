package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/syncgate/syncgate/internal/keyfile"
)

// Signer signs checkpoint messages. The key may live outside the process
// (a Vault Transit key never leaves Vault); implementations must be safe
// for concurrent use.
type Signer interface {
	// Sign returns the raw signature over msg (for Ed25519, 64 bytes).
	Sign(ctx context.Context, msg []byte) ([]byte, error)
	// Algorithm names the signature algorithm, e.g. "ed25519".
	Algorithm() string
	// KeyID identifies the key (and version) so that a verifier holding
	// several public keys picks the right one.
	KeyID() string
	// PublicKeyPEM is the public key as a PEM "PUBLIC KEY" (PKIX) block.
	PublicKeyPEM() ([]byte, error)
}

// Verifier checks checkpoint signatures.
type Verifier interface {
	Verify(ctx context.Context, alg, keyID string, msg, sig []byte) error
}

// AlgEd25519 is the only algorithm the built-in signer and verifier use.
const AlgEd25519 = "ed25519"

// CheckpointMessage is the exact byte string a checkpoint signs: it binds the
// number of records covered (the seq of the last covered record) to the
// chain head (that record's hash).
func CheckpointMessage(count uint64, head string) []byte {
	return []byte("syncgate-audit-checkpoint-v1\n" + strconv.FormatUint(count, 10) + "\n" + head + "\n")
}

// Ed25519Signer signs with an Ed25519 private key held in memory.
type Ed25519Signer struct {
	key   ed25519.PrivateKey
	keyID string
}

// Ed25519KeyID derives a stable key id from a public key: "ed25519:" and
// the first 16 hex digits of the SHA-256 of its PKIX DER.
func Ed25519KeyID(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "ed25519:invalid"
	}
	sum := sha256.Sum256(der)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// NewEd25519Signer parses a PEM "PRIVATE KEY" (PKCS #8) block holding an
// Ed25519 key.
func NewEd25519Signer(pemBytes []byte) (*Ed25519Signer, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("audit: signing key: no PEM block found")
	}
	if blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit: signing key: PEM block is %q, want \"PRIVATE KEY\" (PKCS #8)", blk.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		// The parse error never contains key material, only its structure.
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit: signing key is %T, want Ed25519", k)
	}
	return &Ed25519Signer{key: ek, keyID: Ed25519KeyID(ek.Public().(ed25519.PublicKey))}, nil
}

// NewEd25519SignerFile reads the PEM private key from path.
func NewEd25519SignerFile(path string) (*Ed25519Signer, error) {
	if err := keyfile.CheckPrivate(path, "audit signing key"); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: read signing key: %w", err)
	}
	return NewEd25519Signer(b)
}

// GenerateEd25519Key returns a new private key as PEM (PKCS #8).
func GenerateEd25519Key() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("audit: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("audit: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Sign implements Signer.
func (s *Ed25519Signer) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ed25519.Sign(s.key, msg), nil
}

// Algorithm implements Signer.
func (s *Ed25519Signer) Algorithm() string { return AlgEd25519 }

// KeyID implements Signer.
func (s *Ed25519Signer) KeyID() string { return s.keyID }

// PublicKeyPEM implements Signer.
func (s *Ed25519Signer) PublicKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		return nil, fmt.Errorf("audit: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Ed25519Verifier verifies checkpoints against a set of Ed25519 public
// keys, selected by key id (so rotated keys can all be given).
type Ed25519Verifier struct {
	keys map[string]ed25519.PublicKey
}

// NewEd25519Verifier parses one or more PEM inputs, each holding one or more
// "PUBLIC KEY" blocks.
func NewEd25519Verifier(pems ...[]byte) (*Ed25519Verifier, error) {
	v := &Ed25519Verifier{keys: map[string]ed25519.PublicKey{}}
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
			ek, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("audit: public key is %T, want Ed25519", k)
			}
			v.keys[Ed25519KeyID(ek)] = ek
		}
	}
	if len(v.keys) == 0 {
		return nil, errors.New("audit: no PEM \"PUBLIC KEY\" block found")
	}
	return v, nil
}

// Verify implements Verifier.
func (v *Ed25519Verifier) Verify(_ context.Context, alg, keyID string, msg, sig []byte) error {
	if alg != AlgEd25519 {
		return fmt.Errorf("unsupported signature algorithm %q", alg)
	}
	k, ok := v.keys[keyID]
	if !ok {
		return fmt.Errorf("unknown signing key %q", keyID)
	}
	if !ed25519.Verify(k, msg, sig) {
		return errors.New("bad signature")
	}
	return nil
}
