package vault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
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

// Transit signs with Vault Transit keys, which never leave Vault: rsa-*
// keys give RS256 (PKCS#1 v1.5, SHA-256), ecdsa-p256 keys ES256 (JWS
// marshaling, so the signature is already r||s).
type Transit struct {
	client *vapi.Client
	mount  string
	// do runs a Vault call; the store sets it to log in again when the
	// token died and to name the capability an ACL refusal lacks.
	do func(ctx context.Context, op func() error) error

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

func (t *Transit) run(ctx context.Context, op func() error) error {
	if t.do != nil {
		return t.do(ctx, op)
	}
	return op()
}

func (t *Transit) write(ctx context.Context, path string, data map[string]any) (*vapi.Secret, error) {
	var sec *vapi.Secret
	err := t.run(ctx, func() error {
		var err error
		sec, err = t.client.Logical().WriteWithContext(ctx, t.mount+"/"+path, data)
		return err
	})
	return sec, err
}

// KeyVersion is one version of a Transit key's public half.
type KeyVersion struct {
	Version      int
	PublicKey    crypto.PublicKey
	PublicKeyPEM []byte // PKIX "PUBLIC KEY", whatever format Vault used
}

// KeyInfo describes a Transit key.
type KeyInfo struct {
	Name          string
	Type          string // rsa-2048, ecdsa-p256, ed25519, ...
	LatestVersion int
	PublicKey     crypto.PublicKey // of the latest version
	PublicKeyPEM  []byte           // of the latest version, PKIX PEM
	Versions      []KeyVersion     // every version Vault lists, oldest first
}

// CreateKey creates a signing key of a Transit type such as "rsa-2048",
// "ecdsa-p256" or "ed25519".
func (t *Transit) CreateKey(ctx context.Context, name, typ string) error {
	if _, err := t.write(ctx, "keys/"+name, map[string]any{"type": typ}); err != nil {
		return fmt.Errorf("transit: create key %s: %w", name, err)
	}
	return nil
}

// Rotate adds a new key version; later signatures use it.
func (t *Transit) Rotate(ctx context.Context, name string) (*KeyInfo, error) {
	if _, err := t.write(ctx, "keys/"+name+"/rotate", nil); err != nil {
		return nil, fmt.Errorf("transit: rotate key %s: %w", name, err)
	}
	return t.Key(ctx, name)
}

// Key reads a key's type and public keys. Vault returns an ed25519 public
// key as the standard base64 of its 32 raw bytes and rsa and ecdsa keys as
// PEM (keysutil's FormattedPublicKey); both come back here as PKIX PEM.
func (t *Transit) Key(ctx context.Context, name string) (*KeyInfo, error) {
	var sec *vapi.Secret
	err := t.run(ctx, func() error {
		var err error
		sec, err = t.client.Logical().ReadWithContext(ctx, t.mount+"/keys/"+name)
		return err
	})
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
	for v, raw := range keys {
		n, err := strconv.Atoi(v)
		kv, ok := raw.(map[string]any)
		if err != nil || !ok {
			continue // a symmetric key lists creation times only
		}
		pk, _ := kv["public_key"].(string)
		if pk == "" {
			continue
		}
		pub, err := parseTransitPublicKey(ki.Type, pk)
		if err != nil {
			return nil, fmt.Errorf("transit: key %s version %d: %w", name, n, err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("transit: key %s version %d: %w", name, n, err)
		}
		ki.Versions = append(ki.Versions, KeyVersion{Version: n, PublicKey: pub, PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})})
	}
	sort.Slice(ki.Versions, func(i, j int) bool { return ki.Versions[i].Version < ki.Versions[j].Version })
	for _, v := range ki.Versions {
		if v.Version == ki.LatestVersion {
			ki.PublicKey, ki.PublicKeyPEM = v.PublicKey, v.PublicKeyPEM
		}
	}
	t.mu.Lock()
	t.types[name] = ki.Type
	t.mu.Unlock()
	return ki, nil
}

