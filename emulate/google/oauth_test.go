package google

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenExchangeIssuesWorkingToken(t *testing.T) {
	e := newEnv(t, Options{})
	for _, kid := range []string{saKeyID, ""} { // kid is optional
		code, body := e.postToken(url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(e.claims(alice, ScopeCalendar), e.key, kid)}})
		if code != 200 {
			t.Fatalf("kid %q: %d %v", kid, code, body)
		}
		if body["token_type"] != "Bearer" || body["expires_in"].(float64) != 3599 || body["access_token"] == "" {
			t.Fatalf("kid %q: unexpected token response %v", kid, body)
		}
		if r := e.do("GET", calEvents, body["access_token"].(string), nil); r.code != 200 {
			t.Fatalf("kid %q: list with fresh token: %d %s", kid, r.code, r.raw)
		}
	}
}

func TestTokenExchangeRejections(t *testing.T) {
	e := newEnv(t, Options{})
	_, otherKey := testKeys()
	now := e.clk.Now().Unix()
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := e.claims(alice, ScopeCalendar)
		mod(c)
		return c
	}
	cases := []tokenCase{
		{"wrong grant type", url.Values{"grant_type": {"client_credentials"}}, "unsupported_grant_type", ""},
		{"no grant type", url.Values{}, "invalid_request", ""},
		{"no assertion", url.Values{"grant_type": {grantJWTBearer}}, "invalid_request", ""},
		{"garbage assertion", url.Values{"grant_type": {grantJWTBearer}, "assertion": {"not.a.jwt"}}, "invalid_grant", ""},
		{"signed by another key", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(e.claims(alice, ScopeCalendar), otherKey, "")}}, "invalid_grant", "Invalid JWT Signature."},
		{"unknown kid", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(e.claims(alice, ScopeCalendar), e.key, "kid-2")}}, "invalid_grant", "Invalid JWT Signature."},
		{"unknown issuer", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["iss"] = "x@y.iam.gserviceaccount.com" }), e.key, "")}}, "invalid_grant", ""},
		{"wrong audience", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["aud"] = "https://evil.example/token" }), e.key, "")}}, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is https://oauth2.googleapis.com/token"},
		{"lifetime over an hour", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["exp"] = now + 3601 }), e.key, "")}}, "invalid_grant", invalidTime.Description},
		{"expired", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["iat"], c["exp"] = now-7200, now-3600 }), e.key, "")}}, "invalid_grant", invalidTime.Description},
		{"issued in the future", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["iat"], c["exp"] = now+3600, now+3700 }), e.key, "")}}, "invalid_grant", invalidTime.Description},
		{"no exp", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { delete(c, "exp") }), e.key, "")}}, "invalid_grant", invalidTime.Description},
		{"no scope", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { delete(c, "scope") }), e.key, "")}}, "invalid_scope", ""},
		{"sub outside the domain", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["sub"] = outsider }), e.key, "")}}, "invalid_grant", "Invalid email or User ID"},
		{"sub not a user", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["sub"] = "ghost@corp.example" }), e.key, "")}}, "invalid_grant", "Invalid email or User ID"},
		{"scope not granted for DWD", url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(with(func(c jwt.MapClaims) { c["scope"] = ScopeCalendar + " https://mail.google.com/" }), e.key, "")}}, "unauthorized_client", ""},
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, e.claims(alice, ScopeCalendar))
	hsTok, _ := hs.SignedString([]byte(pemPublic(t, e.key))) // the classic key-confusion attack
	cases = append(cases, tokenCase{name: "HS256 with the public key as secret", form: url.Values{"grant_type": {grantJWTBearer}, "assertion": {hsTok}}, wantError: "invalid_grant"})
	none := jwt.NewWithClaims(jwt.SigningMethodNone, e.claims(alice, ScopeCalendar))
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	cases = append(cases, tokenCase{name: "alg none", form: url.Values{"grant_type": {grantJWTBearer}, "assertion": {noneTok}}, wantError: "invalid_grant"})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.postToken(tc.form)
			if code != 400 || body["error"] != tc.wantError {
				t.Fatalf("got %d %v, want 400 %s", code, body, tc.wantError)
			}
			if tc.wantDesc != "" && body["error_description"] != tc.wantDesc {
				t.Fatalf("description %q, want %q", body["error_description"], tc.wantDesc)
			}
			if a := tc.form.Get("assertion"); a != "" && strings.Contains(body["error_description"].(string), a) {
				t.Fatal("error echoes the assertion")
			}
			if _, ok := body["access_token"]; ok {
				t.Fatal("rejected request carries a token")
			}
		})
	}
}

