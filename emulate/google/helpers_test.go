package google

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/syncgate/syncgate/emulate/clock"
	"github.com/syncgate/syncgate/internal/testpki"
)

const (
	saEmail  = "syncgate@proj.iam.gserviceaccount.com"
	saID     = "108000000000000000001"
	saKeyID  = "kid-1"
	alice    = "alice@corp.example"
	bob      = "bob@corp.example"
	outsider = "mallory@evil.example"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// RSA generation is slow; one key pair per test binary is plenty.
var testKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	a, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	b, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return a, b
})

func pemPublic(t testing.TB, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func pemPrivate(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// env is an emulator behind a real TLS listener on 127.0.0.1 with a
// certificate for the real Google host names, and a client that trusts the
// test CA and sends every host to that listener.
type env struct {
	t      testing.TB
	srv    *Server
	clk    *clock.Fake
	ts     *httptest.Server
	client *http.Client
	key    *rsa.PrivateKey
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	clk := clock.NewFake(t0)
	o.Clock = clk
	s := New(o)
	ts, client, _ := testpki.ServeHosts(t, s.Handler(), s.Hosts()...)
	key, _ := testKeys()
	if err := s.AddServiceAccount(ServiceAccount{ClientEmail: saEmail, ClientID: saID, KeyID: saKeyID,
		PublicKeyPEM: pemPublic(t, key), DWDScopes: []string{ScopeCalendar, ScopeCalendarReadonly, ScopeContacts, ScopeContactsReadonly}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{alice, bob, outsider} {
		if err := s.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, srv: s, clk: clk, ts: ts, client: client, key: key}
}

// claims returns a valid assertion claim set for sub and scopes.
func (e *env) claims(sub string, scopes ...string) jwt.MapClaims {
	now := e.clk.Now().Unix()
	c := jwt.MapClaims{"iss": saEmail, "aud": TokenURL, "iat": now, "exp": now + 3600, "scope": strings.Join(scopes, " ")}
	if sub != "" {
		c["sub"] = sub
	}
	return c
}

func (e *env) sign(c jwt.MapClaims, key *rsa.PrivateKey, kid string) string {
	e.t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// postToken posts a form to the token endpoint and returns status and body.
func (e *env) postToken(form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.client.PostForm(TokenURL, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		e.t.Fatalf("token response %d not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, body
}

// token obtains an access token through the real JWT-bearer exchange.
func (e *env) token(sub string, scopes ...string) string {
	e.t.Helper()
	code, body := e.postToken(url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(e.claims(sub, scopes...), e.key, saKeyID)}})
	if code != 200 {
		e.t.Fatalf("token: %d %v", code, body)
	}
	return body["access_token"].(string)
}

type result struct {
	code   int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (e *env) do(method, rawURL, token string, body any, hdr ...string) result {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{code: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON: %v", method, rawURL, err)
		}
	}
	return r
}

// gerr extracts error.code, error.status and the first reason of a Google error body.
func gerr(t testing.TB, r result) (code float64, status, reason, domain string) {
	t.Helper()
	eb, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %d %s", r.code, r.raw)
	}
	code, _ = eb["code"].(float64)
	status, _ = eb["status"].(string)
	if errs, ok := eb["errors"].([]any); ok && len(errs) > 0 {
		first := errs[0].(map[string]any)
		reason, _ = first["reason"].(string)
		domain, _ = first["domain"].(string)
	}
	if det, ok := eb["details"].([]any); ok && len(det) > 0 && reason == "" {
		reason, _ = det[0].(map[string]any)["reason"].(string)
	}
	return
}

func items(t testing.TB, r result) []map[string]any {
	t.Helper()
	var out []map[string]any
	raw, _ := r.body["items"].([]any)
	for _, it := range raw {
		out = append(out, it.(map[string]any))
	}
	return out
}

const calEvents = CalendarBase + "calendars/primary/events"

func timed(summary string, start time.Time, d time.Duration) map[string]any {
	return map[string]any{"summary": summary,
		"start": map[string]any{"dateTime": start.Format(time.RFC3339)},
		"end":   map[string]any{"dateTime": start.Add(d).Format(time.RFC3339)}}
}

func serveDirect(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func newReq(method, target, body string) (*http.Request, error) {
	return http.NewRequest(method, target, strings.NewReader(body))
}
