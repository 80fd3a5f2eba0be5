package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
	emuvault "github.com/syncgate/syncgate/emulate/vault"
)

// TestTransitSignedCheckpoints runs the gateway with its checkpoint key in
// (emulated) Vault Transit, then verifies the log with `audit verify
// --vault`, and shows that a rewritten chain with recomputed hashes fails.
func TestTransitSignedCheckpoints(t *testing.T) {
	e := newServeEnv(t)
	// Vault emulator on real TLS with a certificate for 127.0.0.1.
	vdir := filepath.Join(e.dir, "vault")
	if _, err := certs.InitDir(vdir, certs.InitOptions{Names: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	emu := emuvault.New(emuvault.Options{RootToken: "root-token-for-test"})
	vs := httptest.NewUnstartedServer(emu)
	cert, err := tls.LoadX509KeyPair(filepath.Join(vdir, certs.ListenerFile), filepath.Join(vdir, certs.ListenerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	vs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	vs.StartTLS()
	defer vs.Close()
	req, _ := http.NewRequest(http.MethodPost, vs.URL+"/v1/transit/keys/audit-checkpoints", strings.NewReader(`{"type":"ed25519"}`))
	req.Header.Set("X-Vault-Token", "root-token-for-test")
	resp, err := vs.Client().Do(req)
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("create transit key: %v %v", resp, err)
	}
	resp.Body.Close()
	os.WriteFile(filepath.Join(e.dir, "vault-token"), []byte("root-token-for-test"), 0o600)
	cfgBody, _ := os.ReadFile(e.cfg)
	cfg := strings.Replace(string(cfgBody), "audit: {path: audit.jsonl, fsync: always}", `audit:
  path: audit.jsonl
  checkpoint: {every: 3, transit: audit-checkpoints}
secrets:
  backend: vault
  address: `+vs.URL+`
  ca_cert: vault/root-ca.pem
  auth: {method: token, token_file: vault-token}`, 1)
	os.WriteFile(e.cfg, []byte(cfg), 0o644)

	c, err := loadServeConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gw, err := startGateway(ctx, c, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		if s := e.get(t, "/ok"); s != 200 {
			t.Fatalf("status %d", s)
		}
	}
	// Checkpoints are signed off the request path.
	waitUntil(t, 10*time.Second, "a checkpoint", func() bool { return countKind(readRecords(t, e.audit), "checkpoint") >= 1 })
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countKind(readRecords(t, e.audit), "checkpoint"); n < 2 {
		t.Fatalf("%d checkpoints", n)
	}
	// The auditor reads the key as the operator (here with the same token).
	tokenFile := filepath.Join(e.dir, "vault-token")
	out, _, code := runCLI(t, "audit", "verify", "--vault", "--config", e.cfg, "--token-file", tokenFile, e.audit)
	if code != 0 || !strings.Contains(out, "signed:") {
		t.Fatalf("verify --vault: exit %d\n%s", code, out)
	}
	// Rewrite one record and recompute every hash from there on: the chain
	// is self-consistent again, but the signatures no longer match.
	rewriteChain(t, e.audit, "/ok", "/xx")
	if out, _, code := runCLI(t, "audit", "verify", e.audit); code != 0 {
		t.Fatalf("rewritten chain should pass hash-only verification: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, "audit", "verify", "--vault", "--config", e.cfg, "--token-file", tokenFile, e.audit)
	if code != 1 || !strings.Contains(out, "BROKEN") {
		t.Fatalf("rewritten chain passed signature verification: exit %d\n%s", code, out)
	}
}

func countKind(rs []audit.Record, kind string) int {
	n := 0
	for _, r := range rs {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// rewriteChain does what an attacker with write access would: change one
// record, then recompute every later hash (and every reference to an old
// hash, such as prev links and checkpoint heads) so the chain is
// self-consistent again.
func rewriteChain(t *testing.T, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	renamed := map[string]string{}
	changed := false
	for i, l := range lines {
		for old, nw := range renamed {
			l = strings.ReplaceAll(l, old, nw)
		}
		if !changed && strings.Contains(l, `"path":"`+from+`"`) {
			l = strings.Replace(l, `"path":"`+from+`"`, `"path":"`+to+`"`, 1)
			changed = true
		}
		if !changed {
			continue
		}
		j := strings.LastIndex(l, `"hash":"`)
		old := l[j+8 : j+8+64]
		h, err := audit.HashLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		l = l[:j+8] + h + l[j+8+64:]
		renamed[old] = h
		lines[i] = l
	}
	if !changed {
		t.Fatalf("no record with path %s", from)
	}
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
