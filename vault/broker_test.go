package vault

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/emulate/clock"
)

// tokenEndpoint is a small OAuth token endpoint that checks what the
// broker sends: the client secret, or the signature and claims of an
// assertion. Each issued token is random.
type tokenEndpoint struct {
	t        *testing.T
	mu       sync.Mutex
	secret   string            // accepted client_secret
	verify   any               // public key for assertions
	issued   []string          // tokens handed out
	lastForm map[string]string // last request (secrets dropped)
	claims   jwt.MapClaims
	header   map[string]any
	fail     bool
	delay    time.Duration
	expires  int
	instance string
	requests atomic.Int32
}

func (te *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	te.requests.Add(1)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	te.mu.Lock()
	defer te.mu.Unlock()
	if te.delay > 0 {
		time.Sleep(te.delay)
	}
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":%q,"error_description":"echo %s"}`, code, r.PostForm.Get("client_secret"))
	}
	if te.fail {
		fail("temporarily_unavailable")
		return
	}
	te.lastForm = map[string]string{}
	for k := range r.PostForm {
		te.lastForm[k] = r.PostForm.Get(k)
	}
	if a := r.PostForm.Get("client_assertion"); a != "" || r.PostForm.Get("assertion") != "" {
		if a == "" {
			a = r.PostForm.Get("assertion")
		}
		tok, err := jwt.Parse(a, func(tk *jwt.Token) (any, error) { return te.verify, nil }, jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithoutClaimsValidation())
		if err != nil {
			te.t.Logf("assertion rejected: %v", err)
			fail("invalid_client")
			return
		}
		te.claims, te.header = tok.Claims.(jwt.MapClaims), tok.Header
	} else if r.PostForm.Get("client_secret") != te.secret {
		fail("invalid_client")
		return
	}
	tok := "at-" + randHex(16)
	te.issued = append(te.issued, tok)
	resp := map[string]any{"access_token": tok, "token_type": "Bearer"}
	if te.expires > 0 {
		resp["expires_in"] = te.expires
	}
	if te.instance != "" {
		resp["instance_url"] = te.instance
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

type brokerEnv struct {
	te     *tokenEndpoint
	url    string
	client *http.Client
	store  Store
	clk    *clock.Fake
	events []TokenEvent
	evMu   sync.Mutex
	logs   bytes.Buffer
	logMu  sync.Mutex
}

func (be *brokerEnv) Write(p []byte) (int, error) {
	be.logMu.Lock()
	defer be.logMu.Unlock()
	return be.logs.Write(p)
}

func newBrokerEnv(t *testing.T, store Store) *brokerEnv {
	t.Helper()
	be := &brokerEnv{te: &tokenEndpoint{t: t, secret: "client-secret-v1", expires: 7200}, clk: clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))}
	srv, client, _ := tlsServer(t, be.te)
	be.url, be.client = srv.URL+"/tenant/oauth2/v2.0/token", client
	if store == nil {
		fs, err := NewFileStore(filepath.Join(t.TempDir(), "s.enc"), bytes.Repeat([]byte{3}, 32), OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		store = fs
	}
	be.store = store
	if _, err := store.Put(context.Background(), "graph/secret", []byte(be.te.secret), NoCAS); err != nil {
		t.Fatal(err)
	}
	return be
}

