package vault

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

func call(t *testing.T, h http.Handler, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("X-Vault-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	raw, _ := io.ReadAll(w.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return w.Code, m
}

func TestErrorShapes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	cases := []struct {
		name, method, path, token, body string
		status                          int
		msg                             string
	}{
		{"no token", "GET", "/v1/secret/data/a", "", "", 403, "permission denied"},
		{"missing", "GET", "/v1/secret/data/a", "r", "", 404, ""},
		{"create", "POST", "/v1/secret/data/a", "r", `{"options":{"cas":0},"data":{"value":"x"}}`, 200, ""},
		{"cas mismatch", "POST", "/v1/secret/data/a", "r", `{"options":{"cas":0},"data":{"value":"y"}}`, 400, "check-and-set parameter did not match the current version"},
		{"bad json", "POST", "/v1/secret/data/a", "r", `{`, 400, "failed to parse JSON input"},
		{"unknown route", "GET", "/v1/nope/x", "r", "", 404, "no handler for route"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := call(t, e, c.method, c.path, c.token, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d (%v)", status, c.status, body)
			}
			errs, hasErrs := body["errors"].([]any)
			if status >= 400 && !hasErrs {
				t.Fatalf("error body without errors array: %v", body)
			}
			if c.msg != "" && (len(errs) == 0 || !strings.Contains(errs[0].(string), c.msg)) {
				t.Fatalf("errors = %v, want %q", errs, c.msg)
			}
		})
	}
	e.SetDown(true)
	if status, _ := call(t, e, "GET", "/v1/sys/health", "", ""); status != 503 {
		t.Fatalf("down: status %d", status)
	}
}

func TestWrappingIsSingleUseAndTokensExpire(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	call(t, e, "POST", "/v1/auth/approle/role/app", "r", `{"token_ttl":"60s","token_max_ttl":"120s"}`)
	_, rid := call(t, e, "GET", "/v1/auth/approle/role/app/role-id", "r", "")
	_, w := call(t, e, "POST", "/v1/auth/approle/role/app/secret-id", "r", "", "X-Vault-Wrap-TTL", "60s")
	wt := w["wrap_info"].(map[string]any)["token"].(string)
	status, un := call(t, e, "POST", "/v1/sys/wrapping/unwrap", wt, "")
	if status != 200 {
		t.Fatalf("unwrap: %d", status)
	}
	if status, _ := call(t, e, "POST", "/v1/sys/wrapping/unwrap", wt, ""); status != 400 {
		t.Fatalf("second unwrap: %d, want 400", status)
	}
	sid := un["data"].(map[string]any)["secret_id"].(string)
	roleID := rid["data"].(map[string]any)["role_id"].(string)
	status, login := call(t, e, "POST", "/v1/auth/approle/login", "", `{"role_id":"`+roleID+`","secret_id":"`+sid+`"}`)
	if status != 200 {
		t.Fatalf("login: %d %v", status, login)
	}
	tok := login["auth"].(map[string]any)["client_token"].(string)
	clk.Advance(50 * time.Second)
	_, ren := call(t, e, "POST", "/v1/auth/token/renew-self", tok, `{"increment":"60s"}`)
	if d := ren["auth"].(map[string]any)["lease_duration"].(float64); d != 60 {
		t.Fatalf("renewed lease %v, want 60", d)
	}
	clk.Advance(50 * time.Second)
	_, ren = call(t, e, "POST", "/v1/auth/token/renew-self", tok, `{"increment":"60s"}`)
	if d := ren["auth"].(map[string]any)["lease_duration"].(float64); d != 20 {
		t.Fatalf("lease %v, want 20 (capped by max TTL)", d)
	}
	clk.Advance(21 * time.Second)
	if status, _ := call(t, e, "GET", "/v1/auth/token/lookup-self", tok, ""); status != 403 {
		t.Fatalf("expired token: %d, want 403", status)
	}
}

