package salesforce_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
	sfemu "github.com/syncgate/syncgate/emulate/salesforce"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

const (
	consumerKey = "3MVG9_syncgate_connector_test"
	alice       = "alice@corp.example"
	bob         = "bob@corp.example"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

var (
	keyOnce sync.Once
	appKey  *rsa.PrivateKey
	appCert string
)

// rsaFixture is the connected app's signing key and certificate, made once
// per test binary (RSA generation is slow).
func rsaFixture(t testing.TB) (*rsa.PrivateKey, string) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syncgate-jwt"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &appKey.PublicKey, appKey)
		if err != nil {
			panic(err)
		}
		appCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
	return appKey, appCert
}

// fakeGateway is the RoundTripper that plays the gateway's part in these
// tests. In production sync/gateway's client sends the request to
// `syncgate serve` with Syncgate-Subject, and the gateway injects the
// user's token; here the same happens in-process: the acting user comes
// from the context (gateway.Subject), a real access token is obtained from
// the emulator's own OAuth 2.0 JWT bearer flow for that user, and the
// answer gets a Syncgate-Request-Id like the gateway's.
type fakeGateway struct {
	next   http.RoundTripper
	direct *http.Client // to the emulator's token endpoint
	clk    *clock.Fake

	mu       sync.Mutex
	tokens   map[string]string
	n        int
	log      []string // "METHOD path" of every call
	authSeen bool     // the connector set Authorization itself
	badToken string   // when set, sent instead of the real token
	failNext error    // when set, the next call fails with it
	// after runs after each answer (tests flip emulator faults here).
	after func(req *http.Request, resp *http.Response)
}

func (g *fakeGateway) RoundTrip(req *http.Request) (*http.Response, error) {
	subject := gateway.Subject(req.Context())
	if subject == "" {
		return nil, errors.New("gateway: request without an acting user (Syncgate-Subject)")
	}
	g.mu.Lock()
	if req.Header.Get("Authorization") != "" {
		g.authSeen = true
	}
	g.n++
	n := g.n
	g.log = append(g.log, req.Method+" "+req.URL.Path)
	fail := g.failNext
	g.failNext = nil
	bad := g.badToken
	after := g.after
	g.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	tok := bad
	if tok == "" {
		var err error
		if tok, err = g.token(subject); err != nil {
			return nil, err
		}
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := g.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Header.Set(gateway.RequestIDHeader, fmt.Sprintf("gw-%d", n))
	if after != nil {
		after(req, resp)
	}
	return resp, nil
}

// token runs the JWT bearer flow for user (cached).
func (g *fakeGateway) token(user string) (string, error) {
	g.mu.Lock()
	tok, ok := g.tokens[user]
	g.mu.Unlock()
	if ok {
		return tok, nil
	}
	key := appKey // made by newEnv
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	c, _ := json.Marshal(map[string]any{"iss": consumerKey, "sub": user, "aud": "https://login.salesforce.com", "exp": g.clk.Now().Add(3 * time.Minute).Unix()})
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	resp, err := g.direct.PostForm("https://"+sfemu.LoginHost+"/services/oauth2/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {in + "." + base64.RawURLEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("token for %s: HTTP %d", user, resp.StatusCode)
	}
	g.mu.Lock()
	g.tokens[user] = out.AccessToken
	g.mu.Unlock()
	return out.AccessToken, nil
}

func (g *fakeGateway) calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.log...)
}

type env struct {
	srv  *sfemu.Server
	clk  *clock.Fake
	gw   *fakeGateway
	conn *salesforce.Connector
	ids  map[string]string // username -> user id
	skew time.Duration     // added to the connector's clock
}

// newEnv starts the Salesforce emulator over real TLS under its real host
// names, with users alice and bob, and a connector whose HTTP client goes
// through the fake gateway.
func newEnv(t *testing.T, mod func(*salesforce.Options)) *env {
	t.Helper()
	_, cert := rsaFixture(t)
	clk := clock.NewFake(t0)
	srv := sfemu.New(sfemu.Options{Clock: clk})
	if err := srv.AddConnectedApp(sfemu.ConnectedApp{Name: "syncgate", ConsumerKey: consumerKey, CertificatePEM: cert, PreApproved: []string{alice, bob}}); err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, clk: clk, ids: map[string]string{}}
	for _, u := range []string{alice, bob} {
		id, err := srv.AddUser(sfemu.User{Username: u})
		if err != nil {
			t.Fatal(err)
		}
		e.ids[u] = id
	}
	_, client, _ := testpki.ServeHosts(t, srv.Handler(), srv.Hosts()...)
	e.gw = &fakeGateway{next: client.Transport, direct: client, clk: clk, tokens: map[string]string{}}
	o := salesforce.Options{
		InstanceURL: srv.InstanceURL(),
		HTTP: &http.Client{Transport: e.gw, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Now: func() time.Time { return clk.Now().Add(e.skew) },
	}
	if mod != nil {
		mod(&o)
	}
	conn, err := salesforce.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	t.Cleanup(func() {
		if e.gw.authSeen {
			t.Error("the connector set an Authorization header itself")
		}
	})
	return e
}

func contacts(user string) connector.Scope { return connector.Scope{User: user, Kind: model.Contacts} }

func events(user string, ws, we time.Time) connector.Scope {
	return connector.Scope{User: user, Kind: model.Events, WindowStart: ws, WindowEnd: we}
}

// seed creates a record as user through the emulator's admin API.
func (e *env) seed(t *testing.T, user, obj string, f map[string]any) string {
	t.Helper()
	id, err := e.srv.Seed(user, obj, f)
	if err != nil {
		t.Fatalf("seed %s: %v", obj, err)
	}
	return id
}

// rest calls the emulator's REST API as user directly, the way a person
// editing in Salesforce would change a record.
func (e *env) rest(t *testing.T, user, method, path string, body any) int {
	t.Helper()
	tok, err := e.gw.token(user)
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.InstanceURL()+"/services/data/v60.0"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.gw.direct.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// changes calls Changes and fails the test on error.
func (e *env) changes(t *testing.T, s connector.Scope, cursor string) *connector.Changes {
	t.Helper()
	ch, err := e.conn.Changes(context.Background(), s, cursor)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if ch.Cursor == "" {
		t.Fatal("Changes returned no cursor")
	}
	return ch
}

func byID(items []*model.Item) map[string]*model.Item {
	m := map[string]*model.Item{}
	for _, it := range items {
		m[it.ID] = it
	}
	return m
}

// live counts the live records of obj carrying key.
func (e *env) live(t *testing.T, obj, key string) int {
	t.Helper()
	recs, err := e.srv.Records(obj)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if !r.Deleted && r.Fields["Syncgate_Id__c"] == key {
			n++
		}
	}
	return n
}

// noData fails when an error string carries anything that looks like data,
// a query or a credential.
func noData(t *testing.T, err error, secrets ...string) {
	t.Helper()
	s := err.Error()
	for _, bad := range append([]string{"SELECT", "q=", "Bearer", "services/data", "@"}, secrets...) {
		if bad != "" && strings.Contains(s, bad) {
			t.Errorf("error %q contains %q", s, bad)
		}
	}
}
