package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
)

// icaCurl runs curl through the gateway's plain listener, trusting caFile
// for the intercepted destination, and returns the HTTP status of the
// request (or of a refused CONNECT), the body, stderr and the exit code.
func icaCurl(t *testing.T, args ...string) (status int, body, stderr string, exit int) {
	t.Helper()
	bin, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is required (apt-get install curl): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-sS", "--noproxy", "", "-o", "-", "-w", "\n%{http_code} %{http_connect}", "--max-time", "20"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no proxy variables from the environment
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("curl: %v", err)
		}
		exit = ee.ExitCode()
	}
	s := out.String()
	i := strings.LastIndexByte(s, '\n')
	var connect int
	fmt.Sscanf(s[i+1:], "%d %d", &status, &connect)
	if status == 0 {
		status = connect
	}
	return status, s[:i], errb.String(), exit
}

// handMintedServer serves TLS with a leaf for host signed directly by the
// intercept CA's key (no gateway, no guard): what a thief holding the key
// file could present.
func handMintedServer(t *testing.T, caFile, keyFile, host string) *httptest.Server {
	t.Helper()
	cs, err := certs.ParseCertsPEM(mustRead(t, caFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(mustRead(t, keyFile))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	lk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, cs[0], lk.Public(), k.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "impostor") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: lk}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metricsText(t *testing.T, gw *gateway) string {
	t.Helper()
	_, body := getBody(t, "http://"+gw.MetricsAddr+"/metrics")
	return body
}

const twoHostPolicy = `version: 1
ca_bundles:
  up: {files: [up/root-ca.pem]}
clients:
  - name: sidecar
    sources: ["127.0.0.1/32"]
destinations:
  - name: graph
    hosts: [graph.microsoft.com]
    tls: {ca_bundle: up}
    clients: [sidecar]
    rules: [{id: v1, methods: [GET], paths: ["/ok"]}]
  - name: added-later
    hosts: [outside.example]
    tls: {ca_bundle: up}
    clients: [sidecar]
    rules: [{id: v2, methods: [GET], paths: ["/ok"]}]
`

// The intercept CA made from the policy (certs init-intercept) vouches for
// the policy's hosts only. Through the real gateway with curl as the
// client: a host inside works; a host the policy gained later is refused
// at CONNECT with the reason, audited, warned about in the log, /metrics
// and certs show; and a leaf for that host minted by hand with the CA's own
// key is rejected by curl (OpenSSL) and by Go's client.
func TestInterceptConstrainedCAThroughGateway(t *testing.T) {
	e := newServeEnv(t)
	out, errOut, code := runCLI(t, "certs", "init-intercept", "--config", e.cfg, "--force")
	if code != 0 || !strings.Contains(out, "name constraints: permitted DNS graph.microsoft.com; excluded IP 0.0.0.0/0, ::/0") {
		t.Fatalf("init-intercept: exit %d\n%s%s", code, out, errOut)
	}
	caFile, keyFile := filepath.Join(e.dir, "gw", certs.InterceptCAFile), filepath.Join(e.dir, "gw", certs.InterceptKey)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	e.writePolicy(t, twoHostPolicy)
	cfg, err := loadServeConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	gw, err := startGateway(context.Background(), cfg, newLogger(logs, "info"))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()

	status, body, stderr, exit := icaCurl(t, "--proxy", "http://"+gw.PlainAddr, "--cacert", caFile, "https://graph.microsoft.com/ok")
	if exit != 0 || status != 200 || body != "upstream saw /ok" {
		t.Fatalf("inside host: exit %d status %d %q %s", exit, status, body, stderr)
	}
	status, _, stderr, exit = icaCurl(t, "--proxy", "http://"+gw.PlainAddr, "--cacert", caFile, "https://outside.example/ok")
	if exit == 0 || status != http.StatusForbidden {
		t.Fatalf("outside host: exit %d status %d %s", exit, status, stderr)
	}
	var rec *audit.Record
	for _, r := range readRecords(t, e.audit) {
		if r.Request != nil && r.Request.Host == "outside.example" {
			rec = &r
		}
	}
	if rec == nil || rec.Decision == nil || rec.Decision.Allow || !strings.Contains(rec.Decision.Reason, "outside the intercept CA's name constraints") || rec.Response == nil || rec.Response.Status != 403 {
		t.Fatalf("audit record of the refused CONNECT: %+v", rec)
	}
	if !strings.Contains(logs.String(), "policy host outside.example (destination added-later) is outside the intercept CA's name constraints") {
		t.Fatalf("no warning in the log:\n%s", logs)
	}
	m := metricsText(t, gw)
	for _, want := range []string{"syncgate_intercept_ca_policy_hosts_outside 1", "syncgate_intercept_ca_constrained 1", "syncgate_intercept_ca_expiring 0", "syncgate_intercept_ca_next_staged 0"} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %q:\n%s", want, grepLines(m, "intercept"))
		}
	}
	out, errOut, code = runCLI(t, "certs", "show", "--config", e.cfg)
	if code != 0 || !strings.Contains(out, "name constraints: permitted DNS graph.microsoft.com") ||
		!strings.Contains(out, "warning: policy host outside.example (destination added-later) is outside") {
		t.Fatalf("certs show: exit %d\n%s%s", code, out, errOut)
	}

	// A leaf minted by hand with the CA's key: inside works, outside is
	// refused by the client even though the signature is the CA's own.
	for _, tc := range []struct {
		host string
		ok   bool
	}{{"graph.microsoft.com", true}, {"outside.example", false}} {
		srv := handMintedServer(t, caFile, keyFile, tc.host)
		port := srv.Listener.Addr().(*net.TCPAddr).Port
		_, body, stderr, exit := icaCurl(t, "--cacert", caFile, "--resolve", fmt.Sprintf("%s:%d:127.0.0.1", tc.host, port), fmt.Sprintf("https://%s:%d/", tc.host, port))
		if tc.ok && (exit != 0 || body != "impostor") {
			t.Fatalf("curl, hand-minted leaf inside the constraints: exit %d %s", exit, stderr)
		}
		if !tc.ok && (exit != 60 || !strings.Contains(stderr, "subtree violation")) {
			t.Fatalf("curl accepted a hand-minted leaf outside the constraints: exit %d %q %s", exit, body, stderr)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(mustRead(t, caFile))
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: tc.host},
		}}
		resp, err := c.Get("https://" + srv.Listener.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
		if tc.ok != (err == nil) || !tc.ok && !strings.Contains(err.Error(), "not permitted") {
			t.Fatalf("Go client, hand-minted leaf for %s: %v", tc.host, err)
		}
	}
}