// raw sends a request and returns the status and the exact body.
func raw(t *testing.T, h http.Handler, method, path, token, body string, hdr ...string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("X-Vault-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// appRoleToken logs in with a fresh AppRole role that has policies and
// returns the client token.
func appRoleToken(t *testing.T, e *Emulator, root, role, roleBody string) string {
	t.Helper()
	if s, b := call(t, e, "POST", "/v1/auth/approle/role/"+role, root, roleBody); s != 204 {
		t.Fatalf("role: %d %v", s, b)
	}
	_, rid := call(t, e, "GET", "/v1/auth/approle/role/"+role+"/role-id", root, "")
	_, sid := call(t, e, "POST", "/v1/auth/approle/role/"+role+"/secret-id", root, "")
	status, login := call(t, e, "POST", "/v1/auth/approle/login", "",
		`{"role_id":"`+dig(rid, "data", "role_id").(string)+`","secret_id":"`+dig(sid, "data", "secret_id").(string)+`"}`)
	if status != 200 {
		t.Fatalf("login: %d %v", status, login)
	}
	return dig(login, "auth", "client_token").(string)
}

// Transit returns each key type's public key as Vault formats it: ed25519 as
// the standard base64 of the raw 32-byte key, rsa and ecdsa as a PEM
// "PUBLIC KEY" block.
// Follows GET /transit/keys/:name,
// https://developer.hashicorp.com/vault/api-docs/secret/transit#read-key, and
// the format Vault's source gives it (sdk/helper/keysutil/policy.go,
// FormattedPublicKey; builtin/logical/transit/path_keys.go).
func TestTransitPublicKeyFormats(t *testing.T) {
	e := New(Options{RootToken: "r"})
	for typ, name := range map[string]string{"ed25519": "ed25519", "rsa-2048": "rsa-2048", "ecdsa-p256": "P-256"} {
		t.Run(typ, func(t *testing.T) {
			if s, b := call(t, e, "POST", "/v1/transit/keys/k-"+typ, "r", `{"type":"`+typ+`"}`); s != 200 {
				t.Fatalf("create: %d %v", s, b)
			}
			_, info := call(t, e, "GET", "/v1/transit/keys/k-"+typ, "r", "")
			v1, _ := dig(info, "data", "keys", "1").(map[string]any)
			if v1["name"] != name || dig(info, "data", "type") != typ || dig(info, "data", "latest_version") != float64(1) {
				t.Fatalf("key info: %v", info)
			}
			pk, _ := v1["public_key"].(string)
			blk, _ := pem.Decode([]byte(pk))
			if typ == "ed25519" {
				b, err := base64.StdEncoding.DecodeString(pk)
				if blk != nil || err != nil || len(b) != ed25519.PublicKeySize {
					t.Fatalf("ed25519 public_key %q: want the standard base64 of 32 raw bytes", pk)
				}
				return
			}
			if blk == nil || blk.Type != "PUBLIC KEY" {
				t.Fatalf("%s public_key %q: want PEM PUBLIC KEY", typ, pk)
			}
			if _, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
				t.Fatal(err)
			}
		})
	}
	if s, _ := call(t, e, "GET", "/v1/transit/keys/absent", "r", ""); s != 404 {
		t.Fatalf("absent key: %d, want 404", s)
	}
}

// Signatures carry the key version ("vault:vN:"); sign takes key_version;
// verify picks the key from the signature and refuses versions that are too
// new or below min_decryption_version, with keysutil's messages.
// Follows https://developer.hashicorp.com/vault/api-docs/secret/transit#sign-data,
// #verify-signed-data, #rotate-key and #update-key-configuration.
func TestTransitSignVerifyKeyVersions(t *testing.T) {
	e := New(Options{RootToken: "r"})
	call(t, e, "POST", "/v1/transit/keys/k", "r", `{"type":"ed25519"}`)
	in := base64.StdEncoding.EncodeToString([]byte("checkpoint"))
	sign := func(extra string) (int, map[string]any) {
		return call(t, e, "POST", "/v1/transit/sign/k", "r", `{"input":"`+in+`"`+extra+`}`)
	}
	_, s1 := sign("")
	sig1 := dig(s1, "data", "signature").(string)
	if !strings.HasPrefix(sig1, "vault:v1:") || dig(s1, "data", "key_version") != float64(1) {
		t.Fatalf("sign v1: %v", s1)
	}
	_, rot := call(t, e, "POST", "/v1/transit/keys/k/rotate", "r", "")
	if dig(rot, "data", "latest_version") != float64(2) {
		t.Fatalf("rotate: %v", rot)
	}
	_, s2 := sign("")
	sig2 := dig(s2, "data", "signature").(string)
	if !strings.HasPrefix(sig2, "vault:v2:") {
		t.Fatalf("latest signature %q, want v2", sig2)
	}
	if _, s := sign(`,"key_version":1`); !strings.HasPrefix(dig(s, "data", "signature").(string), "vault:v1:") {
		t.Fatalf("key_version 1: %v", s)
	}
	verify := func(sig, input string) (int, map[string]any) {
		return call(t, e, "POST", "/v1/transit/verify/k", "r", `{"input":"`+input+`","signature":"`+sig+`"}`)
	}
	for _, sig := range []string{sig1, sig2} {
		if st, v := verify(sig, in); st != 200 || dig(v, "data", "valid") != true {
			t.Fatalf("verify %s: %d %v", sig[:9], st, v)
		}
	}
	if _, v := verify(sig2, base64.StdEncoding.EncodeToString([]byte("other"))); dig(v, "data", "valid") != false {
		t.Fatalf("other input verified: %v", v)
	}
	errCases := []struct{ name, body, path, msg string }{
		{"sign too new", `{"input":"` + in + `","key_version":3}`, "sign", "requested version for signing is higher than the latest key version"},
		{"verify too new", `{"input":"` + in + `","signature":"vault:v3:` + strings.TrimPrefix(sig2, "vault:v2:") + `"}`, "verify", "invalid signature: version is too new"},
		{"no prefix", `{"input":"` + in + `","signature":"` + strings.TrimPrefix(sig2, "vault:") + `"}`, "verify", "invalid signature: no prefix"},
		{"bad marshaling", `{"input":"` + in + `","marshaling_algorithm":"der"}`, "sign", `invalid marshaling type "der"`},
		{"missing key", `{"input":"` + in + `"}`, "sign/nokey", "signing key not found"},
	}
	for _, c := range errCases {
		p := "/v1/transit/" + c.path
		if !strings.Contains(c.path, "/") {
			p += "/k"
		}
		st, body := call(t, e, "POST", p, "r", c.body)
		if st != 400 || len(body["errors"].([]any)) != 1 || body["errors"].([]any)[0] != c.msg {
			t.Fatalf("%s: %d %v, want 400 %q", c.name, st, body, c.msg)
		}
	}
	call(t, e, "POST", "/v1/transit/keys/k/config", "r", `{"min_decryption_version":2}`)
	if st, body := verify(sig1, in); st != 400 || body["errors"].([]any)[0] != "ciphertext or signature version is disallowed by policy (too old)" {
		t.Fatalf("v1 below min_decryption_version: %d %v", st, body)
	}
	// ECDSA with JWS marshaling: r||s, base64url without padding.
	call(t, e, "POST", "/v1/transit/keys/ec", "r", `{"type":"ecdsa-p256"}`)
	_, es := call(t, e, "POST", "/v1/transit/sign/ec", "r", `{"input":"`+in+`","marshaling_algorithm":"jws"}`)
	esig := strings.TrimPrefix(dig(es, "data", "signature").(string), "vault:v1:")
	if b, err := base64.RawURLEncoding.DecodeString(esig); err != nil || len(b) != 64 {
		t.Fatalf("jws signature %q: %v", esig, err)
	}
}

// ACL policies are enforced. A live token without the capability gets 403
// with the body Vault's go-multierror produces; a missing, expired or
// revoked token gets 403 "permission denied" bare; writes to an absent KV
// path need "create", to an existing one "update"; the most specific rule
// wins and "deny" beats everything.
// Follows https://developer.hashicorp.com/vault/docs/concepts/policies
// (capabilities, priority matching), https://developer.hashicorp.com/vault/api-docs/system/policies
// https://developer.hashicorp.com/vault/api-docs#error-response and
// https://developer.hashicorp.com/vault/docs/concepts/tokens#error-responses.
func TestACLPolicies(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	pol := `
path "secret/data/app/*" { capabilities = ["read", "update"] }
path "secret/data/app/new/*" { capabilities = ["create", "read"] }
path "secret/data/app/secret" { capabilities = ["deny"] }
path "secret/metadata/app/*" { capabilities = ["list"] }
path "transit/sign/+" { capabilities = ["update"] }
`
	body, _ := json.Marshal(map[string]string{"policy": pol})
	if s, b := call(t, e, "PUT", "/v1/sys/policies/acl/app", "r", string(body)); s != 204 {
		t.Fatalf("put policy: %d %v", s, b)
	}
	if _, got := call(t, e, "GET", "/v1/sys/policies/acl/app", "r", ""); dig(got, "data", "policy") != pol {
		t.Fatalf("read policy: %v", got)
	}
	call(t, e, "POST", "/v1/secret/data/app/existing", "r", `{"data":{"value":"x"}}`)
	call(t, e, "POST", "/v1/secret/data/app/secret", "r", `{"data":{"value":"x"}}`)
	call(t, e, "POST", "/v1/transit/keys/k", "r", `{"type":"ed25519"}`)
	tok := appRoleToken(t, e, "r", "app", `{"token_policies":"app","token_ttl":"1h"}`)
	const denied = `{"errors":["1 error occurred:\n\t* permission denied\n\n"]}` + "\n"
	in := base64.StdEncoding.EncodeToString([]byte("x"))
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"read granted", "GET", "/v1/secret/data/app/existing", "", 200},
		{"update existing", "POST", "/v1/secret/data/app/existing", `{"data":{"value":"y"}}`, 200},
		{"create needs create", "POST", "/v1/secret/data/app/fresh", `{"data":{"value":"y"}}`, 403},
		{"create granted deeper", "POST", "/v1/secret/data/app/new/one", `{"data":{"value":"y"}}`, 200},
		{"deny wins", "GET", "/v1/secret/data/app/secret", "", 403},
		{"other path", "GET", "/v1/secret/data/other", "", 403},
		{"list with trailing slash", "LIST", "/v1/secret/metadata/app/", "", 200},
		{"plus wildcard", "POST", "/v1/transit/sign/k", `{"input":"` + in + `"}`, 200},
		{"no read on key", "GET", "/v1/transit/keys/k", "", 403},
		{"default policy", "GET", "/v1/auth/token/lookup-self", "", 200},
		{"policy admin", "PUT", "/v1/sys/policies/acl/mine", `{"policy":"path \"*\" {capabilities=[\"sudo\"]}"}`, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.path
			m := c.method
			if m == "LIST" {
				m, p = "GET", p+"?list=true"
			}
			status, got := raw(t, e, m, p, tok, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, got)
			}
			if status == 403 && got != denied {
				t.Fatalf("ACL denial body %q, want %q", got, denied)
			}
		})
	}
	_, caps := call(t, e, "POST", "/v1/sys/capabilities-self", tok, `{"paths":["secret/data/app/x","secret/data/other"]}`)
	if fmt.Sprint(dig(caps, "data", "secret/data/app/x")) != "[read update]" || fmt.Sprint(dig(caps, "data", "secret/data/other")) != "[deny]" {
		t.Fatalf("capabilities-self: %v", caps)
	}
	// A dead token is told apart by its body: bare "permission denied".
	const bad = `{"errors":["permission denied"]}` + "\n"
	clk.Advance(2 * time.Hour)
	if status, got := raw(t, e, "GET", "/v1/secret/data/app/existing", tok, ""); status != 403 || got != bad {
		t.Fatalf("expired token: %d %q, want 403 %q", status, got, bad)
	}
	if status, got := raw(t, e, "GET", "/v1/secret/data/app/existing", "", ""); status != 403 || got != bad {
		t.Fatalf("no token: %d %q", status, got)
	}
	// Vault 1.16 and later add "invalid token" for a dead token.
	hc := New(Options{RootToken: "r", InvalidTokenErrors: true})
	const invalid = `{"errors":["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"]}` + "\n"
	if status, got := raw(t, hc, "GET", "/v1/secret/data/app/existing", "hvs.gone", ""); status != 403 || got != invalid {
		t.Fatalf("dead token, Vault 1.16+: %d %q, want 403 %q", status, got, invalid)
	}
	if s, b := call(t, e, "PUT", "/v1/sys/policies/acl/broken", "r", `{"policy":"path \"x\" {"}`); s != 400 || !strings.Contains(fmt.Sprint(b["errors"]), "failed to parse policy") {
		t.Fatalf("bad HCL: %d %v", s, b)
	}
}

