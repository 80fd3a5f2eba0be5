package microsoft

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenClientSecret(t *testing.T) {
	e := newEnv(t, Options{TokenLifetime: 10 * time.Minute})
	for _, tenant := range []string{tenantA, domainA, strings.ToUpper(tenantA)} {
		r := e.do("POST", tokenURL(tenant), "", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {clientA}, "client_secret": {secretA}, "scope": {GraphScope}})
		if r.status != 200 {
			t.Fatalf("tenant %s: %d %s", tenant, r.status, r.raw)
		}
		if r.str("token_type") != "Bearer" || r.str("access_token") == "" || r.body["expires_in"] != float64(600) {
			t.Fatalf("tenant %s: unexpected token response %s", tenant, r.raw)
		}
		if cc := r.h.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Fatalf("token response Cache-Control %q, want no-store", cc)
		}
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t, Options{})
	base := func(mod func(v url.Values)) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientA}, "client_secret": {secretA}, "scope": {GraphScope}}
		mod(v)
		return v
	}
	const wrongSecret = "not-the-secret-XYZ123"
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		err    string
		code   int
	}{
		{"bad secret", tenantA, base(func(v url.Values) { v.Set("client_secret", wrongSecret) }), 401, "invalid_client", 7000215},
		{"secret of another app", tenantA, base(func(v url.Values) { v.Set("client_secret", secretB) }), 401, "invalid_client", 7000215},
		{"unknown client", tenantA, base(func(v url.Values) { v.Set("client_id", "dddddddd-0000-4000-8000-000000000000") }), 400, "unauthorized_client", 700016},
		{"client of another tenant", tenantA, base(func(v url.Values) { v.Set("client_id", clientB); v.Set("client_secret", secretB) }), 400, "unauthorized_client", 700016},
		{"scope without .default", tenantA, base(func(v url.Values) { v.Set("scope", "https://graph.microsoft.com/Contacts.Read") }), 400, "invalid_scope", 1002012},
		{"two scopes", tenantA, base(func(v url.Values) { v.Set("scope", GraphScope+" offline_access") }), 400, "invalid_scope", 1002012},
		{"other resource", tenantA, base(func(v url.Values) { v.Set("scope", "https://evil.example/.default") }), 400, "invalid_resource", 500011},
		{"missing scope", tenantA, base(func(v url.Values) { v.Del("scope") }), 400, "invalid_request", 900144},
		{"missing client_id", tenantA, base(func(v url.Values) { v.Del("client_id") }), 400, "invalid_request", 900144},
		{"no credential", tenantA, base(func(v url.Values) { v.Del("client_secret") }), 401, "invalid_client", 7000218},
		{"unsupported grant", tenantA, base(func(v url.Values) { v.Set("grant_type", "password") }), 400, "unsupported_grant_type", 70003},
		{"unknown tenant", "nowhere.example", base(func(url.Values) {}), 400, "invalid_request", 90002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tokenURL(tc.tenant), "", tc.form)
			checkAADError(t, r, tc.status, tc.err, tc.code)
			if strings.Contains(string(r.raw), wrongSecret) || strings.Contains(string(r.raw), secretA) {
				t.Fatalf("error body leaks a secret: %s", r.raw)
			}
		})
	}
	t.Run("GET is refused", func(t *testing.T) {
		r := e.do("GET", tokenURL(tenantA), "", nil)
		checkAADError(t, r, 405, "invalid_request", 900561)
	})
}

func checkAADError(t *testing.T, r resp, status int, errCode string, code int) {
	t.Helper()
	if r.status != status || r.str("error") != errCode {
		t.Fatalf("got %d %q, want %d %q: %s", r.status, r.str("error"), status, errCode, r.raw)
	}
	if !strings.HasPrefix(r.str("error_description"), fmt.Sprintf("AADSTS%d: ", code)) {
		t.Fatalf("error_description %q does not start with AADSTS%d", r.str("error_description"), code)
	}
	codes, _ := r.body["error_codes"].([]any)
	if len(codes) != 1 || codes[0] != float64(code) {
		t.Fatalf("error_codes %v, want [%d]", r.body["error_codes"], code)
	}
	for _, k := range []string{"trace_id", "correlation_id", "timestamp", "error_uri"} {
		if r.str(k) == "" {
			t.Fatalf("missing %s: %s", k, r.raw)
		}
	}
	if r.str("access_token") != "" {
		t.Fatalf("error response carries a token")
	}
}

