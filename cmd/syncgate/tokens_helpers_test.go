package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gcal "google.golang.org/api/calendar/v3"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/emulate/clock"
	"github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/emulate/salesforce"
	emuvault "github.com/syncgate/syncgate/emulate/vault"
	"github.com/syncgate/syncgate/vault"
)

// Identities the token-flow tests seed into the emulators.
const (
	tkTenant      = "7e57e57e-0000-4000-8000-000000000001"
	tkGraphClient = "9a9a9a9a-0000-4000-8000-000000000002"
	tkAlice       = "alice@corp.example"
	tkBob         = "bob@corp.example"
	tkSAEmail     = "syncgate@corp-project.iam.gserviceaccount.com"
	tkSFKey       = "3MVG9syncgate.consumer.key"
	tkSFOther     = "other.my.salesforce.com"
	tkEWSUser     = `CORP\svc-sync`
	tkTransitKey  = "google-sa"
)

// tokenEnvOpts selects the variant of the environment.
type tokenEnvOpts struct {
	// graphCred is the credential the graph destination uses:
	// "graph-secret" (default), "graph-cert" (certificate in the store) or
	// "graph-cert-file" (certificate in a file next to the config).
	graphCred string
	// vault keeps the secrets in the Vault emulator (real TLS) and signs
	// Google assertions with a Transit key instead of a stored PEM key.
	vault bool
	// graphSecret overrides the client secret put in the store (the app
	// registration keeps the right one): a token endpoint that refuses.
	graphSecret string
	// loginBundle is the CA bundle the Microsoft token endpoint is checked
	// against (default microsoft, its own).
	loginBundle string
}

// tokenEnv is every identity provider emulator on its own real TLS server
// (certificates from its own CA, for its real host names) and an in-process
// gateway in front of them, wired from a serve config on disk.
type tokenEnv struct {
	t   testing.TB
	dir string
	clk *clock.Fake

	ms   *microsoft.Server
	goog *google.Server
	sf   *salesforce.Server
	ews  *ews.Server
	vemu *emuvault.Emulator
	vsrv *httptest.Server

	rec   *idpRecorder
	gw    *gateway
	logs  *lockedBuffer
	store vault.Store // the test's own handle on the gateway's secret store
	httpc *http.Client

	// never lists every secret value the gateway holds or obtains.
	neverMu sync.Mutex
	never   map[string]string // value -> what it is
	// bodies are every response body the gateway sent a client.
	bodiesMu sync.Mutex
	bodies   []string

	graphSecret string
	ewsPassword string
}

// lockedBuffer collects the gateway's log; zerolog writes from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// idpRecorder sits in front of each emulator handler: it counts what the
// identity providers and APIs saw, the Authorization each API request
// carried, and the access tokens the token endpoints issued.
type idpRecorder struct {
	mu     sync.Mutex
	counts map[string]int // host + path
	auth   map[string][]string
	issued []string
	onTok  func(string)
}

func newIDPRecorder() *idpRecorder {
	return &idpRecorder{counts: map[string]int{}, auth: map[string][]string{}}
}

func stripHostPort(h string) string {
	if x, _, err := net.SplitHostPort(h); err == nil {
		return strings.ToLower(x)
	}
	return strings.ToLower(h)
}

func (r *idpRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host := stripHostPort(req.Host)
		r.mu.Lock()
		r.counts[host+req.URL.Path]++
		r.auth[host] = append(r.auth[host], req.Header.Get("Authorization"))
		r.mu.Unlock()
		if !strings.HasSuffix(req.URL.Path, "/token") {
			h.ServeHTTP(w, req)
			return
		}
		cw := &captureWriter{ResponseWriter: w}
		h.ServeHTTP(cw, req)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(cw.buf.Bytes(), &tok) == nil && tok.AccessToken != "" {
			r.mu.Lock()
			r.issued = append(r.issued, tok.AccessToken)
			f := r.onTok
			r.mu.Unlock()
			if f != nil {
				f(tok.AccessToken)
			}
		}
	})
}

// count is how many requests reached host+path.
func (r *idpRecorder) count(hostPath string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[hostPath]
}