// Response-wrapping tokens work once and until their TTL; lookup does not
// use them up; the wrap_info names the wrapped secret id's accessor.
// Follows https://developer.hashicorp.com/vault/docs/concepts/response-wrapping,
// https://developer.hashicorp.com/vault/api-docs/system/wrapping-unwrap and
// https://developer.hashicorp.com/vault/api-docs/system/wrapping-lookup.
func TestWrappingTokenUses(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	call(t, e, "POST", "/v1/auth/approle/role/app", "r", `{}`)
	wrap := func() (string, map[string]any) {
		_, w := call(t, e, "POST", "/v1/auth/approle/role/app/secret-id", "r", "", "X-Vault-Wrap-TTL", "60s")
		info, _ := w["wrap_info"].(map[string]any)
		if info == nil || w["data"] != nil {
			t.Fatalf("wrapped response: %v", w)
		}
		return info["token"].(string), info
	}
	wt, info := wrap()
	if info["ttl"] != float64(60) || info["creation_path"] != "auth/approle/role/app/secret-id" || info["wrapped_accessor"] == "" {
		t.Fatalf("wrap_info: %v", info)
	}
	if s, l := call(t, e, "POST", "/v1/sys/wrapping/lookup", "r", `{"token":"`+wt+`"}`); s != 200 || dig(l, "data", "creation_ttl") != float64(60) {
		t.Fatalf("lookup: %d %v", s, l)
	}
	const invalid = `{"errors":["wrapping token is not valid or does not exist"]}` + "\n"
	if s, body := raw(t, e, "POST", "/v1/sys/wrapping/unwrap", wt, ""); s != 200 || !strings.Contains(body, `"secret_id"`) {
		t.Fatalf("first unwrap: %d %s", s, body)
	}
	if s, body := raw(t, e, "POST", "/v1/sys/wrapping/unwrap", wt, ""); s != 400 || body != invalid {
		t.Fatalf("second unwrap: %d %q, want 400 %q", s, body, invalid)
	}
	wt2, _ := wrap()
	clk.Advance(61 * time.Second)
	if s, body := raw(t, e, "POST", "/v1/sys/wrapping/unwrap", "r", `{"token":"`+wt2+`"}`); s != 400 || body != invalid {
		t.Fatalf("expired wrapping token: %d %q", s, body)
	}
}