func TestTokenCertificateAssertion(t *testing.T) {
	e := newEnv(t, Options{})
	t.Run("RS256 with x5t", func(t *testing.T) {
		r := e.do("POST", tokenURL(tenantA), "", assertionForm(e.assertion(nil)))
		if r.status != 200 || r.str("access_token") == "" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// The token works on Graph.
		g := e.do("GET", userURL(aliceID, "contacts"), r.str("access_token"), nil)
		if g.status != 200 {
			t.Fatalf("graph with assertion token: %d %s", g.status, g.raw)
		}
	})
	t.Run("PS256 with x5t#S256 and domain audience", func(t *testing.T) {
		a := e.assertion(func(h map[string]any, c jwt.MapClaims) {
			h["alg"] = "PS256"
			delete(h, "x5t")
			_, h["x5t#S256"] = thumbprints(e.cert)
			c["aud"] = tokenURL(domainA)
		})
		r := e.do("POST", tokenURL(domainA), "", assertionForm(a))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	otherKey, otherCert, _ := rsaCert(t)
	now := e.clk.Now()
	bad := []struct {
		name string
		mod  func(h map[string]any, c jwt.MapClaims)
		code int
	}{
		{"audience of another tenant", func(_ map[string]any, c jwt.MapClaims) { c["aud"] = tokenURL(tenantB) }, 700023},
		{"audience of another endpoint", func(_ map[string]any, c jwt.MapClaims) { c["aud"] = "https://graph.microsoft.com" }, 700023},
		{"iss is another client", func(_ map[string]any, c jwt.MapClaims) { c["iss"] = clientB }, 700021},
		{"sub is another client", func(_ map[string]any, c jwt.MapClaims) { c["sub"] = clientB }, 700021},
		{"expired", func(_ map[string]any, c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Minute).Unix() }, 700024},
		{"not yet valid", func(_ map[string]any, c jwt.MapClaims) { c["nbf"] = now.Add(20 * time.Minute).Unix() }, 700024},
		{"no jti", func(_ map[string]any, c jwt.MapClaims) { delete(c, "jti") }, 50027},
		{"no exp", func(_ map[string]any, c jwt.MapClaims) { delete(c, "exp") }, 50027},
		{"x5t of an unregistered certificate", func(h map[string]any, _ jwt.MapClaims) { h["x5t"], _ = thumbprints(otherCert) }, 700027},
		{"no x5t", func(h map[string]any, _ jwt.MapClaims) { delete(h, "x5t") }, 700027},
		{"HS256 keyed with the public key", func(h map[string]any, _ jwt.MapClaims) { h["alg"] = "HS256" }, 700027},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			a := e.assertion(tc.mod)
			r := e.do("POST", tokenURL(tenantA), "", assertionForm(a))
			checkAADError(t, r, 401, "invalid_client", tc.code)
			if strings.Contains(string(r.raw), a) {
				t.Fatalf("error body echoes the assertion")
			}
		})
	}
	t.Run("signed by another key", func(t *testing.T) {
		good := e.assertion(nil)
		// Re-sign the same header and claims with a key that is not registered.
		parts := strings.Split(good, ".")
		sig, err := jwt.SigningMethodRS256.Sign(parts[0]+"."+parts[1], otherKey)
		must(t, err)
		forged := parts[0] + "." + parts[1] + "." + jwtEncode(sig)
		checkAADError(t, e.do("POST", tokenURL(tenantA), "", assertionForm(forged)), 401, "invalid_client", 700027)
	})
	t.Run("alg none", func(t *testing.T) {
		parts := strings.Split(e.assertion(nil), ".")
		none := jwtEncode([]byte(`{"alg":"none","typ":"JWT","x5t":"`+mustX5t(e)+`"}`)) + "." + parts[1] + "."
		checkAADError(t, e.do("POST", tokenURL(tenantA), "", assertionForm(none)), 401, "invalid_client", 700027)
	})
	t.Run("malformed", func(t *testing.T) {
		checkAADError(t, e.do("POST", tokenURL(tenantA), "", assertionForm("not.a-jwt")), 401, "invalid_client", 50027)
	})
	t.Run("wrong assertion type", func(t *testing.T) {
		f := assertionForm(e.assertion(nil))
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		checkAADError(t, e.do("POST", tokenURL(tenantA), "", f), 400, "invalid_request", 900144)
	})
	t.Run("secret and assertion together", func(t *testing.T) {
		f := assertionForm(e.assertion(nil))
		f.Set("client_secret", secretA)
		checkAADError(t, e.do("POST", tokenURL(tenantA), "", f), 400, "invalid_request", 9002313)
	})
	t.Run("replayed jti", func(t *testing.T) {
		a := e.assertion(nil)
		if r := e.do("POST", tokenURL(tenantA), "", assertionForm(a)); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.raw)
		}
		checkAADError(t, e.do("POST", tokenURL(tenantA), "", assertionForm(a)), 401, "invalid_client", 70002)
		// A fresh jti is fine again.
		if r := e.do("POST", tokenURL(tenantA), "", assertionForm(e.assertion(nil))); r.status != 200 {
			t.Fatalf("fresh jti: %d %s", r.status, r.raw)
		}
	})
	t.Run("app without certificate", func(t *testing.T) {
		a := e.assertion(func(h map[string]any, c jwt.MapClaims) {
			c["iss"], c["sub"], c["aud"] = clientB, clientB, tokenURL(tenantB)
		})
		f := assertionForm(a)
		f.Set("client_id", clientB)
		checkAADError(t, e.do("POST", tokenURL(tenantB), "", f), 401, "invalid_client", 700027)
	})
}

func mustX5t(e *env) string { s, _ := thumbprints(e.cert); return s }

func jwtEncode(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(b)), "=")
}

func TestAddAppRejectsBadInput(t *testing.T) {
	s := New(Options{})
	must(t, s.AddTenant(Tenant{ID: tenantA}))
	for name, a := range map[string]App{
		"no client id":   {TenantID: tenantA, ClientSecret: "x"},
		"no credential":  {TenantID: tenantA, ClientID: clientA},
		"unknown tenant": {TenantID: tenantB, ClientID: clientA, ClientSecret: "x"},
		"garbage PEM":    {TenantID: tenantA, ClientID: clientA, CertificatePEM: "-----BEGIN NOTHING-----"},
		"corrupt cert":   {TenantID: tenantA, ClientID: clientA, CertificatePEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
	} {
		if err := s.AddApp(a); err == nil {
			t.Errorf("%s: AddApp accepted it", name)
		}
	}
}
