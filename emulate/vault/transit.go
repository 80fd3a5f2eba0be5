package vault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"hash"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Transit, for the asymmetric key types syncgate signs with.
// https://developer.hashicorp.com/vault/api-docs/secret/transit
//
// Public keys are returned as Vault formats them (sdk/helper/keysutil
// policy.go, FormattedPublicKey): ed25519 as the standard base64 of the raw
// 32-byte key; rsa-* and ecdsa-* as a PEM "PUBLIC KEY" (PKIX) block.

type transitKey struct {
	typ      string
	versions []crypto.Signer
	created  []time.Time
	deletion bool
	minDecrypt,
	minEncrypt int
}

var keyTypes = map[string]string{ // type -> the "name" Vault shows per version
	"rsa-2048": "rsa-2048", "rsa-3072": "rsa-3072", "rsa-4096": "rsa-4096",
	"ecdsa-p256": "P-256", "ecdsa-p384": "P-384", "ed25519": "ed25519",
}

func (e *Emulator) transitRoute(keys map[string]*transitKey, req *request, rest string) (int, map[string]any, *apiError) {
	op, tail, _ := strings.Cut(rest, "/")
	name, sub, _ := strings.Cut(tail, "/")
	method, body := req.method, req.body
	write := method == http.MethodPost || method == http.MethodPut
	switch op {
	case "keys":
		k := keys[name]
		switch {
		case name == "" && method == "LIST":
			var names []string
			for n := range keys {
				names = append(names, n)
			}
			if len(names) == 0 {
				return 0, nil, errNotFound
			}
			sort.Strings(names)
			return 200, map[string]any{"data": map[string]any{"keys": names}}, nil
		case sub == "" && write:
			if k != nil {
				resp := e.keyInfo(name, k)
				resp["warnings"] = []string{"key " + name + " already existed"}
				return 200, resp, nil
			}
			typ, _ := body["type"].(string)
			if typ == "" {
				typ = "aes256-gcm96"
			}
			if _, ok := keyTypes[typ]; !ok {
				return 0, nil, errf(400, "the emulator's transit has the signing key types rsa-2048/3072/4096, ecdsa-p256/p384 and ed25519, not %q", typ)
			}
			k = &transitKey{typ: typ}
			if err := k.rotate(e.clk.Now()); err != nil {
				return 0, nil, errf(500, "%v", err)
			}
			keys[name] = k
			return 200, e.keyInfo(name, k), nil
		case k == nil && method == http.MethodGet:
			return 0, nil, errNotFound
		case sub == "" && method == http.MethodGet:
			return 200, e.keyInfo(name, k), nil
		case sub == "" && method == http.MethodDelete:
			if k == nil {
				return 204, nil, nil
			}
			if !k.deletion {
				return 0, nil, errf(400, "error deleting policy %s: deletion is not allowed for this key", name)
			}
			delete(keys, name)
			return 204, nil, nil
		case k == nil:
			return 0, nil, errf(400, "key not found")
		case sub == "rotate" && write:
			if err := k.rotate(e.clk.Now()); err != nil {
				return 0, nil, errf(500, "%v", err)
			}
			return 200, e.keyInfo(name, k), nil
		case sub == "config" && write:
			if d, ok := boolField(body, "deletion_allowed"); ok {
				k.deletion = d
			}
			if v, ok := intField(body, "min_decryption_version"); ok {
				if v > len(k.versions) {
					return 0, nil, errf(400, "cannot set min decryption version of %d, latest key version is %d", v, len(k.versions))
				}
				k.minDecrypt = v
			}
			if v, ok := intField(body, "min_encryption_version"); ok {
				k.minEncrypt = v
			}
			return 200, e.keyInfo(name, k), nil
		}
	case "sign":
		if write {
			return e.sign(keys[name], sub, body)
		}
	case "verify":
		if write {
			return e.verify(keys[name], sub, body)
		}
	}
	return 0, nil, errf(405, "unsupported operation")
}

func (k *transitKey) rotate(now time.Time) error {
	var s crypto.Signer
	var err error
	switch k.typ {
	case "rsa-2048":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa-3072":
		s, err = rsa.GenerateKey(rand.Reader, 3072)
	case "rsa-4096":
		s, err = rsa.GenerateKey(rand.Reader, 4096)
	case "ed25519":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa-p384":
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return err
	}
	k.versions = append(k.versions, s)
	k.created = append(k.created, now)
	return nil
}