// Secret ids have use counts (the role's secret_id_num_uses, or num_uses
// on the secret-id request) and TTLs; the last use deletes the secret id
// and later logins get 400 "invalid role or secret ID"; CIDR bindings are
// checked against the client address.
// Follows https://developer.hashicorp.com/vault/api-docs/auth/approle
// (create/update role, generate new secret ID, login) and AppRole's
// path_login.go.
func TestSecretIDUseCounts(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	call(t, e, "POST", "/v1/auth/approle/role/app", "r", `{"secret_id_num_uses":2,"secret_id_ttl":"10m"}`)
	_, rid := call(t, e, "GET", "/v1/auth/approle/role/app/role-id", "r", "")
	roleID := dig(rid, "data", "role_id").(string)
	newSID := func(body string) string {
		_, s := call(t, e, "POST", "/v1/auth/approle/role/app/secret-id", "r", body)
		return dig(s, "data", "secret_id").(string)
	}
	login := func(sid string) (int, string) {
		return raw(t, e, "POST", "/v1/auth/approle/login", "", `{"role_id":"`+roleID+`","secret_id":"`+sid+`"}`)
	}
	const invalid = `{"errors":["invalid role or secret ID"]}` + "\n"
	sid := newSID("")
	for i := 0; i < 2; i++ {
		if s, b := login(sid); s != 200 {
			t.Fatalf("login %d: %d %s", i+1, s, b)
		}
		if i == 0 {
			if _, l := call(t, e, "POST", "/v1/auth/approle/role/app/secret-id/lookup", "r", `{"secret_id":"`+sid+`"}`); dig(l, "data", "secret_id_num_uses") != float64(1) {
				t.Fatalf("uses left after one login: %v", l)
			}
		}
	}
	if s, b := login(sid); s != 400 || b != invalid {
		t.Fatalf("third login: %d %q, want 400 %q", s, b, invalid)
	}
	one := newSID(`{"num_uses":1}`)
	login(one)
	if s, _ := login(one); s != 400 {
		t.Fatal("num_uses=1 secret id logged in twice")
	}
	ttl := newSID("")
	clk.Advance(11 * time.Minute)
	if s, b := login(ttl); s != 400 || b != invalid {
		t.Fatalf("expired secret id: %d %q", s, b)
	}
	// Unlimited uses bound to a CIDR: httptest requests come from 192.0.2.1.
	call(t, e, "POST", "/v1/auth/approle/role/app", "r", `{"secret_id_num_uses":0,"secret_id_ttl":0,"secret_id_bound_cidrs":["10.0.0.0/8"]}`)
	unl := newSID("")
	if s, b := login(unl); s != 400 || !strings.Contains(b, `source address \"192.0.2.1\" unauthorized by CIDR restrictions on the role`) {
		t.Fatalf("CIDR-bound role from outside: %d %s", s, b)
	}
	call(t, e, "POST", "/v1/auth/approle/role/app", "r", `{"secret_id_bound_cidrs":["192.0.2.0/24"]}`)
	for i := 0; i < 3; i++ {
		if s, b := login(unl); s != 200 {
			t.Fatalf("unlimited secret id, login %d: %d %s", i+1, s, b)
		}
	}
	call(t, e, "POST", "/v1/auth/approle/role/app/secret-id/destroy", "r", `{"secret_id":"`+unl+`"}`)
	if s, _ := login(unl); s != 400 {
		t.Fatal("destroyed secret id logged in")
	}
}

