package emulate

import (
	"crypto/sha1" //nolint:gosec // x5t
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/emulate/microsoft"
)

func TestHostsCoverEveryService(t *testing.T) {
	set := New(Options{SalesforceInstance: "acme.my.salesforce.com", EWSHost: "Exchange.Acme.Example"})
	got := map[string]bool{}
	for _, h := range set.Hosts() {
		got[h] = true
	}
	for _, want := range []string{microsoft.GraphHost, microsoft.LoginHost, google.HostOAuth, google.HostAPIs, google.HostPeople,
		"login.salesforce.com", "test.salesforce.com", "acme.my.salesforce.com", "exchange.acme.example", VaultHost} {
		if !got[want] {
			t.Errorf("Hosts() lacks %s: %v", want, set.Hosts())
		}
	}
	if got[DefaultSalesforceInstance] || got[DefaultEWSHost] {
		t.Errorf("Hosts() still has a default host after overriding it: %v", set.Hosts())
	}
}

func TestMicrosoftClientSecretThenGraph(t *testing.T) {
	e := newEnv(t)
	ms := e.seed.Microsoft
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ms.ClientID},
		"client_secret": {readSecret(t, ms.ClientSecretFile)}, "scope": {ms.Scope}}
	r := e.postForm(t, ms.TokenURL, form)
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token in %s", r.body)
	}
	r = e.do(t, "GET", "https://graph.microsoft.com/v1.0/users/alice@corp.example/contacts", nil, map[string]string{"Authorization": "Bearer " + tok})
	if r.status != 200 {
		t.Fatalf("graph contacts: %d %s", r.status, r.body)
	}
	vals, _ := r.json(t)["value"].([]any)
	if len(vals) != 2 {
		t.Fatalf("alice has %d seeded contacts in Graph, want 2: %s", len(vals), r.body)
	}

	form.Set("client_secret", "wrong-"+form.Get("client_secret"))
	if r := e.postForm(t, ms.TokenURL, form); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d, want 401: %s", r.status, r.body)
	}
}

