package vault

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
)

// An intercept CA whose key is an ecdsa-p256 Transit key signs certificate
// digests: sign with "prehashed": true signs the base64 input as the digest
// (no second hash), hash_algorithm names the hash it came from, the default
// marshaling_algorithm "asn1" returns the DER ECDSA-Sig-Value that X.509
// and OpenSSL use, and key_version pins the version (the signature says
// which: "vault:vN:"). Verify with the same parameters accepts it.
// Follows https://developer.hashicorp.com/vault/api-docs/secret/transit#sign-data
// (parameters prehashed, hash_algorithm, marshaling_algorithm, key_version)
// and https://developer.hashicorp.com/vault/api-docs/secret/transit#verify-signed-data.
func TestTransitSignPrehashedECDSAForCertificates(t *testing.T) {
	e := New(Options{RootToken: "r"})
	if s, b := call(t, e, "POST", "/v1/transit/keys/ica", "r", `{"type":"ecdsa-p256"}`); s != 200 {
		t.Fatalf("create: %d %v", s, b)
	}
	call(t, e, "POST", "/v1/transit/keys/ica/rotate", "r", "")
	_, info := call(t, e, "GET", "/v1/transit/keys/ica", "r", "")
	pub := func(v string) *ecdsa.PublicKey {
		blk, _ := pem.Decode([]byte(dig(info, "data", "keys", v, "public_key").(string)))
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*ecdsa.PublicKey)
	}
	digest := sha256.Sum256([]byte("tbsCertificate"))
	in := base64.StdEncoding.EncodeToString(digest[:])
	for _, ver := range []int{1, 2} {
		st, s := call(t, e, "POST", "/v1/transit/sign/ica", "r",
			fmt.Sprintf(`{"input":%q,"prehashed":true,"hash_algorithm":"sha2-256","key_version":%d}`, in, ver))
		sigStr, _ := dig(s, "data", "signature").(string)
		prefix := fmt.Sprintf("vault:v%d:", ver)
		if st != 200 || !strings.HasPrefix(sigStr, prefix) || dig(s, "data", "key_version") != float64(ver) {
			t.Fatalf("sign v%d: %d %v", ver, st, s)
		}
		der, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sigStr, prefix))
		if err != nil {
			t.Fatalf("asn1 signature is not standard base64: %v", err)
		}
		if !ecdsa.VerifyASN1(pub(fmt.Sprint(ver)), digest[:], der) {
			t.Fatalf("v%d: the DER signature does not verify over the digest itself", ver)
		}
		if st, v := call(t, e, "POST", "/v1/transit/verify/ica", "r",
			fmt.Sprintf(`{"input":%q,"prehashed":true,"hash_algorithm":"sha2-256","signature":%q}`, in, sigStr)); st != 200 || dig(v, "data", "valid") != true {
			t.Fatalf("verify v%d: %d %v", ver, st, v)
		}
	}
	// Without prehashed, Vault hashes the input first: the signature is
	// over SHA-256(input), not over input.
	_, s := call(t, e, "POST", "/v1/transit/sign/ica", "r", fmt.Sprintf(`{"input":%q}`, in))
	der, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(dig(s, "data", "signature").(string), "vault:v2:"))
	twice := sha256.Sum256(digest[:])
	if ecdsa.VerifyASN1(pub("2"), digest[:], der) || !ecdsa.VerifyASN1(pub("2"), twice[:], der) {
		t.Fatal("sign without prehashed did not hash the input once")
	}
}