// Token lifetimes: token_ttl, capped by token_max_ttl (renewals too, with a
// warning); a periodic token (token_period) gets its period back at every
// renewal with no max; no TTL means the system default of 768h; num_uses
// revokes a token after its last use.
// Follows https://developer.hashicorp.com/vault/docs/concepts/tokens
// (token time-to-live, periodic tokens, explicit max TTLs) and
// https://developer.hashicorp.com/vault/api-docs/auth/token#renew-a-token-self.
func TestTokenTTLsAndPeriods(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	leaseOf := func(m map[string]any) float64 { f, _ := dig(m, "auth", "lease_duration").(float64); return f }

	periodic := appRoleToken(t, e, "r", "periodic", `{"token_period":"30s","token_max_ttl":"40s"}`)
	for i := 0; i < 5; i++ { // far beyond token_max_ttl: a period has no max
		clk.Advance(20 * time.Second)
		if s, ren := call(t, e, "POST", "/v1/auth/token/renew-self", periodic, `{"increment":"1h"}`); s != 200 || leaseOf(ren) != 30 {
			t.Fatalf("renewal %d of periodic token: %d %v", i+1, s, ren)
		}
	}
	if _, look := call(t, e, "GET", "/v1/auth/token/lookup-self", periodic, ""); dig(look, "data", "period") != float64(30) {
		t.Fatalf("lookup-self of a periodic token: %v", look)
	}
	clk.Advance(31 * time.Second)
	if s, _ := call(t, e, "GET", "/v1/auth/token/lookup-self", periodic, ""); s != 403 {
		t.Fatal("periodic token outlived its period without renewal")
	}

	_, def := call(t, e, "POST", "/v1/auth/token/create", "r", `{}`)
	if leaseOf(def) != 768*3600 {
		t.Fatalf("token without ttl: lease %v, want the 768h system default", leaseOf(def))
	}
	_, capped := call(t, e, "POST", "/v1/auth/token/create", "r", `{"ttl":"2h","explicit_max_ttl":"1h"}`)
	if leaseOf(capped) != 3600 {
		t.Fatalf("ttl above explicit_max_ttl: lease %v, want 3600", leaseOf(capped))
	}
	tok := dig(capped, "auth", "client_token").(string)
	clk.Advance(30 * time.Minute)
	_, ren := call(t, e, "POST", "/v1/auth/token/renew-self", tok, `{"increment":"1h"}`)
	if leaseOf(ren) != 1800 || len(ren["warnings"].([]any)) != 1 {
		t.Fatalf("renewal past the max: %v", ren)
	}

	_, once := call(t, e, "POST", "/v1/auth/token/create", "r", `{"num_uses":2}`)
	limited := dig(once, "auth", "client_token").(string)
	for i := 0; i < 2; i++ {
		if s, _ := call(t, e, "GET", "/v1/auth/token/lookup-self", limited, ""); s != 200 {
			t.Fatalf("use %d of a 2-use token: %d", i+1, s)
		}
	}
	if s, _ := call(t, e, "GET", "/v1/auth/token/lookup-self", limited, ""); s != 403 {
		t.Fatal("token used beyond num_uses")
	}
}

