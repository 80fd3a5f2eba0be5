package microsoft

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/syncgate/syncgate/emulate/clock"
	"github.com/syncgate/syncgate/internal/testpki"
)

const (
	tenantA   = "11111111-1111-4111-8111-111111111111"
	tenantB   = "22222222-2222-4222-8222-222222222222"
	domainA   = "contoso.onmicrosoft.com"
	clientA   = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	clientB   = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	clientRO  = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
	secretA   = "A1~s3cret.value_for+app&A"
	secretB   = "secret-for-app-B"
	secretRO  = "secret-for-read-only-app"
	aliceID   = "a11ce000-0000-4000-8000-000000000001"
	aliceUPN  = "alice@contoso.example"
	carolID   = "ca401000-0000-4000-8000-000000000003"
	carolUPN  = "carol@contoso.example"
	bobID     = "b0b00000-0000-4000-8000-000000000002"
	bobUPN    = "bob@fabrikam.example"
	graphBase = "https://graph.microsoft.com/v1.0"
)

var epoch = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

type env struct {
	t    *testing.T
	s    *Server
	clk  *clock.Fake
	ts   *httptest.Server
	c    *http.Client
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// rsaCert makes a self-signed RSA certificate, as an app registration
// would carry (testpki makes ECDSA keys; Entra assertions are RSA).
func rsaCert(t testing.TB) (*rsa.PrivateKey, *x509.Certificate, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "syncgate test app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return k, c, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// newEnv starts the emulator behind real TLS on 127.0.0.1 with a leaf for
// the real host names, and a client that sends every host there.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	clk := clock.NewFake(epoch)
	o.Clock = clk
	s := New(o)
	key, cert, certPEM := rsaCert(t)
	must(t, s.AddTenant(Tenant{ID: tenantA, Domains: []string{domainA}}))
	must(t, s.AddTenant(Tenant{ID: tenantB}))
	must(t, s.AddApp(App{TenantID: tenantA, ClientID: clientA, ClientSecret: secretA, CertificatePEM: certPEM}))
	must(t, s.AddApp(App{TenantID: tenantB, ClientID: clientB, ClientSecret: secretB}))
	must(t, s.AddApp(App{TenantID: domainA, ClientID: clientRO, ClientSecret: secretRO, Permissions: []string{"Contacts.Read", "Calendars.Read"}}))
	must(t, s.AddUser(User{TenantID: tenantA, ID: aliceID, UserPrincipalName: aliceUPN, DisplayName: "Alice", Mail: aliceUPN}))
	must(t, s.AddUser(User{TenantID: tenantA, ID: carolID, UserPrincipalName: carolUPN, DisplayName: "Carol"}))
	must(t, s.AddUser(User{TenantID: tenantB, ID: bobID, UserPrincipalName: bobUPN, DisplayName: "Bob"}))

	ts, c, _ := testpki.ServeHosts(t, s.Handler(), s.Hosts()...)
	return &env{t: t, s: s, clk: clk, ts: ts, c: c, key: key, cert: cert}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type resp struct {
	status int
	h      http.Header
	raw    []byte
	body   map[string]any
}

func (r resp) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (r resp) list() []map[string]any {
	vs, _ := r.body["value"].([]any)
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.(map[string]any))
	}
	return out
}

// do sends a request; body may be nil, a url.Values (form) or anything JSON.
func (e *env) do(method, u, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		must(e.t, err)
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	must(e.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := e.c.Do(req)
	must(e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	must(e.t, err)
	out := resp{status: res.StatusCode, h: res.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, u, raw, err)
		}
	}
	return out
}

func tokenURL(tenant string) string {
	return "https://" + LoginHost + "/" + tenant + "/oauth2/v2.0/token"
}

func (e *env) tokenFor(tenant, client, secret string) string {
	e.t.Helper()
	r := e.do("POST", tokenURL(tenant), "", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}, "scope": {GraphScope}})
	if r.status != 200 {
		e.t.Fatalf("token: %d %s", r.status, r.raw)
	}
	return r.str("access_token")
}

func (e *env) token() string { return e.tokenFor(tenantA, clientA, secretA) }

// assertion signs a client assertion with golang-jwt, an independent
// implementation, so the emulator's parser is checked against real JWTs.
func (e *env) assertion(mod func(h map[string]any, c jwt.MapClaims)) string {
	e.t.Helper()
	now := e.clk.Now()
	c := jwt.MapClaims{
		"aud": tokenURL(tenantA), "iss": clientA, "sub": clientA,
		"jti": newGUID(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	x5t, _ := thumbprints(e.cert)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["x5t"] = x5t
	if mod != nil {
		mod(tok.Header, c)
	}
	var key any = e.key
	switch tok.Header["alg"] {
	case "PS256":
		tok.Method = jwt.SigningMethodPS256
	case "HS256":
		tok.Method = jwt.SigningMethodHS256
		key = x509.MarshalPKCS1PublicKey(&e.key.PublicKey)
	}
	s, err := tok.SignedString(key)
	must(e.t, err)
	return s
}

func assertionForm(a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientA}, "scope": {GraphScope},
		"client_assertion_type": {jwtBearerType}, "client_assertion": {a}}
}

// checkGraphError asserts the OData error shape and code.
func checkGraphError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if got := r.str("error", "code"); got != code {
		t.Fatalf("error code %q, want %q: %s", got, code, r.raw)
	}
	if r.str("error", "message") == "" {
		t.Fatalf("error without message: %s", r.raw)
	}
	ie, _ := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if ie == nil || ie["date"] == "" || ie["request-id"] == "" || ie["client-request-id"] == nil {
		t.Fatalf("innerError missing date/request-id/client-request-id: %s", r.raw)
	}
	if ie["request-id"] != r.h.Get("request-id") {
		t.Fatalf("innerError request-id %v != header %q", ie["request-id"], r.h.Get("request-id"))
	}
}

func userURL(u string, rest ...string) string {
	return graphBase + "/users/" + url.PathEscape(u) + "/" + strings.Join(rest, "/")
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// oauthHTTPClient is the context key x/oauth2 reads its HTTP client from.
var oauthHTTPClient = oauth2.HTTPClient

var (
	cachedKeyOnce sync.Once
	cachedKey     *rsa.PrivateKey
	cachedCert    *x509.Certificate
	cachedPEM     string
)

// rsaCertCached shares one RSA certificate between fuzz iterations; making
// a 2048-bit key per iteration would dominate the run.
func rsaCertCached(t testing.TB) (*rsa.PrivateKey, *x509.Certificate, string) {
	t.Helper()
	cachedKeyOnce.Do(func() { cachedKey, cachedCert, cachedPEM = rsaCert(t) })
	return cachedKey, cachedCert, cachedPEM
}