// hostCount is how many requests reached host, any path.
func (r *idpRecorder) hostCount(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.auth[host])
}

// lastAuth is the Authorization header of the last request to host.
func (r *idpRecorder) lastAuth(host string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.auth[host]
	if len(a) == 0 {
		return ""
	}
	return a[len(a)-1]
}

func (r *idpRecorder) authsOf(host string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth[host]...)
}

func (r *idpRecorder) issuedTokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.issued...)
}

type captureWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (c *captureWriter) Write(p []byte) (int, error) {
	c.buf.Write(p)
	return c.ResponseWriter.Write(p)
}

// rsaCertPEM makes an RSA key (PKCS#8 PEM) and a self-signed certificate for
// it, as an app registration or a connected app carries.
func rsaCertPEM(t testing.TB, cn string) (keyPEM, certPEM []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func randSecret(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s-%x", prefix, b)
}

// serveTLS starts h on 127.0.0.1 with a certificate for hosts from a fresh
// CA in dir; the CA's root-ca.pem is what the policy's bundle trusts.
func serveTLS(t testing.TB, dir string, hosts []string, h http.Handler) *httptest.Server {
	t.Helper()
	if _, err := certs.InitDir(dir, certs.InitOptions{Names: hosts}); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certs.ListenerFile), filepath.Join(dir, certs.ListenerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

const tokenPolicy = `version: 1
ca_bundles:
  microsoft: {files: [cas/microsoft/root-ca.pem]}
  google: {files: [cas/google/root-ca.pem]}
  salesforce: {files: [cas/salesforce/root-ca.pem]}
  corp: {files: [cas/ews/root-ca.pem]}
clients:
  - name: sync
    sources: ["127.0.0.1/32"]
    subjects: ["*@corp.example"]
  - name: token-broker
    identities: [{uri: "spiffe://corp.example/syncgate/gateway"}]
    sources: ["127.0.0.1/32"]
destinations:
  - name: microsoft-login
    hosts: [login.microsoftonline.com]
    tls: {min_version: "1.2", ca_bundle: %[1]s}
    clients: [token-broker]
    rules: [{id: ms-token, methods: [POST], paths: ["/*/oauth2/v2.0/token"]}]
  - name: graph
    hosts: [graph.microsoft.com]
    tls: {min_version: "1.2", ca_bundle: microsoft}
    credential: %[2]s
    clients: [sync]
    rules: [{id: graph-read, methods: [GET], paths: ["/v1.0/users/{subject}/contacts"]}]
  - name: google-oauth
    hosts: [oauth2.googleapis.com]
    tls: {min_version: "1.2", ca_bundle: google}
    clients: [token-broker]
    rules: [{id: google-token, methods: [POST], paths: ["/token"]}]
  - name: google-calendar
    hosts: [www.googleapis.com]
    tls: {min_version: "1.2", ca_bundle: google}
    credential: google-dwd
    clients: [sync]
    rules: [{id: gcal-read, methods: [GET], paths: ["/calendar/v3/calendars/{subject}/events"]}]
  - name: salesforce-login
    hosts: [login.salesforce.com]
    tls: {min_version: "1.2", ca_bundle: salesforce}
    clients: [token-broker]
    rules: [{id: sf-token, methods: [POST], paths: ["/services/oauth2/token"]}]
  - name: salesforce
    hosts: [corp.my.salesforce.com, ` + tkSFOther + `]
    tls: {min_version: "1.2", ca_bundle: salesforce}
    credential: salesforce-jwt
    clients: [sync]
    rules: [{id: sf-query, methods: [GET], paths: ["/services/data/*/query"]}]
  - name: exchange-onprem
    hosts: [mail.corp.example]
    tls: {min_version: "1.2", ca_bundle: corp}
    credential: ews-basic
    clients: [sync]
    ews: {operations: [SyncFolderItems], folders: [contacts, calendar]}
`

const tokenServeConfig = `plain_listen: 127.0.0.1:0
intercept_ca: {cert_file: gw/intercept-ca.pem, key_file: gw/intercept-ca.key}
policy: policy.yaml
audit: {path: audit.jsonl, fsync: always}
network:
  allow_ranges: ["127.0.0.0/8"]
  hosts:
%s
metrics: {listen: 127.0.0.1:0}
log: {level: debug}
%s
credentials:
  graph-secret:
    type: oauth2_client_credentials
    token_url: https://login.microsoftonline.com/` + tkTenant + `/oauth2/v2.0/token
    client_id: ` + tkGraphClient + `
    scope: https://graph.microsoft.com/.default
    client_secret: {secret: graph/client-secret}
  graph-cert:
    type: oauth2_client_credentials
    token_url: https://login.microsoftonline.com/` + tkTenant + `/oauth2/v2.0/token
    client_id: ` + tkGraphClient + `
    scope: https://graph.microsoft.com/.default
    private_key: {secret: graph/cert-key}
    certificate: {secret: graph/cert}
  graph-cert-file:
    type: oauth2_client_credentials
    token_url: https://login.microsoftonline.com/` + tkTenant + `/oauth2/v2.0/token
    client_id: ` + tkGraphClient + `
    scope: https://graph.microsoft.com/.default
    private_key: {secret: graph/cert-key}
    certificate: {file: graph-app.pem}    # relative to this file
  google-dwd:
    type: google_service_account
    client_id: ` + tkSAEmail + `
    scopes: [https://www.googleapis.com/auth/calendar.readonly]
    private_key: %s
  salesforce-jwt:
    type: jwt_bearer
    client_id: ` + tkSFKey + `
    username: "{subject}"
    private_key: {secret: salesforce/jwt-key}
  ews-basic:
    type: basic
    username: '` + tkEWSUser + `'
    password: {secret: ews/password}
`

// newTokenEnv builds the emulators, the secrets, the PKI, the policy and the
// serve config, and starts the gateway. Everything stops with the test.
func newTokenEnv(t testing.TB, o tokenEnvOpts) *tokenEnv {
	t.Helper()
	if o.graphCred == "" {
		o.graphCred = "graph-secret"
	}
	if o.loginBundle == "" {
		o.loginBundle = "microsoft"
	}
	ctx := context.Background()
	e := &tokenEnv{t: t, dir: t.TempDir(), clk: clock.NewFake(time.Now().UTC().Truncate(time.Second)),
		rec: newIDPRecorder(), logs: &lockedBuffer{}, never: map[string]string{}}
	e.rec.onTok = func(tok string) { e.mustNotLeak(tok, "access token") }

	// Identity material.
	e.graphSecret = randSecret(t, "graph-client-secret")
	e.ewsPassword = randSecret(t, "ews-pw")
	graphKey, graphCert := rsaCertPEM(t, "syncgate graph app")
	sfKey, sfCert := rsaCertPEM(t, "syncgate salesforce app")
	saKey, saPub, err := vault.GenerateKeyPEM("rsa")
	if err != nil {
		t.Fatal(err)
	}
	e.mustNotLeak(e.graphSecret, "graph client secret")
	e.mustNotLeak(e.ewsPassword, "EWS password")
	for what, k := range map[string][]byte{"graph key": graphKey, "salesforce key": sfKey, "google key": saKey} {
		e.mustNotLeakPEM(k, what)
	}

	// Emulators, all on one fake clock that the broker shares.
	e.ms = microsoft.New(microsoft.Options{Clock: e.clk, MaxConcurrent: 64})
	must(t, e.ms.AddTenant(microsoft.Tenant{ID: tkTenant, Domains: []string{"corp.example"}}))
	must(t, e.ms.AddApp(microsoft.App{TenantID: tkTenant, ClientID: tkGraphClient, ClientSecret: e.graphSecret, CertificatePEM: string(graphCert)}))
	for i, u := range []string{tkAlice, tkBob} {
		must(t, e.ms.AddUser(microsoft.User{TenantID: tkTenant, ID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i+1), UserPrincipalName: u, Mail: u}))
		fid, err := e.ms.DefaultContactFolder(u)
		must(t, err)
		_, err = e.ms.AddContact(u, fid, map[string]any{"givenName": "Contact of", "surname": u, "emailAddresses": []map[string]any{{"address": "c-" + u}}})
		must(t, err)
	}

	e.goog = google.New(google.Options{Clock: e.clk, Domain: "corp.example", UserRatePerMinute: -1})
	for _, u := range []string{tkAlice, tkBob} {
		must(t, e.goog.AddUser(u))
		start := e.clk.Now().Add(24 * time.Hour)
		_, err := e.goog.PutEvent(u, &gcal.Event{Summary: "Meeting of " + u,
			Start: &gcal.EventDateTime{DateTime: start.Format(time.RFC3339)}, End: &gcal.EventDateTime{DateTime: start.Add(time.Hour).Format(time.RFC3339)}})
		must(t, err)
	}

	e.sf = salesforce.New(salesforce.Options{Clock: e.clk})
	must(t, e.sf.AddConnectedApp(salesforce.ConnectedApp{Name: "syncgate", ConsumerKey: tkSFKey, CertificatePEM: string(sfCert), PreApproved: []string{tkAlice}}))
	_, err = e.sf.AddUser(salesforce.User{Username: tkAlice})
	must(t, err)
	_, err = e.sf.Seed(tkAlice, "Contact", map[string]any{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"})
	must(t, err)

	e.ews = ews.New(ews.Options{Clock: e.clk})
	must(t, e.ews.AddServiceAccount(tkEWSUser, e.ewsPassword))
	must(t, e.ews.AddMailbox(tkAlice, "Alice"))
	must(t, e.ews.GrantImpersonation(tkEWSUser, tkAlice))
	_, err = e.ews.AddContact(tkAlice, ews.Contact{GivenName: "Grace", Surname: "Hopper", Emails: map[string]string{"EmailAddress1": "grace@example.org"}})
	must(t, err)

	// Each service on its own TLS server, its CA under cas/<service>.
	hosts := map[string]string{}
	for _, svc := range []struct {
		name  string
		hosts []string
		h     http.Handler
	}{
		{"microsoft", e.ms.Hosts(), e.ms.Handler()},
		{"google", e.goog.Hosts(), e.goog.Handler()},
		{"salesforce", append(e.sf.Hosts(), tkSFOther), e.sf.Handler()},
		{"ews", e.ews.Hosts(), e.ews.Handler()},
	} {
		srv := serveTLS(t, filepath.Join(e.dir, "cas", svc.name), svc.hosts, e.rec.wrap(svc.h))
		for _, h := range svc.hosts {
			hosts[h] = srv.Listener.Addr().String()
		}
	}
	var hostLines strings.Builder
	for h, a := range hosts {
		fmt.Fprintf(&hostLines, "    %s: %q\n", h, a)
	}

	writeTestFile(t, filepath.Join(e.dir, "graph-app.pem"), string(graphCert))

	// The secret store.
	secrets := map[string][]byte{
		"graph/client-secret": []byte(e.graphSecret),
		"graph/cert-key":      graphKey,
		"graph/cert":          graphCert,
		"salesforce/jwt-key":  sfKey,
		"ews/password":        []byte(e.ewsPassword),
	}
	if o.graphSecret != "" {
		secrets["graph/client-secret"] = []byte(o.graphSecret)
		e.mustNotLeak(o.graphSecret, "wrong graph client secret")
	}
	var secretsYAML, googleKey string
	if o.vault {
		// The Vault client retries a failing call with backoff (real
		// time); the outage tests are about the broker, so no retries.
		t.Setenv("VAULT_MAX_RETRIES", "0")
		root := randSecret(t, "hvs.root")
		e.mustNotLeak(root, "vault root token")
		e.vemu = emuvault.New(emuvault.Options{Clock: e.clk, RootToken: root})
		vdir := filepath.Join(e.dir, "cas", "vault")
		e.vsrv = serveTLS(t, vdir, []string{"127.0.0.1"}, e.vemu)
		if err := os.WriteFile(filepath.Join(e.dir, "vault-token"), []byte(root+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		secretsYAML = fmt.Sprintf("secrets: {backend: vault, address: %q, ca_cert: cas/vault/root-ca.pem, mount: secret, transit_mount: transit, path: syncgate, auth: {method: token, token_file: vault-token}}", e.vsrv.URL)
		googleKey = "{transit: " + tkTransitKey + "}"
		sc := vault.StoreConfig{Backend: "vault", Address: e.vsrv.URL, CACert: "cas/vault/root-ca.pem", Mount: "secret", TransitMount: "transit",
			Path: "syncgate", Auth: vault.VaultAuth{Method: "token", TokenFile: "vault-token"}}
		sc.ResolvePaths(e.dir)
		vs, err := vault.OpenVaultStore(ctx, sc, vault.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { vs.Close() })
		e.store = vs
		must(t, vs.Transit().CreateKey(ctx, tkTransitKey, "rsa-2048"))
		pub, err := vs.Transit().PublicKey(ctx, tkTransitKey)
		must(t, err)
		der, err := x509.MarshalPKIXPublicKey(pub)
		must(t, err)
		saPub = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	} else {
		keyFile := filepath.Join(e.dir, "secrets.key")
		must(t, vault.GenerateKeyFile(keyFile))
		kb, err := os.ReadFile(keyFile)
		must(t, err)
		e.mustNotLeak(strings.TrimSpace(string(kb)), "file store key")
		secretsYAML = "secrets: {backend: file, path: secrets.enc, key_file: secrets.key}"
		fs, err := vault.OpenFileStore(vault.StoreConfig{Backend: "file", Path: filepath.Join(e.dir, "secrets.enc"), KeyFile: keyFile}, vault.OpenOptions{})
		must(t, err)
		e.store = fs
		secrets["google/sa-key"] = saKey
		googleKey = "{secret: google/sa-key}"
	}
	for name, v := range secrets {
		if _, err := e.store.Put(ctx, name, v, vault.NoCAS); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	must(t, e.goog.AddServiceAccount(google.ServiceAccount{ClientEmail: tkSAEmail, ClientID: "105000000000000000001", PublicKeyPEM: string(saPub),
		DWDScopes: []string{google.ScopeCalendarReadonly}}))

	// The gateway.
	if _, err := certs.InitDir(filepath.Join(e.dir, "gw"), certs.InitOptions{Names: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(e.dir, "policy.yaml"), fmt.Sprintf(tokenPolicy, o.loginBundle, o.graphCred))
	cfgPath := filepath.Join(e.dir, "serve.yaml")
	writeTestFile(t, cfgPath, fmt.Sprintf(tokenServeConfig, hostLines.String(), secretsYAML, googleKey))
	cfg, err := loadServeConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.now = e.clk.Now
	gctx, cancel := context.WithCancel(ctx)
	e.gw, err = startGateway(gctx, cfg, newLogger(e.logs, cfg.Log.Level))
	if err != nil {
		cancel()
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := e.gw.Close(); err != nil {
			t.Errorf("gateway close: %v", err)
		}
	})
	pu, _ := url.Parse("http://" + e.gw.PlainAddr)
	tr := &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	e.httpc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mustNotLeak registers a value the leak check searches for.
func (e *tokenEnv) mustNotLeak(v, what string) {
	if len(v) < 8 {
		return
	}
	e.neverMu.Lock()
	e.never[v] = what
	e.neverMu.Unlock()
}

// mustNotLeakPEM registers a PEM key: the whole text, its base64 body and
// each body line (a log that re-wrapped the key would still be caught).
func (e *tokenEnv) mustNotLeakPEM(p []byte, what string) {
	e.mustNotLeak(string(p), what+" (PEM)")
	var body strings.Builder
	for _, line := range strings.Split(string(p), "\n") {
		if line == "" || strings.HasPrefix(line, "-----") {
			continue
		}
		body.WriteString(line)
		e.mustNotLeak(line, what+" (PEM line)")
	}
	e.mustNotLeak(body.String(), what+" (base64 body)")
}

// gwResp is one response the gateway sent.
type gwResp struct {
	status int
	header http.Header
	body   string
}

// do sends one request through the gateway's plain listener (origination:
// absolute-form http:// URLs). hdr are name, value pairs.
func (e *tokenEnv) do(method, u, subject, body string, hdr ...string) gwResp {
	e.t.Helper()
	r, err := e.try(method, u, subject, body, hdr...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// try is do for use off the test goroutine.
func (e *tokenEnv) try(method, u, subject, body string, hdr ...string) (gwResp, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return gwResp{}, err
	}
	if subject != "" {
		req.Header.Set("Syncgate-Subject", subject)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.httpc.Do(req)
	if err != nil {
		return gwResp{}, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return gwResp{}, fmt.Errorf("%s %s: read body: %w", method, u, err)
	}
	e.bodiesMu.Lock()
	e.bodies = append(e.bodies, string(b))
	e.bodiesMu.Unlock()
	return gwResp{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func graphContactsURL(user string) string {
	return "http://graph.microsoft.com/v1.0/users/" + user + "/contacts"
}

func calendarURL(user string) string {
	return "http://www.googleapis.com/calendar/v3/calendars/" + user + "/events"
}

const sfQueryPath = "/services/data/v60.0/query?q=SELECT+Id,LastName+FROM+Contact"

func ewsSyncBody(impersonate string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + impersonate +
		`</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header>
<soap:Body><m:SyncFolderItems><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems></soap:Body></soap:Envelope>`
}

// records reads the audit log.
func (e *tokenEnv) records() []audit.Record {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "audit.jsonl"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			e.t.Fatalf("audit record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// tokenEvents are the broker's token records of one event kind for a
// credential (any subject when subject is "*").
func (e *tokenEnv) tokenEvents(event, credential, subject string) []audit.Record {
	e.t.Helper()
	var out []audit.Record
	for _, r := range e.records() {
		if r.Kind != audit.KindToken || r.Detail["event"] != event || r.Credential == nil || r.Credential.Name != credential {
			continue
		}
		if subject != "*" && r.Subject != subject {
			continue
		}
		out = append(out, r)
	}
	return out
}

// okTokenRequests counts successful token requests for credential/subject.
func (e *tokenEnv) okTokenRequests(credential, subject string) int {
	e.t.Helper()
	n := 0
	for _, r := range e.tokenEvents(vault.EventToken, credential, subject) {
		if r.Detail["outcome"] == "ok" {
			n++
		}
	}
	return n
}

// errorBody decodes the gateway's JSON error body.
func errorBody(t *testing.T, r gwResp) (kind, reason string) {
	t.Helper()
	var b struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
		Reason    string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		t.Fatalf("error body is not JSON: %q", r.body)
	}
	if b.RequestID == "" || b.RequestID != r.header.Get("Syncgate-Request-Id") {
		t.Errorf("error body request_id %q, header %q", b.RequestID, r.header.Get("Syncgate-Request-Id"))
	}
	return b.Error, b.Reason
}

// metrics fetches the gateway's /metrics page.
func (e *tokenEnv) metrics() string {
	e.t.Helper()
	resp, err := http.Get("http://" + e.gw.MetricsAddr + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// checkNoLeaks fails the test for every registered secret value found in
// the log, the audit log, a response body or the metrics page.
func (e *tokenEnv) checkNoLeaks() {
	e.t.Helper()
	for _, l := range e.leaks() {
		e.t.Error(l)
	}
}

// leaks searches the log, the audit log, every response body and the
// metrics page for every registered secret value and says where each is.
func (e *tokenEnv) leaks() []string {
	e.t.Helper()
	auditRaw, err := os.ReadFile(filepath.Join(e.dir, "audit.jsonl"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.bodiesMu.Lock()
	bodies := strings.Join(e.bodies, "\n")
	e.bodiesMu.Unlock()
	places := map[string]string{
		"log":           e.logs.String(),
		"audit log":     string(auditRaw),
		"response body": bodies,
		"metrics page":  e.metrics(),
		"serve config":  readFileString(e.t, filepath.Join(e.dir, "serve.yaml")),
	}
	e.neverMu.Lock()
	defer e.neverMu.Unlock()
	if len(e.never) == 0 {
		e.t.Fatal("leak check has nothing to look for")
	}
	var out []string
	for where, text := range places {
		if text == "" {
			e.t.Fatalf("%s is empty: the leak check would prove nothing", where)
		}
		for v, what := range e.never {
			if strings.Contains(text, v) {
				out = append(out, fmt.Sprintf("%s appears in the %s", what, where))
			}
		}
	}
	sort.Strings(out)
	return out
}

func writeTestFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFileString(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