// While sealed every API call but the status endpoints gets 503 with
// {"errors":["Vault is sealed"]}; sys/health answers 503 with its status
// body; sys/seal-status 200 with sealed: true; tokens survive the seal.
// Follows https://developer.hashicorp.com/vault/api-docs#http-status-codes,
// https://developer.hashicorp.com/vault/api-docs/system/health and
// https://developer.hashicorp.com/vault/api-docs/system/seal-status.
func TestSealed(t *testing.T) {
	e := New(Options{RootToken: "r"})
	tok := e.CreateToken(time.Hour, 0)
	e.SetSealed(true)
	const sealed = `{"errors":["Vault is sealed"]}` + "\n"
	for _, p := range []string{"/v1/secret/data/a", "/v1/auth/token/lookup-self", "/v1/auth/approle/login"} {
		if s, body := raw(t, e, "GET", p, tok, ""); s != 503 || body != sealed {
			t.Fatalf("%s sealed: %d %q, want 503 %q", p, s, body, sealed)
		}
	}
	if s, h := call(t, e, "GET", "/v1/sys/health", "", ""); s != 503 || h["sealed"] != true || h["initialized"] != true {
		t.Fatalf("health sealed: %d %v", s, h)
	}
	if s, st := call(t, e, "GET", "/v1/sys/seal-status", "", ""); s != 200 || st["sealed"] != true {
		t.Fatalf("seal-status: %d %v", s, st)
	}
	e.SetSealed(false)
	if s, _ := call(t, e, "GET", "/v1/auth/token/lookup-self", tok, ""); s != 200 {
		t.Fatalf("token after unseal: %d", s)
	}
	if s, h := call(t, e, "GET", "/v1/sys/health", "", ""); s != 200 || h["sealed"] != false {
		t.Fatalf("health unsealed: %d %v", s, h)
	}
}