// parseTransitPublicKey reads a public_key as Vault formats it for typ: PEM
// (rsa-*, ecdsa-*), or standard base64 of the raw key (ed25519). Either
// form is accepted for any type, and the key must match the type.
func parseTransitPublicKey(typ, s string) (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key PEM: %w", err)
		}
		pub = k
	} else {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, errors.New("public key is neither PEM nor base64")
		}
		if len(raw) == ed25519.PublicKeySize {
			pub = ed25519.PublicKey(raw)
		} else if k, err := x509.ParsePKIXPublicKey(raw); err == nil {
			pub = k
		} else {
			return nil, fmt.Errorf("public key: %d base64 bytes are neither a raw ed25519 key nor PKIX DER", len(raw))
		}
	}
	ok := false
	switch {
	case typ == "ed25519":
		_, ok = pub.(ed25519.PublicKey)
	case strings.HasPrefix(typ, "rsa-"):
		_, ok = pub.(*rsa.PublicKey)
	case strings.HasPrefix(typ, "ecdsa-"):
		_, ok = pub.(*ecdsa.PublicKey)
	}
	if !ok {
		return nil, fmt.Errorf("public key is %T, not a %s key", pub, typ)
	}
	return pub, nil
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
	if ki.PublicKey == nil {
		return nil, fmt.Errorf("transit: key %s (type %s) has no public key", name, ki.Type)
	}
	return ki.PublicKey, nil
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

// signParams returns the sign request for a key type and the JWS alg it
// gives: RS256 for rsa-*, ES256 for ecdsa-p256, EdDSA for ed25519.
func signParams(typ string, input []byte) (map[string]any, string, error) {
	req := map[string]any{"input": base64.StdEncoding.EncodeToString(input)}
	switch typ {
	case "rsa-2048", "rsa-3072", "rsa-4096":
		req["hash_algorithm"], req["signature_algorithm"] = "sha2-256", "pkcs1v15"
		return req, "RS256", nil
	case "ecdsa-p256":
		req["hash_algorithm"], req["marshaling_algorithm"] = "sha2-256", "jws"
		return req, "ES256", nil
	case "ed25519":
		return req, "EdDSA", nil
	}
	return nil, "", fmt.Errorf("key type %q cannot sign here (want rsa-2048/3072/4096, ecdsa-p256 or ed25519)", typ)
}

// signRaw signs input with key version (0: the latest) and returns the raw
// signature and the version Vault used.
func (t *Transit) signRaw(ctx context.Context, name, typ string, version int, input []byte) ([]byte, string, int, error) {
	req, alg, err := signParams(typ, input)
	if err != nil {
		return nil, "", 0, fmt.Errorf("transit: key %s: %w", name, err)
	}
	if version > 0 {
		req["key_version"] = version
	}
	sec, err := t.write(ctx, "sign/"+name, req)
	if err != nil {
		return nil, "", 0, fmt.Errorf("transit: sign with %s: %w", name, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, "", 0, fmt.Errorf("transit: sign with %s: empty response", name)
	}
	str, _ := sec.Data["signature"].(string)
	sig, ver, err := decodeTransitSignature(str, alg == "ES256")
	if err != nil {
		return nil, "", 0, fmt.Errorf("transit: sign with %s: %w", name, err)
	}
	return sig, alg, ver, nil
}

// SignJWT implements Signer for rsa-* (RS256) and ecdsa-p256 (ES256) keys.
func (t *Transit) SignJWT(ctx context.Context, name string, signingInput []byte) ([]byte, string, error) {
	typ, err := t.keyType(ctx, name)
	if err != nil {
		return nil, "", err
	}
	if typ == "ed25519" {
		return nil, "", fmt.Errorf("transit: key %s has type %q; JWT signing needs rsa-2048 or ecdsa-p256", name, typ)
	}
	sig, alg, _, err := t.signRaw(ctx, name, typ, 0, signingInput)
	return sig, alg, err
}

// Sign signs msg (hashed with SHA-256 by Vault) and returns the raw
// signature: PKCS#1 v1.5 for RSA, r||s for ECDSA.
func (t *Transit) Sign(ctx context.Context, name string, msg []byte) ([]byte, error) {
	sig, _, err := t.SignJWT(ctx, name, msg)
	return sig, err
}

// decodeTransitSignature splits "vault:vN:" off and decodes the rest:
// standard base64 normally, base64url for JWS marshaling.
func decodeTransitSignature(s string, jws bool) ([]byte, int, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		return nil, 0, errors.New("unexpected signature format")
	}
	ver, err := strconv.Atoi(strings.TrimPrefix(parts[1], "v"))
	if err != nil || ver < 1 {
		return nil, 0, errors.New("unexpected signature key version")
	}
	body := parts[2]
	var sig []byte
	if jws {
		sig, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(body, "="))
	} else {
		sig, err = base64.StdEncoding.DecodeString(body)
	}
	return sig, ver, err
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