// The CA `certs init` makes without --policy, and one close to its end,
// are reported by certs show, the log and /metrics.
func TestInterceptCAWarnings(t *testing.T) {
	e := newServeEnv(t) // certs init without --policy: unconstrained
	out, _, code := runCLI(t, "certs", "show", "--config", e.cfg)
	if code != 0 || !strings.Contains(out, "warning: the intercept CA has no name constraints") || !strings.Contains(out, "name constraints: none") {
		t.Fatalf("certs show, unconstrained CA:\n%s", out)
	}
	if _, errOut, code := runCLI(t, "certs", "init-intercept", "--config", e.cfg); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("init-intercept over an existing CA without --force: %d %s", code, errOut)
	}
	if out, errOut, code := runCLI(t, "certs", "init-intercept", "--config", e.cfg, "--force", "--lifetime", "240h"); code != 0 {
		t.Fatalf("init-intercept: %s%s", out, errOut)
	}
	out, _, _ = runCLI(t, "certs", "show", "--config", e.cfg)
	if !strings.Contains(out, "warning: intercept CA") || !strings.Contains(out, "expires in 9 days") || strings.Contains(out, "no name constraints") {
		t.Fatalf("certs show, CA expiring in 10 days:\n%s", out)
	}
	cfg, err := loadServeConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	gw, err := startGateway(context.Background(), cfg, newLogger(logs, "info"))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	if !strings.Contains(logs.String(), "expires in 9 days") || !strings.Contains(logs.String(), `"level":"warn"`) {
		t.Fatalf("no expiry warning in the log:\n%s", logs)
	}
	if m := metricsText(t, gw); !strings.Contains(m, "syncgate_intercept_ca_expiring 1") {
		t.Fatalf("metrics:\n%s", grepLines(m, "intercept"))
	}
}