func TestMicrosoftCertificateAssertionFromSeed(t *testing.T) {
	e := newEnv(t)
	ms := e.seed.Microsoft
	key := readRSAKey(t, ms.KeyFile)
	cert := readCert(t, ms.CertFile)
	sum := sha1.Sum(cert.Raw) //nolint:gosec // x5t is SHA-1 by definition
	if got := fmt.Sprintf("%X", sum); got != ms.CertThumbprint {
		t.Fatalf("seeded thumbprint %s does not match the certificate file (%s)", ms.CertThumbprint, got)
	}
	now := e.clk.Now()
	j := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"aud": ms.TokenURL, "iss": ms.ClientID, "sub": ms.ClientID, "jti": "j-1",
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	j.Header["x5t"] = base64.RawURLEncoding.EncodeToString(sum[:])
	assertion, err := j.SignedString(key)
	must(t, err)
	r := e.postForm(t, ms.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {ms.ClientID}, "scope": {ms.Scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	if r.status != 200 {
		t.Fatalf("token by certificate: %d %s", r.status, r.body)
	}
}

func TestGoogleJWTBearerWithSeededKey(t *testing.T) {
	e := newEnv(t)
	g := e.seed.Google
	key := readRSAKey(t, g.KeyFile)
	assert := func(sub string, scopes ...string) string {
		now := e.clk.Now()
		j := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": g.ClientEmail, "sub": sub, "scope": strings.Join(scopes, " "), "aud": g.TokenURL,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		j.Header["kid"] = g.KeyID
		s, err := j.SignedString(key)
		must(t, err)
		return s
	}
	grant := "urn:ietf:params:oauth:grant-type:jwt-bearer"
	r := e.postForm(t, g.TokenURL, url.Values{"grant_type": {grant}, "assertion": {assert("alice@corp.example", g.Scopes...)}})
	if r.status != 200 {
		t.Fatalf("google token: %d %s", r.status, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	auth := map[string]string{"Authorization": "Bearer " + tok}
	r = e.do(t, "GET", google.CalendarBase+"calendars/primary/events", nil, auth)
	if r.status != 200 {
		t.Fatalf("calendar events: %d %s", r.status, r.body)
	}
	if items, _ := r.json(t)["items"].([]any); len(items) != 2 {
		t.Fatalf("alice has %d seeded Google events, want 2: %s", len(items), r.body)
	}
	r = e.do(t, "GET", google.PeopleBase+"v1/people/me/connections?personFields=names,emailAddresses", nil, auth)
	if r.status != 200 {
		t.Fatalf("people connections: %d %s", r.status, r.body)
	}
	if conns, _ := r.json(t)["connections"].([]any); len(conns) != 2 {
		t.Fatalf("alice has %d seeded Google contacts, want 2: %s", len(conns), r.body)
	}

	// DWD grants calendar and contacts, nothing else.
	r = e.postForm(t, g.TokenURL, url.Values{"grant_type": {grant}, "assertion": {assert("alice@corp.example", "https://www.googleapis.com/auth/gmail.readonly")}})
	if r.status == 200 {
		t.Fatalf("a scope outside the seeded delegation got a token: %s", r.body)
	}
}

func TestSalesforceJWTBearerGivesInstanceURL(t *testing.T) {
	e := newEnv(t)
	sf := e.seed.Salesforce
	key := readRSAKey(t, sf.KeyFile)
	assert := func(sub string) string {
		j := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": sf.ConsumerKey, "sub": sub, "aud": sf.Audience, "exp": e.clk.Now().Add(2 * time.Minute).Unix(),
		})
		s, err := j.SignedString(key)
		must(t, err)
		return s
	}
	grant := "urn:ietf:params:oauth:grant-type:jwt-bearer"
	r := e.postForm(t, sf.TokenURL, url.Values{"grant_type": {grant}, "assertion": {assert("bob@corp.example")}})
	if r.status != 200 {
		t.Fatalf("salesforce token: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["instance_url"] != sf.InstanceURL || sf.InstanceURL != "https://"+DefaultSalesforceInstance {
		t.Fatalf("instance_url %v, seeded %s", m["instance_url"], sf.InstanceURL)
	}
	tok, _ := m["access_token"].(string)
	q := url.QueryEscape("SELECT Id, Subject FROM Event")
	r = e.do(t, "GET", sf.InstanceURL+"/services/data/v60.0/query?q="+q, nil, map[string]string{"Authorization": "Bearer " + tok})
	if r.status != 200 {
		t.Fatalf("query: %d %s", r.status, r.body)
	}
	if n, _ := r.json(t)["totalSize"].(float64); n != 6 {
		t.Fatalf("org has %v seeded events, want 6 (2 per user): %s", n, r.body)
	}
	// Only the seeded users are pre-approved.
	r = e.postForm(t, sf.TokenURL, url.Values{"grant_type": {grant}, "assertion": {assert("mallory@corp.example")}})
	if r.status != 400 {
		t.Fatalf("unknown user got %d, want 400: %s", r.status, r.body)
	}
}

func ewsEnvelope(impersonate, body string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="` + ews.NSMessages + `" xmlns:t="` + ews.NSTypes + `">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` +
		impersonate + `</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header><soap:Body>` + body + `</soap:Body></soap:Envelope>`
}

const syncContacts = `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId><m:MaxChangesReturned>50</m:MaxChangesReturned></m:SyncFolderItems>`

func (e *env) ews(t *testing.T, user, pass, impersonate string) resp {
	t.Helper()
	req, err := http.NewRequest("POST", e.seed.EWS.URL, strings.NewReader(ewsEnvelope(impersonate, syncContacts)))
	must(t, err)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.SetBasicAuth(user, pass)
	res, err := e.client.Do(req)
	must(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	must(t, err)
	return resp{status: res.StatusCode, body: b}
}

func TestEWSSyncFolderItemsWithImpersonation(t *testing.T) {
	e := newEnv(t)
	es := e.seed.EWS
	pw := readSecret(t, es.PasswordFile)
	r := e.ews(t, es.Username, pw, "alice@corp.example")
	if r.status != 200 || !strings.Contains(string(r.body), `ResponseClass="Success"`) {
		t.Fatalf("SyncFolderItems: %d %s", r.status, r.body)
	}
	if n := strings.Count(string(r.body), "<t:Create>"); n != 2 {
		t.Fatalf("alice's contacts folder synced %d creates, want 2:\n%s", n, r.body)
	}
	if r := e.ews(t, es.Username, pw+"x", "alice@corp.example"); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", r.status)
	}
	// Impersonation is granted for the demo mailboxes only.
	must(t, e.set.EWS.AddMailbox("dave@corp.example", "Dave"))
	if r := e.ews(t, es.Username, pw, "dave@corp.example"); !strings.Contains(string(r.body), "ErrorImpersonateUserDenied") {
		t.Fatalf("impersonating an ungranted mailbox: %d %s", r.status, r.body)
	}
}

func TestVaultEmulatorByHostAndOnLoopback(t *testing.T) {
	e := newEnv(t)
	for _, base := range []string{e.seed.Vault.Address, "https://" + e.addr, "https://localhost"} {
		r := e.do(t, "GET", base+"/v1/sys/health", nil, nil)
		if r.status != 200 || r.json(t)["initialized"] != true {
			t.Fatalf("%s sys/health: %d %s", base, r.status, r.body)
		}
	}
	tok := readSecret(t, e.seed.Vault.TokenFile)
	if r := e.do(t, "GET", e.seed.Vault.Address+"/v1/auth/token/lookup-self", nil, map[string]string{"X-Vault-Token": tok}); r.status != 200 {
		t.Fatalf("lookup-self with the seeded token: %d %s", r.status, r.body)
	}
	// The well-known dev root token must not work.
	if r := e.do(t, "GET", e.seed.Vault.Address+"/v1/auth/token/lookup-self", nil, map[string]string{"X-Vault-Token": "root"}); r.status != http.StatusForbidden {
		t.Fatalf(`token "root": %d, want 403: %s`, r.status, r.body)
	}
}

func TestUnknownHostRefused(t *testing.T) {
	e := newEnv(t)
	for _, host := range []string{"evil.example", "graph.microsoft.com.evil.example", "microsoft.com"} {
		// The TLS name is valid; only the Host header names another site,
		// as a misrouted or hostile client would send it.
		r := e.do(t, "GET", "https://graph.microsoft.com/v1.0/users", nil, map[string]string{"Host": host})
		if r.status != http.StatusMisdirectedRequest {
			t.Errorf("%s: %d, want 421", host, r.status)
			continue
		}
		if r.json(t)["error"] != "misdirected_request" {
			t.Errorf("%s: body %s", host, r.body)
		}
	}
	// A loopback name serves only the admin and Vault APIs.
	if r := e.do(t, "GET", "https://"+e.addr+"/v1.0/users/alice@corp.example/contacts", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("Graph path on the loopback name: %d, want 404", r.status)
	}
}

func TestHostRoutingIsCaseAndPortInsensitive(t *testing.T) {
	set := New(Options{})
	h := set.Handler()
	for _, host := range []string{"VAULT.emulator.local", "vault.emulator.local:443", "vault.emulator.local."} {
		req := httptest.NewRequest("GET", "https://x/v1/sys/health", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("Host %q: %d %s", host, rec.Code, rec.Body)
		}
	}
}

func TestAdminDeniesNonLoopbackClients(t *testing.T) {
	set := New(Options{Clock: nil})
	h := set.Handler()
	cases := []struct{ method, host, path string }{
		{"GET", "127.0.0.1", "/_emulator/"},
		{"GET", "127.0.0.1", "/_emulator"},
		{"GET", "localhost", "/_emulator/microsoft/users"},
		{"GET", "127.0.0.1", "/_emulator/google/state"},
		{"POST", "127.0.0.1", "/_emulator/ews/accounts"},
		{"GET", "127.0.0.1", "/_emulator/salesforce/users"},
		{"GET", "127.0.0.1", "/_emulator/vault/state"},
		{"POST", "127.0.0.1", "/_emulator/clock/advance"},
		{"GET", "graph.microsoft.com", "/_emulator/microsoft/users"},
		{"GET", "example.com", "/_emulator/"},
	}
	for _, remote := range []string{"10.0.0.1:1234", "[2001:db8::1]:443", "garbage", ""} {
		for _, c := range cases {
			req := httptest.NewRequest(c.method, "https://"+c.host+c.path, strings.NewReader(`{"seconds":60}`))
			req.RemoteAddr = remote
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden {
				t.Errorf("%s %s%s from %q: %d, want 403", c.method, c.host, c.path, remote, rec.Code)
			}
		}
	}
	// The same request from loopback is served.
	req := httptest.NewRequest("GET", "https://127.0.0.1/_emulator/", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("loopback: %d %s", rec.Code, rec.Body)
	}
}

func TestAdminOverTLSFromLoopback(t *testing.T) {
	e := newEnv(t)
	base := "https://" + e.addr + "/_emulator/"
	r := e.do(t, "GET", base, nil, nil)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", base, r.status, r.body)
	}
	svcs, _ := r.json(t)["services"].([]any)
	var names []string
	for _, s := range svcs {
		m, _ := s.(map[string]any)
		names = append(names, fmt.Sprint(m["name"]))
	}
	if got := strings.Join(names, ","); got != "ews,google,microsoft,salesforce,vault" {
		t.Fatalf("services %s", got)
	}
	for path, want := range map[string]string{
		"google/state":     "alice@corp.example",
		"ews/mailboxes":    "bob@corp.example",
		"salesforce/users": "alice@corp.example",
		"microsoft/users":  "alice@corp.example",
		"vault/state":      "live_tokens",
	} {
		r := e.do(t, "GET", base+path, nil, nil)
		if r.status != 200 || !strings.Contains(string(r.body), want) {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	// Admin calls change the emulators: a Vault fault switch.
	if r := e.do(t, "PUT", base+"vault/faults", strings.NewReader(`{"down":true}`), nil); r.status != 200 {
		t.Fatalf("vault faults: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", e.seed.Vault.Address+"/v1/sys/health", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("vault down: sys/health %d, want 503", r.status)
	}
	// Through a service host the admin API is not reachable, even from
	// loopback: a gateway on this machine forwards with the service host.
	if r := e.do(t, "GET", "https://graph.microsoft.com/_emulator/microsoft/users", nil, nil); r.status == 200 {
		t.Fatalf("admin API reachable through graph.microsoft.com: %s", r.body)
	}
	if r := e.do(t, "GET", base+"nope", nil, nil); r.status != 404 {
		t.Fatalf("unknown admin path: %d", r.status)
	}
}

func TestClockAdvance(t *testing.T) {
	e := newEnv(t)
	url := "https://" + e.addr + "/_emulator/clock/advance"
	r := e.do(t, "POST", url, strings.NewReader(`{"seconds":3600}`), nil)
	if r.status != 200 {
		t.Fatalf("advance: %d %s", r.status, r.body)
	}
	if got := e.clk.Now(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("clock at %v, want %v", got, t0.Add(time.Hour))
	}
	for _, body := range []string{``, `{}`, `{"seconds":0}`, `{"seconds":-5}`, `{"seconds":"60"}`, `{"seconds":1e30}`, `{"seconds":1,"x":1}`} {
		if r := e.do(t, "POST", url, strings.NewReader(body), nil); r.status != 400 {
			t.Errorf("body %q: %d, want 400", body, r.status)
		}
	}
	if got := e.clk.Now(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("a rejected advance moved the clock to %v", got)
	}

	real := New(Options{}).Handler()
	req := httptest.NewRequest("POST", "https://127.0.0.1/_emulator/clock/advance", strings.NewReader(`{"seconds":1}`))
	req.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	real.ServeHTTP(rec, req)
	if rec.Code != http.StatusConflict {
		t.Fatalf("advance on the wall clock: %d, want 409", rec.Code)
	}
}