// formattedPublicKey is keysutil's FormattedPublicKey for a version.
func formattedPublicKey(s crypto.Signer) string {
	if pub, ok := s.Public().(ed25519.PublicKey); ok {
		return base64.StdEncoding.EncodeToString(pub)
	}
	der, _ := x509.MarshalPKIXPublicKey(s.Public())
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keyInfo follows GET transit/keys/:name (path_keys.go formatKeyPolicy).
func (e *Emulator) keyInfo(name string, k *transitKey) map[string]any {
	keys := map[string]any{}
	for i, s := range k.versions {
		keys[strconv.Itoa(i+1)] = map[string]any{
			"creation_time": k.created[i].UTC().Format(time.RFC3339Nano), "name": keyTypes[k.typ],
			"public_key": formattedPublicKey(s), "certificate_chain": "",
		}
	}
	rsaKey := strings.HasPrefix(k.typ, "rsa-")
	minDecrypt := k.minDecrypt
	if minDecrypt == 0 {
		minDecrypt = 1
	}
	return map[string]any{"data": map[string]any{
		"name": name, "type": k.typ, "derived": false, "latest_version": len(k.versions), "min_available_version": 0,
		"min_decryption_version": minDecrypt, "min_encryption_version": k.minEncrypt,
		"deletion_allowed": k.deletion, "exportable": false, "allow_plaintext_backup": false, "imported_key": false,
		"supports_signing": true, "supports_encryption": rsaKey, "supports_decryption": rsaKey,
		"supports_derivation": k.typ == "ed25519", "auto_rotate_period": 0, "keys": keys,
	}}
}

type signParams struct {
	input     []byte
	hashAlg   string
	sigAlg    string
	marshal   string
	prehashed bool
	version   int
}

// parseSignParams reads the sign/verify parameters with Vault's defaults
// (sha2-256, pss, asn1) and its error texts (path_sign_verify.go).
func parseSignParams(sub string, body map[string]any) (signParams, *apiError) {
	p := signParams{hashAlg: "sha2-256", sigAlg: "pss", marshal: "asn1"}
	if sub != "" {
		p.hashAlg = sub
	}
	if h, ok := body["hash_algorithm"].(string); ok && h != "" {
		p.hashAlg = h
	}
	switch p.hashAlg {
	case "sha2-256", "sha2-384", "sha2-512":
	default:
		return p, errf(400, "invalid hash algorithm %q", p.hashAlg)
	}
	if s, ok := body["signature_algorithm"].(string); ok && s != "" {
		p.sigAlg = s
	}
	if m, ok := body["marshaling_algorithm"].(string); ok && m != "" {
		p.marshal = m
	}
	if p.marshal != "asn1" && p.marshal != "jws" {
		return p, errf(400, "invalid marshaling type %q", p.marshal)
	}
	in, _ := body["input"].(string)
	raw, err := base64.StdEncoding.DecodeString(in)
	if err != nil {
		return p, errf(400, "unable to decode input as base64: %s", err)
	}
	p.input = raw
	p.prehashed, _ = boolField(body, "prehashed")
	p.version, _ = intField(body, "key_version")
	return p, nil
}

func (p signParams) digest() ([]byte, crypto.Hash) {
	var h hash.Hash
	var ch crypto.Hash
	switch p.hashAlg {
	case "sha2-384":
		h, ch = sha512.New384(), crypto.SHA384
	case "sha2-512":
		h, ch = sha512.New(), crypto.SHA512
	default:
		h, ch = sha256.New(), crypto.SHA256
	}
	if p.prehashed {
		return p.input, ch
	}
	h.Write(p.input)
	return h.Sum(nil), ch
}

func (p signParams) encode(sig []byte) string {
	if p.marshal == "jws" {
		return base64.RawURLEncoding.EncodeToString(sig)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

type ecSig struct{ R, S *big.Int }

// sign follows POST transit/sign/:name[/:hash_algorithm]: the signature is
// "vault:v<version>:<base64>", made with key_version (0: the latest).
// https://developer.hashicorp.com/vault/api-docs/secret/transit#sign-data
func (e *Emulator) sign(k *transitKey, sub string, body map[string]any) (int, map[string]any, *apiError) {
	p, aerr := parseSignParams(sub, body)
	if aerr != nil {
		return 0, nil, aerr
	}
	if k == nil {
		return 0, nil, errf(400, "signing key not found")
	}
	ver := p.version
	switch {
	case ver == 0:
		ver = len(k.versions)
	case ver < 0:
		return 0, nil, errf(400, "requested version for signing is negative")
	case ver > len(k.versions):
		return 0, nil, errf(400, "requested version for signing is higher than the latest key version")
	case k.minEncrypt > 0 && ver < k.minEncrypt:
		return 0, nil, errf(400, "requested version for signing is less than the minimum encryption key version")
	}
	var sig []byte
	var err error
	switch key := k.versions[ver-1].(type) {
	case ed25519.PrivateKey:
		// Ed25519 signs the input itself: no hash parameters apply.
		sig = ed25519.Sign(key, p.input)
	case *rsa.PrivateKey:
		d, ch := p.digest()
		switch p.sigAlg {
		case "pkcs1v15":
			sig, err = rsa.SignPKCS1v15(rand.Reader, key, ch, d)
		case "pss":
			sig, err = rsa.SignPSS(rand.Reader, key, ch, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		default:
			return 0, nil, errf(500, "unsupported rsa signature algorithm %s", p.sigAlg)
		}
	case *ecdsa.PrivateKey:
		d, _ := p.digest()
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key, d)
		if err == nil {
			if p.marshal == "jws" {
				n := (key.Curve.Params().BitSize + 7) / 8
				sig = make([]byte, 2*n)
				r.FillBytes(sig[:n])
				s.FillBytes(sig[n:])
			} else {
				sig, err = asn1.Marshal(ecSig{r, s})
			}
		}
	}
	if err != nil {
		return 0, nil, errf(500, "sign: %v", err)
	}
	return 200, map[string]any{"data": map[string]any{"signature": fmt.Sprintf("vault:v%d:%s", ver, p.encode(sig)), "key_version": ver}}, nil
}

// verify follows POST transit/verify/:name[/:hash_algorithm]: the version
// in the signature picks the key; a wrong signature is {"valid": false}, a
// malformed one a 400 with keysutil's text.
// https://developer.hashicorp.com/vault/api-docs/secret/transit#verify-signed-data
func (e *Emulator) verify(k *transitKey, sub string, body map[string]any) (int, map[string]any, *apiError) {
	p, aerr := parseSignParams(sub, body)
	if aerr != nil {
		return 0, nil, aerr
	}
	if k == nil {
		return 0, nil, errf(400, "signature verification key not found")
	}
	sigStr, _ := body["signature"].(string)
	if sigStr == "" {
		return 0, nil, errf(400, "neither a 'signature' nor an 'hmac' were given to verify")
	}
	if !strings.HasPrefix(sigStr, "vault:v") {
		return 0, nil, errf(400, "invalid signature: no prefix")
	}
	parts := strings.SplitN(strings.TrimPrefix(sigStr, "vault:v"), ":", 2)
	if len(parts) != 2 {
		return 0, nil, errf(400, "invalid signature: wrong number of fields")
	}
	ver, err := strconv.Atoi(parts[0])
	if err != nil {
		return 0, nil, errf(400, "invalid signature: version number could not be decoded")
	}
	if ver > len(k.versions) {
		return 0, nil, errf(400, "invalid signature: version is too new")
	}
	if (k.minDecrypt > 0 && ver < k.minDecrypt) || ver < 1 {
		return 0, nil, errf(400, "ciphertext or signature version is disallowed by policy (too old)")
	}
	var sig []byte
	if p.marshal == "jws" {
		sig, err = base64.RawURLEncoding.DecodeString(parts[1])
	} else {
		sig, err = base64.StdEncoding.DecodeString(parts[1])
	}
	if err != nil {
		return 0, nil, errf(400, "invalid base64 signature value")
	}
	valid := false
	switch pub := k.versions[ver-1].Public().(type) {
	case ed25519.PublicKey:
		valid = ed25519.Verify(pub, p.input, sig)
	case *rsa.PublicKey:
		d, ch := p.digest()
		if p.sigAlg == "pkcs1v15" {
			valid = rsa.VerifyPKCS1v15(pub, ch, d, sig) == nil
		} else {
			valid = rsa.VerifyPSS(pub, ch, d, sig, nil) == nil
		}
	case *ecdsa.PublicKey:
		d, _ := p.digest()
		if p.marshal == "jws" {
			n := (pub.Curve.Params().BitSize + 7) / 8
			if len(sig) == 2*n {
				valid = ecdsa.Verify(pub, d, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
			}
		} else {
			var es ecSig
			if rest, err := asn1.Unmarshal(sig, &es); err != nil || len(rest) != 0 {
				return 0, nil, errf(400, "supplied signature is invalid")
			}
			valid = ecdsa.VerifyASN1(pub, d, sig)
		}
	}
	return 200, map[string]any{"data": map[string]any{"valid": valid}}, nil
}
