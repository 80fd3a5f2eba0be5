package vault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	vapi "github.com/hashicorp/vault/api"
)

// Signer signs JWTs for the broker: SignJWT returns the JWS signature over
// signingInput ("header.claims") and the JWS alg it used.
type Signer interface {
	SignJWT(ctx context.Context, key string, signingInput []byte) (sig []byte, alg string, err error)
	PublicKey(ctx context.Context, key string) (crypto.PublicKey, error)
}

// Transit signs with Vault Transit keys, which never leave Vault: rsa-2048
// keys give RS256 (PKCS#1 v1.5, SHA-256), ecdsa-p256 keys ES256 (JWS
// marshaling, so the signature is already r||s).
type Transit struct {
	client *vapi.Client
	mount  string

	mu    sync.Mutex
	types map[string]string
}

// NewTransit returns a Transit signer on mount (default "transit").
func NewTransit(client *vapi.Client, mount string) *Transit {
	if mount == "" {
		mount = "transit"
	}
	return &Transit{client: client, mount: strings.Trim(mount, "/"), types: map[string]string{}}
}

// KeyInfo describes a Transit key.
type KeyInfo struct {
	Name          string
	Type          string // rsa-2048, ecdsa-p256, ...
	LatestVersion int
	PublicKeyPEM  []byte // of the latest version
}

// CreateKey creates a signing key of type "rsa-2048" or "ecdsa-p256".
func (t *Transit) CreateKey(ctx context.Context, name, typ string) error {
	if _, err := t.client.Logical().WriteWithContext(ctx, t.mount+"/keys/"+name, map[string]any{"type": typ}); err != nil {
		return fmt.Errorf("transit: create key %s: %w", name, err)
	}
	return nil
}

// Rotate adds a new key version; later signatures use it.
func (t *Transit) Rotate(ctx context.Context, name string) (*KeyInfo, error) {
	if _, err := t.client.Logical().WriteWithContext(ctx, t.mount+"/keys/"+name+"/rotate", nil); err != nil {
		return nil, fmt.Errorf("transit: rotate key %s: %w", name, err)
	}
	return t.Key(ctx, name)
}

// Key reads a key's type and latest public key.
func (t *Transit) Key(ctx context.Context, name string) (*KeyInfo, error) {
	sec, err := t.client.Logical().ReadWithContext(ctx, t.mount+"/keys/"+name)
	if err != nil {
		return nil, fmt.Errorf("transit: read key %s: %w", name, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("transit: key %s: %w", name, ErrNotFound)
	}
	ki := &KeyInfo{Name: name}
	ki.Type, _ = sec.Data["type"].(string)
	ki.LatestVersion = intField(sec.Data["latest_version"])
	keys, _ := sec.Data["keys"].(map[string]any)
	if kv, ok := keys[strconv.Itoa(ki.LatestVersion)].(map[string]any); ok {
		if pk, ok := kv["public_key"].(string); ok {
			ki.PublicKeyPEM = []byte(pk)
		}
	}
	t.mu.Lock()
	t.types[name] = ki.Type
	t.mu.Unlock()
	return ki, nil
}

func intField(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	case interface{ Int64() (int64, error) }: // json.Number
		i, _ := n.Int64()
		return int(i)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

// PublicKey returns the latest public key of a Transit key.
func (t *Transit) PublicKey(ctx context.Context, name string) (crypto.PublicKey, error) {
	ki, err := t.Key(ctx, name)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(ki.PublicKeyPEM)
	if blk == nil {
		return nil, fmt.Errorf("transit: key %s has no public key (type %s)", name, ki.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("transit: key %s: %w", name, err)
	}
	return pub, nil
}

func (t *Transit) keyType(ctx context.Context, name string) (string, error) {
	t.mu.Lock()
	typ, ok := t.types[name]
	t.mu.Unlock()
	if ok {
		return typ, nil
	}
	ki, err := t.Key(ctx, name)
	if err != nil {
		return "", err
	}
	return ki.Type, nil
}

// SignJWT implements Signer.
func (t *Transit) SignJWT(ctx context.Context, name string, signingInput []byte) ([]byte, string, error) {
	typ, err := t.keyType(ctx, name)
	if err != nil {
		return nil, "", err
	}
	req := map[string]any{"input": base64.StdEncoding.EncodeToString(signingInput), "hash_algorithm": "sha2-256"}
	var alg string
	switch typ {
	case "rsa-2048", "rsa-3072", "rsa-4096":
		alg = "RS256"
		req["signature_algorithm"] = "pkcs1v15"
	case "ecdsa-p256":
		alg = "ES256"
		req["marshaling_algorithm"] = "jws"
	default:
		return nil, "", fmt.Errorf("transit: key %s has type %q; JWT signing needs rsa-2048 or ecdsa-p256", name, typ)
	}
	sec, err := t.client.Logical().WriteWithContext(ctx, t.mount+"/sign/"+name, req)
	if err != nil {
		return nil, "", fmt.Errorf("transit: sign with %s: %w", name, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, "", fmt.Errorf("transit: sign with %s: empty response", name)
	}
	s, _ := sec.Data["signature"].(string)
	sig, err := decodeTransitSignature(s, alg == "ES256")
	if err != nil {
		return nil, "", fmt.Errorf("transit: sign with %s: %w", name, err)
	}
	return sig, alg, nil
}

// Sign signs msg (hashed with SHA-256 by Vault) and returns the raw
// signature: PKCS#1 v1.5 for RSA, r||s for ECDSA.
func (t *Transit) Sign(ctx context.Context, name string, msg []byte) ([]byte, error) {
	sig, _, err := t.SignJWT(ctx, name, msg)
	return sig, err
}

// decodeTransitSignature strips "vault:vN:" and decodes the rest: standard
// base64 normally, base64url for JWS marshaling.
func decodeTransitSignature(s string, jws bool) ([]byte, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		return nil, errors.New("unexpected signature format")
	}
	body := parts[2]
	if jws {
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(body, "="))
	}
	return base64.StdEncoding.DecodeString(body)
}

// localSigner signs with a PEM key held in the store.
type localSigner struct{ key crypto.Signer }

func parsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no private key PEM block")
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, errors.New("unparseable PKCS#8 private key")
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, errors.New("unsupported private key type")
			}
			return s, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, errors.New("unparseable RSA private key")
			}
			return k, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(blk.Bytes)
			if err != nil {
				return nil, errors.New("unparseable EC private key")
			}
			return k, nil
		}
	}
}

func jwsAlg(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		if p.Curve.Params().BitSize == 256 {
			return "ES256", nil
		}
	}
	return "", errors.New("unsupported key type for JWT signing (want RSA or EC P-256)")
}
