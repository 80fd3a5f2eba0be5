package salesforce

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const jwtGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

func TestJWTBearerIssuesTokenOverTLS(t *testing.T) {
	e := newEnv(t, Options{})
	st, out := e.tokenRequest(t, LoginHost, url.Values{"grant_type": {jwtGrant}, "assertion": {e.assertion(t, nil)}})
	if st != http.StatusOK {
		t.Fatalf("status %d: %v", st, out)
	}
	for _, k := range []string{"access_token", "instance_url", "id", "token_type", "scope", "issued_at", "signature"} {
		if s, _ := out[k].(string); s == "" {
			t.Errorf("response lacks %q: %v", k, out)
		}
	}
	if _, ok := out["refresh_token"]; ok {
		t.Error("JWT bearer flow must not return a refresh token")
	}
	if out["instance_url"] != "https://corp.my.salesforce.com" || out["token_type"] != "Bearer" {
		t.Errorf("unexpected response %v", out)
	}
	if !strings.HasPrefix(out["id"].(string), "https://login.salesforce.com/id/") {
		t.Errorf("id = %v", out["id"])
	}
	e.tok = out["access_token"].(string)
	r := e.do(t, "GET", "/services/data/v62.0/", nil)
	if r.status != 200 {
		t.Fatalf("data API with fresh token: %d %s", r.status, r.body)
	}
	if got := r.header.Get("Sforce-Limit-Info"); got != "api-usage=1/100000" {
		t.Errorf("Sforce-Limit-Info = %q", got)
	}
}

func TestJWTBearerTestHostAudience(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.assertion(t, func(c map[string]any) { c["aud"] = "https://test.salesforce.com" })
	if st, out := e.tokenRequest(t, TestHost, url.Values{"grant_type": {jwtGrant}, "assertion": {a}}); st != 200 {
		t.Fatalf("test.salesforce.com with its audience: %d %v", st, out)
	}
	if st, out := e.tokenRequest(t, LoginHost, url.Values{"grant_type": {jwtGrant}, "assertion": {a}}); st != 400 || out["error_description"] != "audience is invalid" {
		t.Fatalf("login host must refuse the sandbox audience: %d %v", st, out)
	}
}

func TestJWTBearerRejects(t *testing.T) {
	e := newEnv(t, Options{})
	key, _, other := rsaFixtures(t)
	now := e.clk.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": consumerKey, "sub": alice, "aud": "https://login.salesforce.com", "exp": now.Add(2 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name      string
		form      url.Values
		wantErr   string
		wantDesc  string
		wantState int
	}{
		{"wrong audience", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, key, "RS256", claims(func(c map[string]any) { c["aud"] = "https://evil.example" }))}}, "invalid_grant", "audience is invalid", 400},
		{"expired", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, key, "RS256", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }))}}, "invalid_grant", "expired authorization code", 400},
		{"exp beyond 3 minutes", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, key, "RS256", claims(func(c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() }))}}, "invalid_grant", "invalid assertion", 400},
		{"no exp", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, key, "RS256", claims(func(c map[string]any) { delete(c, "exp") }))}}, "invalid_grant", "invalid assertion", 400},
		{"signed by another key", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, other, "RS256", claims(nil))}}, "invalid_grant", "invalid assertion", 400},
		{"unknown consumer", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, key, "RS256", claims(func(c map[string]any) { c["iss"] = "nope" }))}}, "invalid_client_id", "client identifier invalid", 400},
		{"unknown user", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, key, "RS256", claims(func(c map[string]any) { c["sub"] = "mallory@corp.example" }))}}, "invalid_grant", "invalid assertion", 400},
		{"user not pre-approved", url.Values{"grant_type": {jwtGrant}, "assertion": {signJWT(t, key, "RS256", claims(func(c map[string]any) { c["sub"] = bob }))}}, "invalid_grant", "user hasn't approved this consumer", 400},
		{"alg none", url.Values{"grant_type": {jwtGrant}, "assertion": {noneJWT(claims(nil))}}, "invalid_grant", "invalid assertion", 400},
		{"wrong grant type", url.Values{"grant_type": {"client_credentials"}, "assertion": {signJWT(t, key, "RS256", claims(nil))}}, "unsupported_grant_type", "grant type not supported", 400},
		{"no assertion", url.Values{"grant_type": {jwtGrant}}, "invalid_request", "assertion parameter missing", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.client.PostForm("https://login.salesforce.com/services/oauth2/token", tc.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantState || out["error"] != tc.wantErr || out["error_description"] != tc.wantDesc {
				t.Fatalf("got %d %v, want %d %s/%s", resp.StatusCode, out, tc.wantState, tc.wantErr, tc.wantDesc)
			}
			if _, ok := out["access_token"]; ok {
				t.Fatal("an error response carried a token")
			}
			for _, v := range out {
				if a := tc.form.Get("assertion"); a != "" && strings.Contains(v, a[len(a)-20:]) {
					t.Fatal("error echoes the assertion")
				}
			}
		})
	}
	if n := len(e.srv.sessions); n != 0 {
		t.Fatalf("rejected requests created %d sessions", n)
	}
}

func noneJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func TestTokenEndpointRequiresPOST(t *testing.T) {
	e := newEnv(t, Options{})
	resp, err := e.client.Get("https://login.salesforce.com/services/oauth2/token?grant_type=" + url.QueryEscape(jwtGrant) + "&assertion=" + e.assertion(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET token: %d", resp.StatusCode)
	}
}

func TestSessionExpiresAndCanBeRevoked(t *testing.T) {
	e := newEnv(t, Options{SessionTTL: 30 * time.Minute})
	e.login(t)
	if r := e.do(t, "GET", "/services/data/v62.0/", nil); r.status != 200 {
		t.Fatalf("fresh: %d", r.status)
	}
	e.clk.Advance(30 * time.Minute)
	r := e.do(t, "GET", "/services/data/v62.0/", nil)
	if r.status != 401 || r.errCode(t) != "INVALID_SESSION_ID" || !strings.Contains(string(r.body), "Session expired or invalid") {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), e.tok) {
		t.Fatal("401 body echoes the token")
	}
	e.login(t)
	e.srv.ExpireSessions()
	if r := e.do(t, "GET", "/services/data/v62.0/", nil); r.status != 401 {
		t.Fatalf("revoked: %d", r.status)
	}
	e.tok = ""
	if r := e.do(t, "GET", "/services/data/v62.0/", nil); r.status != 401 || r.errCode(t) != "INVALID_SESSION_ID" {
		t.Fatalf("no token: %d %s", r.status, r.body)
	}
	e.tok = "00D!forged"
	if r := e.do(t, "GET", "/services/data/v62.0/", nil); r.status != 401 {
		t.Fatalf("forged token: %d", r.status)
	}
}

func TestParseAssertionRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.", noneJWT(map[string]any{"exp": 1})} {
		if _, err := ParseAssertion(in, nil); err == nil {
			t.Errorf("ParseAssertion(%q) accepted", in)
		}
	}
}

func FuzzParseAssertion(f *testing.F) {
	key, _, _ := rsaFixtures(f)
	f.Add(signJWT(f, key, "RS256", map[string]any{"iss": "x", "sub": "y", "aud": []string{"a"}, "exp": 1}))
	f.Add(noneJWT(map[string]any{"exp": 1e308}))
	f.Add("e30.e30.e30")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAssertion(s, &key.PublicKey)
		if err == nil && a == nil {
			t.Fatal("nil assertion without error")
		}
		if err != nil && len(s) > 30 && strings.Contains(err.Error(), s) {
			t.Fatal("error echoes the input")
		}
	})
}
