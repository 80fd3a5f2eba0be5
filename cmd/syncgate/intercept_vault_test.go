package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/certs"
)

// transitInterceptConfig appends a Vault store (logged in with the
// operator's token file) and intercept_ca: {transit: key} to the serve env.
func transitInterceptConfig(t *testing.T, e *serveEnv, vt *vaultTarget, key string) {
	t.Helper()
	body := string(mustRead(t, e.cfg))
	body = strings.Replace(body, "intercept_ca: {cert_file: gw/intercept-ca.pem, key_file: gw/intercept-ca.key}",
		fmt.Sprintf("intercept_ca: {transit: %s, cert_file: gw/intercept-ca.pem}", key), 1)
	ca := ""
	if vt.caFile != "" {
		ca = "ca_cert: " + vt.caFile + ", "
	}
	body += fmt.Sprintf("secrets: {backend: vault, address: %s, %sauth: {method: token, token_file: %s}}\n", vt.addr, ca, vt.rootFile)
	writeTestFile(t, e.cfg, body)
}

// The intercept CA's key can be an ecdsa-p256 Vault Transit key: the
// gateway refuses to start when the key is missing or of another type;
// certs init-intercept makes the key and the constrained CA certificate;
// leaves minted through Transit work for curl; rotate-intercept stages the
// next CA on a new key version and --promote switches the signing version.
func TestInterceptCAInVaultTransit(t *testing.T) {
	e := newServeEnv(t)
	vt := newVaultTarget(t, e.dir)
	key := "syncgate-test-ica-" + strings.ToLower(randSecret(t, "k")[:6])
	start := func() (*gateway, error) {
		cfg, err := loadServeConfig(e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		return startGateway(context.Background(), cfg, newLogger(io.Discard, "info"))
	}

	// A missing key, and a key of the wrong type, refuse the start.
	transitInterceptConfig(t, e, vt, key)
	if gw, err := start(); err == nil || !strings.Contains(err.Error(), "not found") {
		if gw != nil {
			gw.Close()
		}
		t.Fatalf("start with a missing Transit key: %v", err)
	}
	wrong := key + "-rsa"
	vt.transitKey(t, wrong, "rsa-2048")
	writeTestFile(t, e.cfg, strings.Replace(string(mustRead(t, e.cfg)), "transit: "+key+",", "transit: "+wrong+",", 1))
	if gw, err := start(); err == nil || !strings.Contains(err.Error(), "must be ecdsa-p256") {
		if gw != nil {
			gw.Close()
		}
		t.Fatalf("start with an rsa Transit key: %v", err)
	}
	if _, errOut, code := runCLI(t, "certs", "init-intercept", "--config", e.cfg, "--token-file", vt.rootFile, "--force"); code == 0 || !strings.Contains(errOut, "must be ecdsa-p256") {
		t.Fatalf("init-intercept on an rsa key: %d %s", code, errOut)
	}
	writeTestFile(t, e.cfg, strings.Replace(string(mustRead(t, e.cfg)), "transit: "+wrong+",", "transit: "+key+",", 1))
	t.Cleanup(func() {
		_, _ = vt.admin.Logical().Write("transit/keys/"+key+"/config", map[string]any{"deletion_allowed": true})
		_, _ = vt.admin.Logical().Delete("transit/keys/" + key)
	})

	// init-intercept creates the key (ecdsa-p256) and the CA certificate.
	out, errOut, code := runCLI(t, "certs", "init-intercept", "--config", e.cfg, "--token-file", vt.rootFile, "--force")
	if code != 0 || !strings.Contains(out, "name constraints: permitted DNS graph.microsoft.com") {
		t.Fatalf("init-intercept with Transit: exit %d\n%s%s", code, out, errOut)
	}
	caFile := filepath.Join(e.dir, "gw", certs.InterceptCAFile)
	ca := mustParseOne(t, caFile)
	info, err := vt.admin.Logical().Read("transit/keys/" + key)
	if err != nil || info.Data["type"] != "ecdsa-p256" {
		t.Fatalf("Transit key: %v %v", info, err)
	}
	gw, err := start()
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	via := func(trust string) (ok bool, stderr string) {
		_, body, stderr, exit := icaCurl(t, "--proxy", "http://"+gw.PlainAddr, "--cacert", trust, "https://graph.microsoft.com/ok")
		return exit == 0 && body == "upstream saw /ok", stderr
	}
	if ok, stderr := via(caFile); !ok {
		t.Fatalf("curl through the gateway with a Transit-signed leaf: %s", stderr)
	}
	if !gw.ica.Certificate().Equal(ca) {
		t.Fatal("the gateway signs with another CA")
	}

	// Rotation: a new key version holds the next CA; it is published, not
	// signing, until --promote.
	out, errOut, code = runCLI(t, "certs", "rotate-intercept", "--config", e.cfg, "--token-file", vt.rootFile)
	if code != 0 || !strings.Contains(out, "version 2 holds the next CA's key") {
		t.Fatalf("rotate-intercept with Transit: exit %d\n%s%s", code, out, errOut)
	}
	if err := gw.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	oldOnly := filepath.Join(e.dir, "old.pem")
	writeTestFile(t, oldOnly, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})))
	if ok, stderr := via(oldOnly); !ok {
		t.Fatalf("the staged CA signs already: %s", stderr)
	}
	if _, errOut, code := runCLI(t, "certs", "rotate-intercept", "--config", e.cfg, "--token-file", vt.rootFile, "--promote"); code != 0 {
		t.Fatalf("promote: %s", errOut)
	}
	if err := gw.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gw.ica.Certificate().Equal(ca) {
		t.Fatal("the old CA still signs after the promotion")
	}
	if ok, _ := via(oldOnly); ok {
		t.Fatal("a client trusting only the old CA still succeeds after the promotion")
	}
	if ok, stderr := via(caFile); !ok {
		t.Fatalf("a client with the bundle fails after the promotion: %s", stderr)
	}
}

func mustParseOne(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	cs, err := certs.ParseCertsPEM(mustRead(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return cs[0]
}
