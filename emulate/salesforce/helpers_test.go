package salesforce

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
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

	"github.com/syncgate/syncgate/emulate/clock"
	"github.com/syncgate/syncgate/internal/testpki"
)

var (
	keyOnce  sync.Once
	appKey   *rsa.PrivateKey
	appCert  string
	otherKey *rsa.PrivateKey
)

// rsaFixtures makes the connected app's RSA key and self-signed certificate
// once per test binary (RSA generation is slow).
func rsaFixtures(t testing.TB) (*rsa.PrivateKey, string, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if otherKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syncgate-jwt"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &appKey.PublicKey, appKey)
		if err != nil {
			panic(err)
		}
		appCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
	return appKey, appCert, otherKey
}

func signJWT(t testing.TB, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

const (
	consumerKey = "3MVG9_syncgate_consumer"
	alice       = "alice@corp.example"
	bob         = "bob@corp.example" // exists but not pre-approved
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type env struct {
	srv    *Server
	clk    *clock.Fake
	client *http.Client
	ts     *httptest.Server
	tok    string
}

// newEnv starts the emulator behind real TLS on 127.0.0.1 with a certificate
// for its real host names; the client dials every host to that listener.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	_, cert, _ := rsaFixtures(t)
	clk := clock.NewFake(t0)
	o.Clock = clk
	srv := New(o)
	if err := srv.AddConnectedApp(ConnectedApp{Name: "syncgate", ConsumerKey: consumerKey, CertificatePEM: cert, PreApproved: []string{alice}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{alice, bob} {
		if _, err := srv.AddUser(User{Username: u}); err != nil {
			t.Fatal(err)
		}
	}
	ts, client, _ := testpki.ServeHosts(t, srv.Handler(), srv.Hosts()...)
	return &env{srv: srv, clk: clk, client: client, ts: ts}
}

func (e *env) assertion(t testing.TB, mod func(map[string]any)) string {
	t.Helper()
	key, _, _ := rsaFixtures(t)
	c := map[string]any{"iss": consumerKey, "sub": alice, "aud": "https://login.salesforce.com", "exp": e.clk.Now().Add(3 * time.Minute).Unix()}
	if mod != nil {
		mod(c)
	}
	return signJWT(t, key, "RS256", c)
}

func (e *env) tokenRequest(t testing.TB, host string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := e.client.PostForm("https://"+host+"/services/oauth2/token", form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, out
}

func (e *env) login(t testing.TB) string {
	t.Helper()
	st, out := e.tokenRequest(t, LoginHost, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {e.assertion(t, nil)}})
	if st != 200 {
		t.Fatalf("login: %d %v", st, out)
	}
	e.tok = out["access_token"].(string)
	return e.tok
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

// errCode returns the first errorCode of a Salesforce error array.
func (r resp) errCode(t testing.TB) string {
	t.Helper()
	var errs []apiError
	if err := json.Unmarshal(r.body, &errs); err != nil || len(errs) == 0 {
		t.Fatalf("want error array, got %d %s", r.status, r.body)
	}
	return errs[0].ErrorCode
}

func (e *env) do(t testing.TB, method, path string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, "https://corp.my.salesforce.com"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if e.tok != "" {
		req.Header.Set("Authorization", "Bearer "+e.tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}
