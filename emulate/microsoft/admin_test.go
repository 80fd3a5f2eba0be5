package microsoft

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

func adminCall(t *testing.T, base, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		must(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	must(t, err)
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// TestAdminSeedAndOAuth2Client seeds everything through the admin API over
// a loopback listener, then uses golang.org/x/oauth2's client-credentials
// client over real TLS against the token endpoint and calls Graph.
func TestAdminSeedAndOAuth2Client(t *testing.T) {
	e := newEnv(t, Options{})
	admin := httptest.NewServer(http.StripPrefix("/_emulator/microsoft", e.s.Admin()))
	t.Cleanup(admin.Close)
	base := admin.URL + "/_emulator/microsoft"
	const tid, cid, secret = "33333333-3333-4333-8333-333333333333", "dddddddd-dddd-4ddd-8ddd-dddddddddddd", "seeded-secret-value"
	steps := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/tenants", Tenant{ID: tid, Domains: []string{"northwind.example"}}, 201},
		{"POST", "/apps", App{TenantID: tid, ClientID: cid, ClientSecret: secret}, 201},
		{"POST", "/users", User{TenantID: tid, ID: "dave-id", UserPrincipalName: "dave@northwind.example"}, 201},
		{"POST", "/users", User{TenantID: tid, ID: "dave-id", UserPrincipalName: "dave2@northwind.example"}, 400},
		{"POST", "/users", User{TenantID: "nope", ID: "x", UserPrincipalName: "x@y"}, 400},
		{"POST", "/users/dave@northwind.example/contacts", map[string]any{"givenName": "Eve"}, 201},
		{"POST", "/users/dave-id/events", sampleEvent("Seeded", "2026-11-23T10:00:00", "2026-11-23T11:00:00"), 201},
		{"POST", "/users/dave-id/events", map[string]any{"subject": "no times"}, 400},
		{"POST", "/users/nobody/contacts", map[string]any{"givenName": "x"}, 404},
		{"PUT", "/faults", Faults{ErrorRate: 2}, 400},
		{"GET", "/nothing", nil, 404},
	}
	for _, s := range steps {
		if st, raw := adminCall(t, base, s.method, s.path, s.body); st != s.want {
			t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, st, raw, s.want)
		}
	}
	st, raw := adminCall(t, base, "GET", "/apps", nil)
	if st != 200 || !strings.Contains(string(raw), cid) || strings.Contains(string(raw), secret) || strings.Contains(string(raw), secretA) {
		t.Fatalf("GET /apps: %d %s (must list apps, never secrets)", st, raw)
	}
	st, raw = adminCall(t, base, "GET", "/users/dave-id/contacts", nil)
	var contacts []map[string]any
	must(t, json.Unmarshal(raw, &contacts))
	if st != 200 || len(contacts) != 1 || contacts[0]["givenName"] != "Eve" {
		t.Fatalf("GET contacts: %d %s", st, raw)
	}

	cc := clientcredentials.Config{ClientID: cid, ClientSecret: secret, TokenURL: tokenURL("northwind.example"), Scopes: []string{GraphScope}}
	ctx := context.WithValue(context.Background(), oauthHTTPClient, e.c)
	hc := cc.Client(ctx)
	res, err := hc.Get(userURL("dave@northwind.example", "events"))
	must(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Seeded") {
		t.Fatalf("graph via oauth2 client: %d %s", res.StatusCode, body)
	}
	tok, err := cc.Token(ctx)
	must(t, err)
	if tok.Expiry.Sub(time.Now()) < 50*time.Minute {
		t.Fatalf("token expiry %v, want about an hour", tok.Expiry)
	}

	// Faults and resets through the admin API.
	if st, raw := adminCall(t, base, "PUT", "/faults", Faults{Throttle: true, RetryAfter: 3}); st != 200 {
		t.Fatalf("PUT faults: %d %s", st, raw)
	}
	r := e.do("GET", userURL("dave-id", "events"), tok.AccessToken, nil)
	checkGraphError(t, r, 429, "ApplicationThrottled")
	if st, _ := adminCall(t, base, "PUT", "/faults", Faults{}); st != 200 {
		t.Fatal("clear faults")
	}
	if st, _ := adminCall(t, base, "POST", "/tokens/expire", nil); st != 204 {
		t.Fatal("expire tokens")
	}
	checkGraphError(t, e.do("GET", userURL("dave-id", "events"), tok.AccessToken, nil), 401, "InvalidAuthenticationToken")
	if st, _ := adminCall(t, base, "POST", "/delta/invalidate", nil); st != 204 {
		t.Fatal("invalidate delta")
	}
}

func TestAdminLoopbackOnly(t *testing.T) {
	s := New(Options{})
	for _, remote := range []string{"10.0.0.5:4000", "192.0.2.1:1", "garbage", "[2001:db8::1]:80"} {
		req := httptest.NewRequest("POST", "/tenants", strings.NewReader(`{"id":"t"}`))
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		s.Admin().ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("remote %s: %d", remote, rec.Code)
		}
	}
	if len(s.Tenants()) != 0 {
		t.Fatal("a non-loopback admin call changed state")
	}
	req := httptest.NewRequest("POST", "/tenants", strings.NewReader(`{"id":"t"}`))
	req.RemoteAddr = "[::1]:5555"
	rec := httptest.NewRecorder()
	s.Admin().ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated || len(s.Tenants()) != 1 {
		t.Fatalf("loopback: %d %s", rec.Code, rec.Body)
	}
}
