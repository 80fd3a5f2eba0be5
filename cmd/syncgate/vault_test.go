package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"
	"go.yaml.in/yaml/v3"

	"github.com/syncgate/syncgate/certs"
	emuvault "github.com/syncgate/syncgate/emulate/vault"
)

// vaultTarget is the Vault a command test runs against: the emulator on
// real TLS, or a real server when SYNCGATE_TEST_VAULT_ADDR and
// SYNCGATE_TEST_VAULT_TOKEN are set. Everything the test needs (Transit,
// AppRole, policies, roles, keys) is made through the API.
type vaultTarget struct {
	addr, root string
	caFile     string // "" for a real server: VAULT_CACERT applies
	rootFile   string // the operator's token, for --token-file
	emu        *emuvault.Emulator
	admin      *vapi.Client
}

func newVaultTarget(t *testing.T, dir string) *vaultTarget {
	t.Helper()
	vt := &vaultTarget{}
	if addr := os.Getenv("SYNCGATE_TEST_VAULT_ADDR"); addr != "" {
		vt.addr, vt.root = addr, os.Getenv("SYNCGATE_TEST_VAULT_TOKEN")
		if vt.root == "" {
			t.Fatal("SYNCGATE_TEST_VAULT_ADDR is set but SYNCGATE_TEST_VAULT_TOKEN is not")
		}
	} else {
		vt.root = randSecret(t, "hvs.root")
		vt.emu = emuvault.New(emuvault.Options{RootToken: vt.root})
		vdir := filepath.Join(dir, "vault-pki")
		vt.addr = serveTLS(t, vdir, []string{"127.0.0.1"}, vt.emu).URL
		vt.caFile = filepath.Join(vdir, certs.RootCAFile)
	}
	vt.rootFile = filepath.Join(dir, "operator-token")
	if err := os.WriteFile(vt.rootFile, []byte(vt.root+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := vapi.DefaultConfig()
	conf.Address = vt.addr
	if vt.caFile != "" {
		if err := conf.ConfigureTLS(&vapi.TLSConfig{CACert: vt.caFile}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := vapi.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(vt.root)
	vt.admin = c
	for path, typ := range map[string]string{"sys/mounts/transit": "transit", "sys/auth/approle": "approle"} {
		if _, err := c.Logical().Write(path, map[string]any{"type": typ}); err != nil && !strings.Contains(err.Error(), "already in use") {
			t.Fatalf("enable %s: %v", typ, err)
		}
	}
	return vt
}

func (vt *vaultTarget) write(t *testing.T, path string, data map[string]any) *vapi.Secret {
	t.Helper()
	sec, err := vt.admin.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("vault %s: %v", path, err)
	}
	return sec
}

// transitKey creates a key unless one of that name exists (a real server
// may keep the example's keys); keys it made go when the test ends.
func (vt *vaultTarget) transitKey(t *testing.T, name, typ string) {
	t.Helper()
	if sec, err := vt.admin.Logical().Read("transit/keys/" + name); err == nil && sec != nil {
		if sec.Data["type"] != typ {
			t.Fatalf("transit key %s exists with type %v, want %s", name, sec.Data["type"], typ)
		}
		return
	}
	vt.write(t, "transit/keys/"+name, map[string]any{"type": typ})
	t.Cleanup(func() {
		_, _ = vt.admin.Logical().Write("transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true})
		_, _ = vt.admin.Logical().Delete("transit/keys/" + name)
	})
}

// policy loads an HCL policy under a fresh name.
func (vt *vaultTarget) policy(t *testing.T, hcl string) string {
	t.Helper()
	name := "syncgate-test-" + strings.ToLower(randSecret(t, "p")[:10])
	vt.write(t, "sys/policies/acl/"+name, map[string]any{"policy": hcl})
	t.Cleanup(func() { _, _ = vt.admin.Logical().Delete("sys/policies/acl/" + name) })
	return name
}

// role makes an AppRole role and returns its name and role id.
func (vt *vaultTarget) role(t *testing.T, body map[string]any) (string, string) {
	t.Helper()
	name := "syncgate-test-" + strings.ToLower(randSecret(t, "r")[:10])
	vt.write(t, "auth/approle/role/"+name, body)
	t.Cleanup(func() { _, _ = vt.admin.Logical().Delete("auth/approle/role/" + name) })
	sec, err := vt.admin.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	return name, sec.Data["role_id"].(string)
}

// secretID issues a secret id for role, response-wrapped if wrapped.
func (vt *vaultTarget) secretID(t *testing.T, role string, wrapped bool) string {
	t.Helper()
	c, err := vt.admin.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(vt.root)
	if wrapped {
		c.SetWrappingLookupFunc(func(string, string) string { return "300s" })
	}
	sec, err := c.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if wrapped {
		return sec.WrapInfo.Token
	}
	return sec.Data["secret_id"].(string)
}

// exampleConfig writes examples/syncgate.yaml into dir with only what
// cannot be the same on a test machine changed: listen addresses, the
// audit path, Vault's address and CA, the AppRole role id and secret id
// file. Everything else, the checkpoint key included, is the example's.
func exampleConfig(t *testing.T, dir string, vt *vaultTarget, roleID, secretIDFile string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "syncgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["listen"], m["plain_listen"] = "127.0.0.1:0", "127.0.0.1:0"
	m["metrics"] = map[string]any{"listen": "127.0.0.1:0"}
	m["audit"].(map[string]any)["path"] = "audit.jsonl"
	sec := m["secrets"].(map[string]any)
	sec["address"] = vt.addr
	if vt.caFile != "" {
		sec["ca_cert"] = vt.caFile
	} else {
		delete(sec, "ca_cert")
	}
	auth := sec["auth"].(map[string]any)
	auth["role_id"], auth["secret_id_file"] = roleID, secretIDFile
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "syncgate.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var regexpFingerprint = regexp.MustCompile(`sha256: [0-9a-f]{64}\n`)

// syncBuf is a goroutine-safe log buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func getBody(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The shipped example, with its checkpoints signed by the ed25519 Transit
// key syncgate-audit and the gateway logging in with a response-wrapped
// AppRole secret id under the shipped Vault policy, starts, signs and
// verifies with `audit verify --vault` (as the operator, not the gateway).
func TestExampleConfigWithTransitCheckpoints(t *testing.T) {
	dir := examplePolicy(t)
	if _, err := certs.InitDir(filepath.Join(dir, "pki"), certs.InitOptions{Names: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	vt := newVaultTarget(t, dir)
	for name, typ := range map[string]string{"syncgate-audit": "ed25519", "graph-app": "rsa-2048", "google-sa": "rsa-2048", "salesforce-app": "rsa-2048"} {
		vt.transitKey(t, name, typ)
	}
	hcl, err := os.ReadFile(filepath.Join("..", "..", "examples", "vault-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	role, roleID := vt.role(t, map[string]any{"token_policies": vt.policy(t, string(hcl)), "token_ttl": "1h", "token_max_ttl": "24h"})
	wrapToken := vt.secretID(t, role, true)
	sidFile := filepath.Join(dir, "secret-id")
	if err := os.WriteFile(sidFile, []byte(wrapToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := exampleConfig(t, dir, vt, roleID, sidFile)
	// The example's intercept CA: an ecdsa-p256 Transit key, constrained
	// to the example policy's hosts, made by the operator.
	vt.transitKey(t, "syncgate-intercept-ca", "ecdsa-p256")
	if out, errOut, code := runCLI(t, "certs", "init-intercept", "--config", cfgPath, "--token-file", vt.rootFile, "--force"); code != 0 || !strings.Contains(out, "permitted DNS") {
		t.Fatalf("certs init-intercept for the example: exit %d\n%s%s", code, out, errOut)
	}

	cfg, err := loadServeConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	gw, err := startGateway(context.Background(), cfg, newLogger(logs, "info"))
	if err != nil {
		t.Fatalf("the example does not start: %v\n%s", err, logs)
	}
	closed := false
	defer func() {
		if !closed {
			gw.Close()
		}
	}()
	if code, body := getBody(t, "http://"+gw.MetricsAddr+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if _, body := getBody(t, "http://"+gw.MetricsAddr+"/metrics"); !strings.Contains(body, "syncgate_vault_authenticated 1") {
		t.Fatal("metrics: syncgate_vault_authenticated is not 1")
	}
	// An intercepted CONNECT: the leaf is signed through Transit under the
	// shipped Vault policy, and curl trusts it with the intercept CA file
	// (the request inside is then denied by policy: no subject).
	if status, _, stderr, exit := icaCurl(t, "--proxy", "http://"+gw.PlainAddr, "--cacert", filepath.Join(dir, "pki", certs.InterceptCAFile),
		"https://graph.microsoft.com/v1.0/me"); exit != 0 || status != http.StatusForbidden {
		t.Fatalf("CONNECT with a Transit-signed leaf: exit %d status %d %s", exit, status, stderr)
	}
	// A few audited requests: denied, since no policy destination matches.
	pu, _ := url.Parse("http://" + gw.PlainAddr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
	for i := 0; i < 3; i++ {
		resp, err := client.Get("http://nowhere.example/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	closed = true
	if err := gw.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	auditPath := filepath.Join(dir, "audit.jsonl")
	if n := countKind(readRecords(t, auditPath), "checkpoint"); n < 1 {
		t.Fatalf("%d checkpoints", n)
	}
	out, errOut, code := runCLI(t, "audit", "verify", "--vault", "--config", cfgPath, "--token-file", vt.rootFile, auditPath)
	if code != 0 || !strings.Contains(out, "intact:") || !strings.Contains(out, "signed: ") || strings.Contains(out, "signed: 0 ") {
		t.Fatalf("audit verify --vault: exit %d\n%s%s", code, out, errOut)
	}
	pub, errOut, code := runCLI(t, "audit", "pubkey", "--vault", "--config", cfgPath, "--token-file", vt.rootFile)
	if code != 0 || !strings.Contains(pub, "BEGIN PUBLIC KEY") || !strings.Contains(errOut, "key id ed25519:") {
		t.Fatalf("audit pubkey --vault: exit %d\n%s%s", code, pub, errOut)
	}
	pubFile := filepath.Join(dir, "checkpoint.pub")
	writeTestFile(t, pubFile, pub)
	if out, errOut, code := runCLI(t, "audit", "verify", "--pubkey", pubFile, auditPath); code != 0 || !strings.Contains(out, "signed: ") {
		t.Fatalf("audit verify --pubkey with the exported key: exit %d\n%s%s", code, out, errOut)
	}
	// secrets rotate --transit prints the new ed25519 public key and its
	// fingerprint (Vault gives ed25519 keys as raw base64, not PEM).
	rot := "syncgate-test-rot-" + strings.ToLower(randSecret(t, "k")[:6])
	vt.transitKey(t, rot, "ed25519")
	out, errOut, code = runCLI(t, "secrets", "rotate", "--transit", rot, "--config", cfgPath, "--token-file", vt.rootFile)
	if code != 0 || !strings.Contains(out, "(ed25519): version 2") || !regexpFingerprint.MatchString(out) || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("secrets rotate --transit: exit %d\n%s%s", code, out, errOut)
	}
	if vt.emu != nil { // on a real server the example's key may not be ours to rotate
		// After a rotation of the checkpoint key, the old checkpoints
		// still verify: every version's public key is used.
		if _, _, code := runCLI(t, "secrets", "rotate", "--transit", "syncgate-audit", "--config", cfgPath, "--token-file", vt.rootFile); code != 0 {
			t.Fatal("rotate the checkpoint key")
		}
		if out, errOut, code := runCLI(t, "audit", "verify", "--vault", "--config", cfgPath, "--token-file", vt.rootFile, auditPath); code != 0 {
			t.Fatalf("verify after rotating the checkpoint key: exit %d\n%s%s", code, out, errOut)
		}
	}
	// The operator commands never take the gateway's single-use secret.
	if _, errOut, code := runCLI(t, "secrets", "list", "--config", cfgPath, "--gateway-auth"); code == 0 || !strings.Contains(errOut, "belongs to serve") {
		t.Fatalf("secrets --gateway-auth with a wrapped secret id: exit %d %s", code, errOut)
	}
	for _, s := range []string{vt.root, wrapToken} {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a Vault credential is in the gateway's log")
		}
	}
}

// When the gateway's token dies and it cannot log in again (its secret id
// was single-use), /readyz turns not-ready with the reason, the metric says
// 0 and the log says why at error level; a new secret id in secret_id_file
// brings it back without a restart.
func TestReadyzFollowsVaultAuth(t *testing.T) {
	e := newServeEnv(t)
	vt := newVaultTarget(t, e.dir)
	pol := vt.policy(t, `path "secret/data/syncgate/*" { capabilities = ["read"] }`)
	role, roleID := vt.role(t, map[string]any{"token_policies": pol, "token_ttl": "2s", "token_max_ttl": "2s", "secret_id_num_uses": 1})
	sidFile := filepath.Join(e.dir, "secret-id")
	sid1 := vt.secretID(t, role, false)
	writeSecretFile(t, sidFile, sid1)
	cfgBody, _ := os.ReadFile(e.cfg)
	ca := ""
	if vt.caFile != "" {
		ca = "ca_cert: " + vt.caFile + ", "
	}
	writeTestFile(t, e.cfg, string(cfgBody)+fmt.Sprintf(`secrets: {backend: vault, address: %s, %sauth: {method: approle, role_id: %s, secret_id_file: secret-id}}
credentials:
  graph-app: {type: basic, username: svc, password: {secret: graph/pw}}
`, vt.addr, ca, roleID))
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
	readyz := "http://" + gw.MetricsAddr + "/readyz"
	if code, body := getBody(t, readyz); code != 200 {
		t.Fatalf("readyz at start: %d %s", code, body)
	}
	// The 2s token reaches its max TTL; the single-use secret id is spent.
	var body string
	waitUntil(t, 30*time.Second, "readyz not ready", func() bool {
		var code int
		code, body = getBody(t, readyz)
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "not ready") || !strings.Contains(body, "invalid role or secret ID") {
		t.Fatalf("readyz reason: %s", body)
	}
	_, metrics := getBody(t, "http://"+gw.MetricsAddr+"/metrics")
	if !strings.Contains(metrics, "syncgate_vault_authenticated 0") || strings.Contains(metrics, "syncgate_vault_login_failures_total 0") {
		t.Fatalf("metrics while Vault access is lost:\n%s", grepLines(metrics, "syncgate_vault"))
	}
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "lost access") {
		t.Fatalf("no error log about the lost Vault access:\n%s", logs)
	}
	// The orchestrator delivers a new, unlimited secret id.
	vt.write(t, "auth/approle/role/"+role, map[string]any{"secret_id_num_uses": 0, "token_ttl": "1h", "token_max_ttl": "1h"})
	sid2 := vt.secretID(t, role, false)
	writeSecretFile(t, sidFile+".new", sid2)
	if err := os.Rename(sidFile+".new", sidFile); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "readyz ready again", func() bool {
		code, _ := getBody(t, readyz)
		return code == 200
	})
	for _, s := range []string{sid1, sid2, vt.root} {
		if strings.Contains(logs.String(), s) || strings.Contains(body, s) {
			t.Fatal("a Vault credential is in the log or the readyz reason")
		}
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// No command panics on a Vault failure: each prints what went wrong and
// exits non-zero, without a credential in its output. Runs the binary, as
// an operator would.
func TestVaultFailuresDoNotPanic(t *testing.T) {
	bin := syncgateBinary(t)
	e := newServeEnv(t)
	vt := newVaultTarget(t, e.dir)
	vt.transitKey(t, "syncgate-audit-x", "ed25519")
	role, roleID := vt.role(t, map[string]any{"token_ttl": "1h"})
	used := vt.secretID(t, role, true)
	if _, err := vt.admin.Logical().Unwrap(used); err != nil {
		t.Fatal(err)
	}
	writeSecretFile(t, filepath.Join(e.dir, "used-wrap"), used)
	badToken := randSecret(t, "hvs.bad")
	writeSecretFile(t, filepath.Join(e.dir, "bad-token"), badToken)
	// A token that may not read the checkpoint key.
	weak := vt.write(t, "auth/token/create", map[string]any{"policies": []string{vt.policy(t, `path "secret/data/nothing" { capabilities = ["read"] }`)}, "ttl": "1h"}).Auth.ClientToken
	writeSecretFile(t, filepath.Join(e.dir, "weak-token"), weak)

	base, _ := os.ReadFile(e.cfg)
	ca := ""
	if vt.caFile != "" {
		ca = "ca_cert: " + vt.caFile + ", "
	}
	configs := map[string]string{}
	for name, secrets := range map[string]string{
		"bad-token":   fmt.Sprintf("{backend: vault, address: %s, %sauth: {method: token, token_file: bad-token}}", vt.addr, ca),
		"used-wrap":   fmt.Sprintf("{backend: vault, address: %s, %sauth: {method: approle, role_id: %s, secret_id_file: used-wrap, wrapped: true}}", vt.addr, ca, roleID),
		"unreachable": "{backend: vault, address: https://127.0.0.1:1, auth: {method: token, token_file: operator-token}}",
		"denied":      fmt.Sprintf("{backend: vault, address: %s, %sauth: {method: token, token_file: weak-token}}", vt.addr, ca),
	} {
		p := filepath.Join(e.dir, name+".yaml")
		body := strings.Replace(string(base), "audit: {path: audit.jsonl, fsync: always}", "audit: {path: audit.jsonl, fsync: always, checkpoint: {every: 5, transit: syncgate-audit-x}}", 1)
		writeTestFile(t, p, body+"secrets: "+secrets+"\n")
		configs[name] = p
	}
	writeTestFile(t, e.audit, "")
	home := t.TempDir() // no ~/.vault-token
	run := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "VAULT_MAX_RETRIES=0"}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return code, string(out)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"serve, bad token", []string{"serve", "--config", configs["bad-token"]}, "the token was refused"},
		{"serve, used wrapping token", []string{"serve", "--config", configs["used-wrap"]}, "a wrapping token works once"},
		{"serve, Vault unreachable", []string{"serve", "--config", configs["unreachable"]}, "Vault unreachable"},
		{"serve, checkpoint key not readable", []string{"serve", "--config", configs["denied"]}, `"read" on transit/keys/syncgate-audit-x`},
		{"secrets list, bad operator token", []string{"secrets", "list", "--config", configs["used-wrap"], "--token-file", filepath.Join(e.dir, "bad-token")}, "the token was refused"},
		{"secrets list, no operator token", []string{"secrets", "list", "--config", configs["used-wrap"]}, "no operator Vault token"},
		{"secrets get, gateway auth with a wrapped secret", []string{"secrets", "get", "x", "--config", configs["used-wrap"], "--gateway-auth"}, "belongs to serve"},
		{"secrets get, gateway auth with a bad token", []string{"secrets", "get", "x", "--config", configs["bad-token"], "--gateway-auth"}, "the token was refused"},
		{"secrets list, Vault unreachable", []string{"secrets", "list", "--config", configs["unreachable"], "--token-file", vt.rootFile}, "Vault unreachable"},
		{"secrets rotate --transit, bad token", []string{"secrets", "rotate", "--transit", "k", "--config", configs["used-wrap"], "--token-file", filepath.Join(e.dir, "bad-token")}, "the token was refused"},
		{"audit verify --vault, bad token", []string{"audit", "verify", "--vault", "--config", configs["used-wrap"], "--token-file", filepath.Join(e.dir, "bad-token"), e.audit}, "the token was refused"},
		{"audit verify --vault, unreachable", []string{"audit", "verify", "--vault", "--config", configs["unreachable"], "--token-file", vt.rootFile, e.audit}, "Vault unreachable"},
		{"audit verify --vault, key not readable", []string{"audit", "verify", "--vault", "--config", configs["denied"], "--token-file", filepath.Join(e.dir, "weak-token"), e.audit}, "permission denied"},
		{"audit pubkey --vault, used wrapping token", []string{"audit", "pubkey", "--vault", "--config", configs["used-wrap"], "--gateway-auth"}, "belongs to serve"},
		{"audit pubkey --vault, unreachable", []string{"audit", "pubkey", "--vault", "--config", configs["unreachable"], "--token-file", vt.rootFile}, "Vault unreachable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := run(c.args...)
			if code == 0 {
				t.Fatalf("exit 0:\n%s", out)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Fatalf("panicked:\n%s", out)
			}
			if !strings.Contains(out, c.want) {
				t.Fatalf("output does not say %q:\n%s", c.want, out)
			}
			for _, s := range []string{badToken, used, vt.root, weak} {
				if strings.Contains(out, s) {
					t.Fatalf("output shows a credential:\n%s", out)
				}
			}
		})
	}
}

// writeSecretFile writes a credential file as an operator must: 0600 (the
// gateway refuses a Vault token or secret id file others can read).
func writeSecretFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