func (be *brokerEnv) broker(t *testing.T, creds map[string]CredentialConfig, transit Signer) *Broker {
	t.Helper()
	logger := zerolog.New(be).Level(zerolog.DebugLevel)
	b, err := NewBroker(context.Background(), creds, be.store, BrokerOptions{
		HTTPClient: be.client, Now: be.clk.Now, Logger: logger, Transit: transit,
		OnToken: func(_ context.Context, ev TokenEvent) {
			be.evMu.Lock()
			be.events = append(be.events, ev)
			be.evMu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (be *brokerEnv) graphCreds() map[string]CredentialConfig {
	return map[string]CredentialConfig{"graph-app": {Type: TypeClientCredentials, TokenURL: be.url, ClientID: "app-1",
		Scope: "https://graph.microsoft.com/.default", ClientSecret: &SecretRef{Secret: "graph/secret"}}}
}

func (be *brokerEnv) count() int { return int(be.te.requests.Load()) }

func authorize(t *testing.T, b *Broker, cred, subject string) *Injection {
	t.Helper()
	inj, err := b.Authorize(context.Background(), cred, subject)
	if err != nil {
		t.Fatalf("Authorize(%s, %s): %v", cred, subject, err)
	}
	return inj
}

func TestBrokerClientSecretAndCache(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := be.broker(t, be.graphCreds(), nil)
	inj := authorize(t, b, "graph-app", "alice@corp.example")
	if inj.Header != "Authorization" || inj.Value != "Bearer "+be.te.issued[0] || inj.TokenFP != TokenFP(inj.Value) || len(inj.TokenFP) != 12 {
		t.Fatalf("injection = %+v", inj)
	}
	if f := be.te.lastForm; f["grant_type"] != "client_credentials" || f["client_id"] != "app-1" || f["scope"] != "https://graph.microsoft.com/.default" {
		t.Fatalf("form = %v", f)
	}
	if !inj.Expiry.Equal(be.clk.Now().Add(2 * time.Hour)) {
		t.Fatalf("expiry %v not from expires_in on the broker clock", inj.Expiry)
	}
	// App-only: every subject shares the one token.
	again := authorize(t, b, "graph-app", "bob@corp.example")
	if again.Value != inj.Value || be.count() != 1 {
		t.Fatalf("cache miss: %d requests", be.count())
	}
	_, err := b.Authorize(context.Background(), "nope", "")
	mustErrIs(t, err, ErrNoCredential)
}

func TestBrokerSingleFlight(t *testing.T) {
	be := newBrokerEnv(t, nil)
	be.te.delay = 100 * time.Millisecond
	b := be.broker(t, be.graphCreds(), nil)
	var wg sync.WaitGroup
	vals := make([]string, 32)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inj, err := b.Authorize(context.Background(), "graph-app", "")
			if err != nil {
				t.Error(err)
				return
			}
			vals[i] = inj.Value
		}()
	}
	wg.Wait()
	if be.count() != 1 {
		t.Fatalf("%d token requests for 32 concurrent callers, want 1", be.count())
	}
	for _, v := range vals {
		if v != vals[0] {
			t.Fatal("callers got different tokens")
		}
	}
}

func TestBrokerHourlyAndEarlyRefresh(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := be.broker(t, be.graphCreds(), nil)
	first := authorize(t, b, "graph-app", "")
	be.clk.Advance(59 * time.Minute)
	if authorize(t, b, "graph-app", "").Value != first.Value || be.count() != 1 {
		t.Fatal("refreshed before the hour")
	}
	be.clk.Advance(2 * time.Minute) // the token is valid for 2h, but an hour has passed
	second := authorize(t, b, "graph-app", "")
	if second.Value == first.Value || be.count() != 2 {
		t.Fatalf("no hourly rotation: %d requests", be.count())
	}
	// A short token is refreshed 5 minutes before it expires.
	be.te.expires = 600
	be.clk.Advance(61 * time.Minute)
	third := authorize(t, b, "graph-app", "")
	be.clk.Advance(4 * time.Minute)
	authorize(t, b, "graph-app", "")
	if be.count() != 3 {
		t.Fatalf("refreshed too early: %d", be.count())
	}
	be.clk.Advance(90 * time.Second) // 4m30s left
	if authorize(t, b, "graph-app", "").Value == third.Value || be.count() != 4 {
		t.Fatal("not refreshed within 5 minutes of expiry")
	}
}

func TestBrokerRotatedSecretPickedUp(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := be.broker(t, be.graphCreds(), nil)
	authorize(t, b, "graph-app", "")
	if _, err := be.store.Put(context.Background(), "graph/secret", []byte("client-secret-v2"), 1); err != nil {
		t.Fatal(err)
	}
	be.te.mu.Lock()
	be.te.secret = "client-secret-v2" // the old secret is revoked
	be.te.mu.Unlock()
	be.clk.Advance(61 * time.Minute)
	authorize(t, b, "graph-app", "")
	var rot *TokenEvent
	for i, ev := range be.events {
		if ev.Kind == EventRotation {
			rot = &be.events[i]
		}
	}
	if rot == nil || rot.Secret != "graph/secret" || rot.PrevSecretVersion != 1 || rot.SecretVersion != 2 {
		t.Fatalf("rotation event = %+v", rot)
	}
}

func TestBrokerInvalidateOnce(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := be.broker(t, be.graphCreds(), nil)
	first := authorize(t, b, "graph-app", "")
	for i := 0; i < 3; i++ { // three requests saw the same 401
		b.Invalidate("graph-app", "", first.TokenFP)
	}
	second := authorize(t, b, "graph-app", "")
	b.Invalidate("graph-app", "", first.TokenFP) // late report of the old token
	third := authorize(t, b, "graph-app", "")
	if second.Value == first.Value || third.Value != second.Value || be.count() != 2 {
		t.Fatalf("invalidate: %d requests, want 2", be.count())
	}
}

func TestBrokerFailedRefreshKeepsToken(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := be.broker(t, be.graphCreds(), nil)
	first := authorize(t, b, "graph-app", "")
	be.te.mu.Lock()
	be.te.fail = true
	be.te.mu.Unlock()
	be.clk.Advance(61 * time.Minute)
	if got := authorize(t, b, "graph-app", ""); got.Value != first.Value {
		t.Fatal("valid token dropped after a failed refresh")
	}
	n := be.count()
	authorize(t, b, "graph-app", "") // inside the backoff: no new request
	if be.count() != n {
		t.Fatal("retried without backoff")
	}
	be.clk.Advance(2 * time.Second)
	authorize(t, b, "graph-app", "")
	if be.count() != n+1 {
		t.Fatal("no retry after the backoff")
	}
	be.clk.Advance(time.Hour) // past the token's expiry
	_, err := b.Authorize(context.Background(), "graph-app", "")
	mustErrIs(t, err, ErrNoCredential)
	if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "temporarily_unavailable") {
		t.Fatalf("error lacks the reason: %v", err)
	}
	be.te.mu.Lock()
	be.te.fail = false
	be.te.mu.Unlock()
	be.clk.Advance(time.Minute) // past the backoff of the negative cache
	authorize(t, b, "graph-app", "")
}

// certFor makes a self-signed certificate for key (the app registration's).
func certFor(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syncgate"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestBrokerClientAssertionLocalKey(t *testing.T) {
	be := newBrokerEnv(t, nil)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	ctx := context.Background()
	be.store.Put(ctx, "graph/key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), NoCAS)
	certPEM := certFor(t, key)
	be.store.Put(ctx, "graph/cert", certPEM, NoCAS)
	be.te.verify = &key.PublicKey
	b := be.broker(t, map[string]CredentialConfig{"graph-cert": {Type: TypeClientCredentials, TokenURL: be.url, ClientID: "app-1",
		Scopes: []string{"https://graph.microsoft.com/.default"}, PrivateKey: &KeyRef{Secret: "graph/key"}, Certificate: &SecretRef{Secret: "graph/cert"}}}, nil)
	authorize(t, b, "graph-cert", "")
	blk, _ := pem.Decode(certPEM)
	thumb := sha1.Sum(blk.Bytes)
	c := be.te.claims
	if be.te.header["x5t"] != base64.RawURLEncoding.EncodeToString(thumb[:]) || be.te.header["alg"] != "RS256" {
		t.Fatalf("header = %v", be.te.header)
	}
	if c["aud"] != be.url || c["iss"] != "app-1" || c["sub"] != "app-1" || c["jti"] == "" || c["nbf"] == nil || c["exp"] == nil {
		t.Fatalf("claims = %v", c)
	}
	if be.te.lastForm["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || be.te.lastForm["client_secret"] != "" {
		t.Fatalf("form = %v", be.te.lastForm)
	}
}

func transitKey(t *testing.T, tv *testVault, typ string) (string, any) {
	t.Helper()
	tr := NewTransit(tv.admin, "transit")
	name := "syncgate-test-" + randHex(4)
	ctx := context.Background()
	if err := tr.CreateKey(ctx, name, typ); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = tv.admin.Logical().Write("transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true})
		_, _ = tv.admin.Logical().Delete("transit/keys/" + name)
	})
	pub, err := tr.PublicKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return name, pub
}

func TestBrokerTransitSignedAssertions(t *testing.T) {
	tv := newTestVault(t)
	vs := tv.open(t, tv.rootAuth(t))
	for _, typ := range []string{"rsa-2048", "ecdsa-p256"} {
		t.Run(typ, func(t *testing.T) {
			be := newBrokerEnv(t, nil)
			name, pub := transitKey(t, tv, typ)
			be.te.verify = pub
			b := be.broker(t, map[string]CredentialConfig{"google": {Type: TypeGoogleSA, TokenURL: be.url, ClientID: "sync@proj.iam.gserviceaccount.com",
				Scopes: []string{"https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/contacts"}, PrivateKey: &KeyRef{Transit: name}}}, vs.Transit())
			a := authorize(t, b, "google", "alice@corp.example")
			authorize(t, b, "google", "bob@corp.example")
			if be.count() != 2 {
				t.Fatalf("%d requests for two subjects, want one each", be.count())
			}
			c := be.te.claims
			want := map[string]string{"iss": "sync@proj.iam.gserviceaccount.com", "sub": "bob@corp.example", "aud": be.url,
				"scope": "https://www.googleapis.com/auth/calendar https://www.googleapis.com/auth/contacts"}
			for k, v := range want {
				if c[k] != v {
					t.Fatalf("claim %s = %v, want %v", k, c[k], v)
				}
			}
			if be.te.lastForm["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
				t.Fatalf("form = %v", be.te.lastForm)
			}
			if again := authorize(t, b, "google", "alice@corp.example"); again.Value != a.Value {
				t.Fatal("per-subject cache miss")
			}
			_, err := b.Authorize(context.Background(), "google", "")
			mustErrIs(t, err, ErrNoCredential)
		})
	}
}

func TestBrokerSalesforceJWTBearer(t *testing.T) {
	be := newBrokerEnv(t, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(key)
	be.store.Put(context.Background(), "sf/key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), NoCAS)
	be.te.verify, be.te.expires, be.te.instance = &key.PublicKey, 0, "https://corp.my.salesforce.com"
	b := be.broker(t, map[string]CredentialConfig{"sf": {Type: TypeJWTBearer, TokenURL: be.url, ClientID: "3MVG9consumer",
		Username: "{local}@crm.corp.example", SubjectMap: map[string]string{"ceo@corp.example": "boss@crm.corp.example"}, PrivateKey: &KeyRef{Secret: "sf/key"}}}, nil)
	inj := authorize(t, b, "sf", "alice@corp.example")
	if inj.InstanceHost != "corp.my.salesforce.com" {
		t.Fatalf("instance host = %q", inj.InstanceHost)
	}
	if c := be.te.claims; c["sub"] != "alice@crm.corp.example" || c["iss"] != "3MVG9consumer" || c["aud"] != "https://login.salesforce.com" {
		t.Fatalf("claims = %v", c)
	}
	if !inj.Expiry.Equal(be.clk.Now().Add(time.Hour)) {
		t.Fatalf("no expires_in: expiry %v, want an hour", inj.Expiry)
	}
	authorize(t, b, "sf", "ceo@corp.example")
	if be.te.claims["sub"] != "boss@crm.corp.example" {
		t.Fatalf("subject_map ignored: %v", be.te.claims["sub"])
	}
}

func TestBrokerBasicAndHeader(t *testing.T) {
	be := newBrokerEnv(t, nil)
	ctx := context.Background()
	be.store.Put(ctx, "ews/pw", []byte("ews-pa55"), NoCAS)
	be.store.Put(ctx, "api/key", []byte("Token xyz-static"), NoCAS)
	b := be.broker(t, map[string]CredentialConfig{
		"ews": {Type: TypeBasic, Username: `CORP\svc-sync`, Password: &SecretRef{Secret: "ews/pw"}},
		"api": {Type: TypeHeader, Header: "X-Api-Key", Value: &SecretRef{Secret: "api/key"}},
	}, nil)
	if inj := authorize(t, b, "ews", ""); inj.Value != "Basic "+base64.StdEncoding.EncodeToString([]byte(`CORP\svc-sync:ews-pa55`)) {
		t.Fatalf("basic = %+v", inj)
	}
	if inj := authorize(t, b, "api", ""); inj.Header != "X-Api-Key" || inj.Value != "Token xyz-static" {
		t.Fatalf("header = %+v", inj)
	}
	be.store.Put(ctx, "ews/pw", []byte("ews-pa55-new"), NoCAS)
	be.clk.Advance(61 * time.Minute)
	if inj := authorize(t, b, "ews", ""); !strings.HasSuffix(inj.Value, base64.StdEncoding.EncodeToString([]byte(`CORP\svc-sync:ews-pa55-new`))) {
		t.Fatal("rotated password not picked up")
	}
}

func TestBrokerConfigErrors(t *testing.T) {
	cases := map[string]CredentialConfig{
		"unknown type":      {Type: "kerberos"},
		"no secret nor key": {Type: TypeClientCredentials, TokenURL: "https://x/token", ClientID: "a"},
		"both key kinds":    {Type: TypeJWTBearer, ClientID: "a", Username: "{subject}", PrivateKey: &KeyRef{Secret: "a", Transit: "b"}},
		"bad url":           {Type: TypeClientCredentials, TokenURL: "token", ClientID: "a", ClientSecret: &SecretRef{Secret: "s"}},
		"transit w/o vault": {Type: TypeGoogleSA, ClientID: "a@b", Scope: "s", PrivateKey: &KeyRef{Transit: "k"}},
		"bad thumbprint":    {Type: TypeClientCredentials, TokenURL: "https://x/token", ClientID: "a", PrivateKey: &KeyRef{Secret: "k"}, KeyID: "zz"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := NewBroker(context.Background(), map[string]CredentialConfig{"c": c}, &FileStore{}, BrokerOptions{}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// A Vault outage (a relay the test cuts, so it runs against a real server
// too) leaves cached tokens in use until they expire; replicas share one
// token through the KV cache.
func TestBrokerVaultOutageAndSharedCache(t *testing.T) {
	tv := newTestVault(t)
	t.Setenv("VAULT_MAX_RETRIES", "0") // fail fast while the relay is down
	cfg, rl := tv.relayed(t, tv.rootAuth(t))
	vs, err := OpenVaultStore(context.Background(), cfg, OpenOptions{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	be := newBrokerEnv(t, vs)
	b := be.broker(t, be.graphCreds(), nil)
	first := authorize(t, b, "graph-app", "")
	// A second replica finds the token in Vault and asks no token endpoint.
	b2 := be.broker(t, be.graphCreds(), nil)
	if got := authorize(t, b2, "graph-app", ""); got.Value != first.Value || be.count() != 1 {
		t.Fatalf("replica did not share the token: %d requests", be.count())
	}
	rl.SetDown(true)
	be.clk.Advance(61 * time.Minute) // refresh due, Vault away, token still valid
	if got := authorize(t, b, "graph-app", ""); got.Value != first.Value {
		t.Fatal("cached token not used during the outage")
	}
	be.clk.Advance(2 * time.Hour)
	_, err = b.Authorize(context.Background(), "graph-app", "")
	mustErrIs(t, err, ErrNoCredential)
	rl.SetDown(false)
	be.clk.Advance(2 * time.Minute) // past the backoff
	if got := authorize(t, b, "graph-app", ""); got.Value == first.Value {
		t.Fatal("no recovery after Vault returned")
	}
	// Concurrent replicas converge on one token through CAS.
	be.clk.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	fps := make([]string, 2)
	for i, br := range []*Broker{b, b2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inj, err := br.Authorize(context.Background(), "graph-app", "")
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = inj.TokenFP
		}()
	}
	wg.Wait()
	if fps[0] != fps[1] {
		t.Fatalf("replicas hold different tokens after a race: %v", fps)
	}
}

func TestBrokerNoLeaks(t *testing.T) {
	be := newBrokerEnv(t, nil)
	ctx := context.Background()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	be.store.Put(ctx, "graph/key", keyPEM, NoCAS)
	be.store.Put(ctx, "ews/pw", []byte("ews-hunter2"), NoCAS)
	be.te.verify = &key.PublicKey
	creds := be.graphCreds()
	creds["cert"] = CredentialConfig{Type: TypeClientCredentials, TokenURL: be.url, ClientID: "app-1", Scope: "s", PrivateKey: &KeyRef{Secret: "graph/key"}, KeyID: strings.Repeat("ab", 20)}
	creds["ews"] = CredentialConfig{Type: TypeBasic, Username: "svc", Password: &SecretRef{Secret: "ews/pw"}}
	b := be.broker(t, creds, nil)
	var errs []string
	var values []string
	for _, c := range []string{"graph-app", "cert", "ews"} {
		inj := authorize(t, b, c, "")
		values = append(values, inj.Value)
		b.Invalidate(c, "", inj.TokenFP)
	}
	// Failures: a wrong secret (the endpoint echoes it in its description), a dead endpoint.
	be.store.Put(ctx, "graph/secret", []byte("wrong-secret-value"), NoCAS)
	if _, err := b.Authorize(ctx, "graph-app", ""); err != nil {
		errs = append(errs, err.Error())
	}
	be.te.mu.Lock()
	be.te.fail = true
	be.te.mu.Unlock()
	be.clk.Advance(3 * time.Hour)
	for _, c := range []string{"graph-app", "cert"} {
		if _, err := b.Authorize(ctx, c, ""); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) < 2 {
		t.Fatalf("scenario produced %d errors, want failures to inspect", len(errs))
	}
	secrets := append([]string{"client-secret-v1", "wrong-secret-value", "ews-hunter2", string(keyPEM[40:80])}, be.te.issued...)
	secrets = append(secrets, values...)
	secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte("svc:ews-hunter2")))
	var haystack bytes.Buffer
	be.logMu.Lock()
	haystack.Write(be.logs.Bytes())
	be.logMu.Unlock()
	for _, e := range errs {
		haystack.WriteString(e + "\n")
	}
	for _, ev := range be.events {
		fmt.Fprintf(&haystack, "%+v\n", ev)
	}
	if haystack.Len() == 0 || len(be.events) == 0 {
		t.Fatal("nothing logged")
	}
	for _, s := range secrets {
		if strings.Contains(haystack.String(), s) {
			t.Errorf("secret %q… leaked into logs, errors or events", s[:min(8, len(s))])
		}
	}
}

func BenchmarkAuthorizeCached(b *testing.B) {
	fs, err := NewFileStore(filepath.Join(b.TempDir(), "s.enc"), bytes.Repeat([]byte{3}, 32), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	fs.Put(context.Background(), "ews/pw", []byte("pw"), NoCAS)
	br, err := NewBroker(context.Background(), map[string]CredentialConfig{"ews": {Type: TypeBasic, Username: "svc", Password: &SecretRef{Secret: "ews/pw"}}}, fs, BrokerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := br.Authorize(ctx, "ews", ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.Authorize(ctx, "ews", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFileStorePut(b *testing.B) {
	fs, err := NewFileStore(filepath.Join(b.TempDir(), "s.enc"), bytes.Repeat([]byte{3}, 32), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := fs.Put(context.Background(), fmt.Sprintf("k%d", i%50), []byte("value"), NoCAS); err != nil {
			b.Fatal(err)
		}
	}
}