type tokenCase struct {
	name      string
	form      url.Values
	wantError string
	wantDesc  string
}

func TestTokenEndpointMethodAndPath(t *testing.T) {
	e := newEnv(t, Options{})
	if r := e.do("GET", TokenURL, "", nil); r.code != 405 {
		t.Fatalf("GET /token: %d", r.code)
	}
	if r := e.do("POST", "https://"+HostOAuth+"/other", "", nil); r.code != 404 {
		t.Fatalf("unknown path: %d", r.code)
	}
}

func TestServiceAccountTokenHasNoMailbox(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("", ScopeCalendar, ScopeContacts) // no sub: the service account itself
	if r := e.do("GET", calEvents, tok, nil); r.code != 404 {
		t.Fatalf("calendar without subject: %d", r.code)
	}
	if r := e.do("GET", PeopleBase+"v1/people/me/connections?personFields=names", tok, nil); r.code != 404 {
		t.Fatalf("people without subject: %d", r.code)
	}
}

func TestAccessTokenChecks(t *testing.T) {
	e := newEnv(t, Options{})
	good := e.token(alice, ScopeCalendar, ScopeContacts)
	cases := []struct{ name, auth string }{
		{"missing", ""},
		{"garbage", "Bearer ya29.not-a-token"},
		{"basic scheme", "Basic " + good},
		{"empty bearer", "Bearer "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			r := e.do("GET", calEvents, "", nil, hdr...)
			code, status, reason, domain := gerr(t, r)
			if r.code != 401 || code != 401 || status != "UNAUTHENTICATED" || reason != "authError" || domain != "global" {
				t.Fatalf("calendar: %d %s", r.code, r.raw)
			}
			if !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatal("no WWW-Authenticate challenge")
			}
			r = e.do("GET", PeopleBase+"v1/people/me/connections?personFields=names", "", nil, hdr...)
			if code, status, _, _ := gerr(t, r); r.code != 401 || code != 401 || status != "UNAUTHENTICATED" {
				t.Fatalf("people: %d %s", r.code, r.raw)
			}
		})
	}
	if r := e.do("GET", calEvents, good, nil); r.code != 200 {
		t.Fatalf("good token: %d", r.code)
	}
	e.clk.Advance(time.Hour)
	if r := e.do("GET", calEvents, good, nil); r.code != 401 {
		t.Fatalf("token after its hour: %d", r.code)
	}
	fresh := e.token(alice, ScopeCalendar)
	e.srv.ExpireTokens()
	if r := e.do("GET", calEvents, fresh, nil); r.code != 401 {
		t.Fatalf("token after ExpireTokens: %d", r.code)
	}
}

func TestScopesAreEnforced(t *testing.T) {
	e := newEnv(t, Options{})
	ro := e.token(alice, ScopeCalendarReadonly, ScopeContactsReadonly)
	if r := e.do("GET", calEvents, ro, nil); r.code != 200 {
		t.Fatalf("read with readonly scope: %d", r.code)
	}
	r := e.do("POST", calEvents, ro, timed("x", t0, time.Hour))
	if _, _, reason, _ := gerr(t, r); r.code != 403 || reason != "insufficientPermissions" {
		t.Fatalf("insert with readonly scope: %d %s", r.code, r.raw)
	}
	r = e.do("POST", PeopleBase+"v1/people:createContact", ro, map[string]any{"names": []any{map[string]any{"givenName": "X"}}})
	if _, status, _, _ := gerr(t, r); r.code != 403 || status != "PERMISSION_DENIED" {
		t.Fatalf("createContact with readonly scope: %d %s", r.code, r.raw)
	}
	contactsOnly := e.token(alice, ScopeContacts)
	if r := e.do("GET", calEvents, contactsOnly, nil); r.code != 403 {
		t.Fatalf("calendar with contacts scope: %d", r.code)
	}
}

func TestUnknownHost(t *testing.T) {
	e := newEnv(t, Options{})
	req := e.do("GET", "https://"+HostAPIs+"/drive/v3/files", e.token(alice, ScopeCalendar), nil)
	if req.code != 404 {
		t.Fatalf("unknown API on www.googleapis.com: %d", req.code)
	}
	// Through the handler directly: a host the emulator does not serve.
	rec := serveDirect(e.srv.Handler(), "GET", "https://gmail.googleapis.com/gmail/v1/users/me/messages")
	if rec.Code != 404 {
		t.Fatalf("unknown host: %d", rec.Code)
	}
}