// Enabling a secrets engine or auth method where one is mounted fails with
// Vault's "path is already in use"; new kv-v2 and transit mounts work.
// Follows https://developer.hashicorp.com/vault/api-docs/system/mounts and
// https://developer.hashicorp.com/vault/api-docs/system/auth.
func TestMounts(t *testing.T) {
	e := New(Options{RootToken: "r"})
	if s, b := call(t, e, "POST", "/v1/sys/mounts/transit", "r", `{"type":"transit"}`); s != 400 || b["errors"].([]any)[0] != "path is already in use at transit/" {
		t.Fatalf("remount: %d %v", s, b)
	}
	if s, b := call(t, e, "POST", "/v1/sys/auth/approle", "r", `{"type":"approle"}`); s != 400 || !strings.Contains(b["errors"].([]any)[0].(string), "path is already in use") {
		t.Fatalf("re-enable approle: %d %v", s, b)
	}
	if s, _ := call(t, e, "POST", "/v1/sys/mounts/audit-keys", "r", `{"type":"transit"}`); s != 204 {
		t.Fatal("new transit mount")
	}
	if s, _ := call(t, e, "POST", "/v1/audit-keys/keys/k", "r", `{"type":"ed25519"}`); s != 200 {
		t.Fatal("key on the new mount")
	}
	if s, _ := call(t, e, "POST", "/v1/sys/mounts/kv2", "r", `{"type":"kv","options":{"version":"2"}}`); s != 204 {
		t.Fatal("new kv-v2 mount")
	}
	if s, _ := call(t, e, "POST", "/v1/kv2/data/x", "r", `{"data":{"a":"b"}}`); s != 200 {
		t.Fatal("write to the new kv mount")
	}
}
