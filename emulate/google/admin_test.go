package google

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type adminClient struct {
	t    *testing.T
	base string
}

func (a adminClient) call(method, path, body string) (int, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func TestAdminSeedListAndFaults(t *testing.T) {
	e := newEnv(t, Options{})
	mux := http.NewServeMux()
	mux.Handle("/_emulator/google/", http.StripPrefix("/_emulator/google", e.srv.Admin()))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	a := adminClient{t, ts.URL + "/_emulator/google"}

	if code, _ := a.call("POST", "/users", `{"email":"Carol@corp.example"}`); code != 201 {
		t.Fatalf("add user: %d", code)
	}
	ev := `{"id":"seedevent001","summary":"Seeded","start":{"dateTime":"2026-03-03T10:00:00Z"},"end":{"dateTime":"2026-03-03T11:00:00Z"}}`
	if code, raw := a.call("POST", "/users/carol@corp.example/events", ev); code != 201 {
		t.Fatalf("seed event: %d %s", code, raw)
	}
	if code, raw := a.call("POST", "/users/carol@corp.example/events", `{"summary":"no times"}`); code != 400 {
		t.Fatalf("invalid event: %d %s", code, raw)
	}
	if code, raw := a.call("POST", "/users/carol@corp.example/contacts", `{"names":[{"givenName":"Seed"}]}`); code != 201 {
		t.Fatalf("seed contact: %d %s", code, raw)
	}
	code, raw := a.call("GET", "/users/carol@corp.example/events", "")
	var evs []map[string]any
	if code != 200 || json.Unmarshal(raw, &evs) != nil || len(evs) != 1 || evs[0]["id"] != "seedevent001" {
		t.Fatalf("list events: %d %s", code, raw)
	}
	// The seeded event is visible through the real API.
	tok := e.token("carol@corp.example", ScopeCalendar)
	if r := e.do("GET", calEvents+"/seedevent001", tok, nil); r.code != 200 {
		t.Fatalf("seeded event over the API: %d", r.code)
	}
	code, raw = a.call("GET", "/users/carol@corp.example/contacts", "")
	var cs []map[string]any
	if code != 200 || json.Unmarshal(raw, &cs) != nil || len(cs) != 1 {
		t.Fatalf("list contacts: %d %s", code, raw)
	}
	rn := cs[0]["resourceName"].(string)
	if code, _ := a.call("DELETE", "/users/carol@corp.example/contacts/"+strings.TrimPrefix(rn, "people/"), ""); code != 204 {
		t.Fatalf("delete contact: %d", code)
	}
	if code, _ := a.call("DELETE", "/users/carol@corp.example/events/seedevent001", ""); code != 204 {
		t.Fatalf("delete event: %d", code)
	}
	if code, _ := a.call("GET", "/users/nobody@corp.example/events", ""); code != 404 {
		t.Fatalf("unknown user: %d", code)
	}

	key, _ := testKeys()
	sa, _ := json.Marshal(ServiceAccount{ClientEmail: "other@p.iam.gserviceaccount.com", ClientID: "2", PublicKeyPEM: pemPublic(t, key), DWDScopes: []string{ScopeContacts}})
	if code, raw := a.call("POST", "/service-accounts", string(sa)); code != 201 {
		t.Fatalf("add service account: %d %s", code, raw)
	}
	if code, _ := a.call("POST", "/service-accounts", `{"client_email":"x@y","client_id":"3","public_key_pem":"nope"}`); code != 400 {
		t.Fatalf("bad key accepted: %d", code)
	}
	code, raw = a.call("GET", "/state", "")
	var st struct {
		Domain          string
		ServiceAccounts []ServiceAccount `json:"service_accounts"`
		Users           []string
	}
	if code != 200 || json.Unmarshal(raw, &st) != nil || st.Domain != "corp.example" || len(st.ServiceAccounts) != 2 || len(st.Users) != 4 {
		t.Fatalf("state: %d %s", code, raw)
	}

	if code, _ := a.call("PUT", "/faults", `{"fail_next":1,"fail_status":502}`); code != 200 {
		t.Fatalf("set faults: %d", code)
	}
	if r := e.do("GET", calEvents, tok, nil); r.code != 502 {
		t.Fatalf("injected 502: %d", r.code)
	}
	for _, bad := range []string{`{"rate_limit":500}`, `{"fail_status":404}`, `not json`} {
		if code, _ := a.call("PUT", "/faults", bad); code != 400 {
			t.Fatalf("faults %s: %d", bad, code)
		}
	}
	if code, _ := a.call("POST", "/expire-tokens", ""); code != 200 {
		t.Fatalf("expire tokens: %d", code)
	}
	if r := e.do("GET", calEvents, tok, nil); r.code != 401 {
		t.Fatalf("token after expire-tokens: %d", r.code)
	}
	if code, _ := a.call("POST", "/invalidate-sync-tokens", `{"user":"nobody@corp.example"}`); code != 404 {
		t.Fatalf("invalidate for unknown user: %d", code)
	}
	if code, _ := a.call("POST", "/invalidate-sync-tokens", `{"user":""}`); code != 200 {
		t.Fatalf("invalidate all: %d", code)
	}
	if code, _ := a.call("PUT", "/domain", `{"domain":"other.example"}`); code != 200 || e.srv.Domain() != "other.example" {
		t.Fatalf("set domain: %d", code)
	}
	if code, _ := a.call("GET", "/nope/nope", ""); code != 404 {
		t.Fatalf("unknown admin path: %d", code)
	}
}

func TestAdminRefusesNonLoopback(t *testing.T) {
	s := New(Options{})
	for _, remote := range []string{"203.0.113.9:4000", "10.0.0.1:1", "garbage", ""} {
		req := httptest.NewRequest("POST", "/users", strings.NewReader(`{"email":"x@corp.example"}`))
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		s.Admin().ServeHTTP(rec, req)
		if rec.Code != 403 {
			t.Fatalf("remote %q: %d", remote, rec.Code)
		}
	}
	if len(s.Users()) != 0 {
		t.Fatal("a refused request changed state")
	}
}

func TestNoSecretsInResponses(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	e.srv.ExpireTokens()
	r := e.do("GET", calEvents, tok, nil)
	if r.code != 401 || strings.Contains(string(r.raw), tok) || strings.Contains(string(r.raw), tok[10:]) {
		t.Fatalf("401 body echoes the token: %s", r.raw)
	}
	// The state listing holds no private keys and no tokens.
	raw, _ := json.Marshal(map[string]any{"sa": e.srv.ServiceAccounts()})
	if strings.Contains(string(raw), "PRIVATE KEY") || strings.Contains(string(raw), "ya29.") {
		t.Fatalf("state leaks secrets: %s", raw)
	}
	// Tokens are stored by hash only.
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if _, raw := e.srv.tokens[tok]; raw {
		t.Fatal("token stored in the clear")
	}
	if _, hashed := e.srv.tokens[hashToken(tok)]; !hashed {
		t.Fatal("token not tracked")
	}
}