// Rotation with the gateway running: the staged next CA is published but
// does not sign; clients given the bundle keep working through the
// promotion, after which leaves come from the new CA.
func TestInterceptRotateFileKey(t *testing.T) {
	e := newServeEnv(t)
	if out, errOut, code := runCLI(t, "certs", "init-intercept", "--config", e.cfg, "--force"); code != 0 {
		t.Fatalf("init-intercept: %s%s", out, errOut)
	}
	caFile := filepath.Join(e.dir, "gw", certs.InterceptCAFile)
	oldOnly := filepath.Join(e.dir, "old-ca.pem")
	writeFile(t, oldOnly, string(mustRead(t, caFile)))
	cfg, err := loadServeConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := startGateway(context.Background(), cfg, newLogger(io.Discard, "info"))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	// via is the status of a request through the gateway by a client that
	// trusts ca; 0 when the TLS inside the tunnel failed.
	via := func(ca string) (int, string) {
		status, body, stderr, exit := icaCurl(t, "--proxy", "http://"+gw.PlainAddr, "--cacert", ca, "https://graph.microsoft.com/ok")
		if exit != 0 || body != "upstream saw /ok" {
			return 0, stderr
		}
		return status, stderr
	}

	out, errOut, code := runCLI(t, "certs", "rotate-intercept", "--config", e.cfg)
	if code != 0 || !strings.Contains(out, "Staged syncgate intercept CA") || !strings.Contains(out, "--promote") {
		t.Fatalf("rotate-intercept: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "certs", "rotate-intercept", "--config", e.cfg); code == 0 || !strings.Contains(errOut, "already holds a next") {
		t.Fatalf("second staging: %d %s", code, errOut)
	}
	if err := gw.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	bundle, err := certs.ParseCertsPEM(mustRead(t, caFile))
	if err != nil || len(bundle) != 2 {
		t.Fatalf("bundle: %d certificates, %v", len(bundle), err)
	}
	nextOnly := filepath.Join(e.dir, "next-ca.pem")
	writeFile(t, nextOnly, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bundle[1].Raw})))
	if s, stderr := via(oldOnly); s != 200 {
		t.Fatalf("staged CA signs already: a client with the old CA only gets %d %s", s, stderr)
	}
	if s, _ := via(caFile); s != 200 {
		t.Fatal("a client with the bundle fails before the promotion")
	}
	if m := metricsText(t, gw); !strings.Contains(m, "syncgate_intercept_ca_next_staged 1") {
		t.Fatalf("metrics:\n%s", grepLines(m, "intercept"))
	}
	out, _, _ = runCLI(t, "certs", "show", "--config", e.cfg)
	if !strings.Contains(out, "next     syncgate intercept CA") || !strings.Contains(out, "intercept CA (bundle)") {
		t.Fatalf("certs show during the overlap:\n%s", out)
	}

	if out, errOut, code := runCLI(t, "certs", "rotate-intercept", "--config", e.cfg, "--promote"); code != 0 || !strings.Contains(out, "Promoted") {
		t.Fatalf("promote: %d %s%s", code, out, errOut)
	}
	if err := gw.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, stderr := via(nextOnly); s != 200 {
		t.Fatalf("after the promotion a client with the new CA only gets %d %s", s, stderr)
	}
	if s, _ := via(caFile); s != 200 {
		t.Fatal("a client with the bundle fails after the promotion")
	}
	if s, stderr := via(oldOnly); s != 0 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("the old CA still signs after the promotion: %d %s", s, stderr)
	}
}
