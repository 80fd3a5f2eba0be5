package microsoft

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxAssertionLen bounds the work a hostile assertion can cause.
const maxAssertionLen = 16 << 10

// assertion is a parsed, not yet verified, client assertion (RFC 7523).
type assertion struct {
	alg, typ     string
	x5t, x5t256  string
	iss, sub     string
	aud          []string
	jti          string
	exp, nbf     int64
	hasExp       bool
	hasNbf       bool
	signingInput []byte
	sig          []byte
}

var errMalformed = errors.New("malformed JWT")

// parseAssertion splits and decodes a compact JWS. It checks structure and
// claim types only; signature and claim values are checked by the caller.
func parseAssertion(tok string) (*assertion, error) {
	if len(tok) > maxAssertionLen {
		return nil, fmt.Errorf("%w: too long", errMalformed)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want 3 parts, got %d", errMalformed, len(parts))
	}
	dec := base64.RawURLEncoding
	hb, err := dec.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header encoding", errMalformed)
	}
	cb, err := dec.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: claims encoding", errMalformed)
	}
	sig, err := dec.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", errMalformed)
	}
	var h struct {
		Alg    string `json:"alg"`
		Typ    string `json:"typ"`
		X5t    string `json:"x5t"`
		X5t256 string `json:"x5t#S256"`
	}
	if err := strictUnmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errMalformed, err)
	}
	var c map[string]json.RawMessage
	if err := strictUnmarshal(cb, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", errMalformed, err)
	}
	a := &assertion{alg: h.Alg, typ: h.Typ, x5t: h.X5t, x5t256: h.X5t256, sig: sig,
		signingInput: []byte(parts[0] + "." + parts[1])}
	str := func(k string, dst *string) error {
		raw, ok := c[k]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%w: claim %s is not a string", errMalformed, k)
		}
		return nil
	}
	num := func(k string, dst *int64, has *bool) error {
		raw, ok := c[k]
		if !ok {
			return nil
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || f != f || f > 1e15 || f < -1e15 {
			return fmt.Errorf("%w: claim %s is not a NumericDate", errMalformed, k)
		}
		*dst, *has = int64(f), true
		return nil
	}
	for _, e := range []error{str("iss", &a.iss), str("sub", &a.sub), str("jti", &a.jti),
		num("exp", &a.exp, &a.hasExp), num("nbf", &a.nbf, &a.hasNbf)} {
		if e != nil {
			return nil, e
		}
	}
	if raw, ok := c["aud"]; ok {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			a.aud = []string{one}
		} else if err := json.Unmarshal(raw, &a.aud); err != nil {
			return nil, fmt.Errorf("%w: claim aud is not a string or array of strings", errMalformed)
		}
	}
	return a, nil
}

// strictUnmarshal decodes one JSON object and rejects trailing data.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// thumbprints returns the base64url SHA-1 (x5t) and SHA-256 (x5t#S256)
// thumbprints of a certificate's DER encoding.
func thumbprints(c *x509.Certificate) (x5t, x5t256 string) {
	s1 := sha1.Sum(c.Raw)
	s2 := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s1[:]), base64.RawURLEncoding.EncodeToString(s2[:])
}

// findCert returns the registered certificate the assertion's header names.
func (a *assertion) findCert(certs []*x509.Certificate) *x509.Certificate {
	for _, c := range certs {
		t1, t2 := thumbprints(c)
		if (a.x5t != "" && a.x5t == t1) || (a.x5t256 != "" && a.x5t256 == t2) {
			return c
		}
	}
	return nil
}

// verify checks the signature with the certificate's RSA key. Only RS256
// and PS256 are accepted, the algorithms Entra documents; anything else
// (none, HS256 with the public key, ...) fails closed.
func (a *assertion) verify(c *x509.Certificate) error {
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("certificate key is not RSA")
	}
	sum := sha256.Sum256(a.signingInput)
	switch a.alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], a.sig)
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, sum[:], a.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return fmt.Errorf("unsupported alg %q", truncate(a.alg, 16))
	}
}
