package vault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
)

// GenerateKeyPEM makes a new signing key, "rsa" (2048 bits) or "ec" (P-256),
// and returns the private key (PKCS#8 PEM) and its public key (PKIX PEM).
func GenerateKeyPEM(kind string) (privPEM, pubPEM []byte, err error) {
	var k crypto.Signer
	switch kind {
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ec":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, nil, fmt.Errorf("key type %q: want rsa or ec", kind)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", kind, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

// PublicKeyFingerprint is the hex SHA-256 of a PKIX public key PEM's DER.
func PublicKeyFingerprint(pubPEM []byte) string {
	blk, _ := pem.Decode(pubPEM)
	if blk == nil {
		return ""
	}
	h := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(h[:])
}
