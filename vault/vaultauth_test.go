package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// roleOpts shapes a test AppRole role.
type roleOpts struct {
	ttl, maxTTL, period string
	secretIDUses        int
	wrapped             bool
	policies            []string // default: the test's policy
}

// appRole sets up an AppRole role through the API and returns its role id
// and a secret id (response-wrapped if wrapped).
func (tv *testVault) appRole(t *testing.T, ttl, maxTTL string, wrapped bool) (roleID, secretID string) {
	t.Helper()
	r := tv.role(t, roleOpts{ttl: ttl, maxTTL: maxTTL, wrapped: wrapped})
	return r.roleID, r.secretID(t)
}

type testRole struct {
	tv      *testVault
	name    string
	roleID  string
	wrapped bool
}

func (tv *testVault) role(t *testing.T, o roleOpts) *testRole {
	t.Helper()
	ctx := context.Background()
	name := "syncgate-test-" + randHex(4)
	pol := o.policies
	if pol == nil {
		pol = []string{tv.policy}
	}
	body := map[string]any{"token_policies": strings.Join(pol, ","), "secret_id_num_uses": o.secretIDUses}
	for k, v := range map[string]string{"token_ttl": o.ttl, "token_max_ttl": o.maxTTL, "token_period": o.period} {
		if v != "" {
			body[k] = v
		}
	}
	if _, err := tv.admin.Logical().WriteWithContext(ctx, "auth/approle/role/"+name, body); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = tv.admin.Logical().DeleteWithContext(context.Background(), "auth/approle/role/"+name) })
	sec, err := tv.admin.Logical().ReadWithContext(ctx, "auth/approle/role/"+name+"/role-id")
	if err != nil {
		t.Fatal(err)
	}
	return &testRole{tv: tv, name: name, roleID: sec.Data["role_id"].(string), wrapped: o.wrapped}
}

// secretID issues a new secret id (a wrapping token for a wrapped role).
func (r *testRole) secretID(t *testing.T) string {
	t.Helper()
	c, err := r.tv.admin.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(r.tv.root)
	if r.wrapped {
		c.SetWrappingLookupFunc(func(string, string) string { return "120s" })
	}
	sec, err := c.Logical().Write("auth/approle/role/"+r.name+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.wrapped {
		if sec.WrapInfo == nil {
			t.Fatal("no wrap_info")
		}
		return sec.WrapInfo.Token
	}
	return sec.Data["secret_id"].(string)
}

func (r *testRole) auth(sidFile string) VaultAuth {
	return VaultAuth{Method: "approle", RoleID: r.roleID, SecretIDFile: sidFile, Wrapped: r.wrapped}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFileMode writes a file with the given mode (umask aside).
func writeFileMode(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := writeFile(t, name, content)
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceFile swaps a file's content atomically, as an orchestrator would.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// logSink collects what a store logs.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

// logger logs into the sink as "LEVEL message" lines.
func (l *logSink) logger() zerolog.Logger { return zerolog.New(l) }

func (l *logSink) Write(p []byte) (int, error) {
	var e struct{ Level, Message string }
	if err := json.Unmarshal(p, &e); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.ToUpper(e.Level)+" "+e.Message)
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestVaultAuthAppRole(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "wrapped"}[wrapped], func(t *testing.T) {
			tv := newTestVault(t)
			roleID, sid := tv.appRole(t, "1h", "2h", wrapped)
			s := tv.open(t, VaultAuth{Method: "approle", RoleID: roleID, SecretIDFile: writeFile(t, "sid", sid+"\n"), Wrapped: wrapped})
			if _, err := s.Put(context.Background(), "a", []byte("v"), NoCAS); err != nil {
				t.Fatalf("put with approle token: %v", err)
			}
			if s.Client().Token() == tv.root {
				t.Fatal("store uses the root token, not its own login")
			}
			if wrapped {
				// The wrapping token is single-use: a second store cannot reuse it.
				_, err := OpenVaultStore(context.Background(), tv.config(VaultAuth{Method: "approle", RoleID: roleID, SecretIDFile: writeFile(t, "sid2", sid), Wrapped: true}), OpenOptions{})
				if err == nil || !strings.Contains(err.Error(), "wrapping token works once") {
					t.Fatalf("a used wrapping token: %v", err)
				}
				if strings.Contains(err.Error(), sid) {
					t.Fatal("error shows the wrapping token")
				}
			}
		})
	}
}

// Every way the first login can fail returns an error from Open (and a
// nil Store, never a typed nil that panics in Close) that says what went
// wrong and holds no credential.
func TestVaultOpenFailures(t *testing.T) {
	tv := newTestVault(t)
	r := tv.role(t, roleOpts{ttl: "1h", wrapped: true})
	used := r.secretID(t)
	if _, err := tv.admin.Logical().Unwrap(used); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  StoreConfig
		want string
	}{
		{"wrong secret id", tv.config(VaultAuth{Method: "approle", RoleID: r.roleID, SecretIDFile: writeFile(t, "sid", "not-the-secret-id")}), "invalid role or secret ID"},
		{"missing secret id file", tv.config(VaultAuth{Method: "approle", RoleID: r.roleID, SecretIDFile: filepath.Join(t.TempDir(), "absent")}), "no such file"},
		{"used wrapping token", tv.config(r.auth(writeFile(t, "wt", used))), "a wrapping token works once"},
		{"bad token", tv.config(VaultAuth{Method: "token", TokenFile: writeFile(t, "tok", "hvs.not-a-token")}), "the token was refused"},
		{"unknown method", tv.config(VaultAuth{Method: "ldap"}), "unknown method"},
		{"token file readable by others", tv.config(VaultAuth{Method: "token", TokenFile: writeFileMode(t, "tok644", tv.root, 0o644)}), "Vault token file "},
		{"secret id file readable by group", tv.config(VaultAuth{Method: "approle", RoleID: r.roleID, SecretIDFile: writeFileMode(t, "sid640", "not-the-secret-id", 0o640)}), "Vault secret id file "},
		{"unreachable", StoreConfig{Backend: "vault", Address: "https://127.0.0.1:1", Auth: tv.rootAuth(t)}, "Vault unreachable"},
	}
	t.Setenv("VAULT_MAX_RETRIES", "0")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := Open(context.Background(), c.cfg, OpenOptions{})
			if err == nil {
				st.Close()
				t.Fatal("login succeeded")
			}
			if st != nil {
				t.Fatalf("Open returned a non-nil Store %#v with its error", st)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(c.name, "readable") && !strings.Contains(err.Error(), "is readable by others; chmod 600 it") {
				t.Fatalf("error %q is not keyfile's message", err)
			}
			for _, secret := range []string{"not-the-secret-id", "hvs.not-a-token", used, tv.root} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks a credential: %v", err)
				}
			}
		})
	}
	var nilStore *VaultStore
	if err := nilStore.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestVaultAuthKubernetes(t *testing.T) {
	tv := newTestVault(t)
	if tv.real() {
		t.Skip("needs a Kubernetes cluster behind Vault")
	}
	tv.emu.AddKubernetesRole("syncgate", "eyJ.k8s.jwt", time.Hour, 2*time.Hour, tv.policy)
	s := tv.open(t, VaultAuth{Method: "kubernetes", K8sRole: "syncgate", K8sJWTFile: writeFile(t, "jwt", "eyJ.k8s.jwt\n")})
	if _, err := s.Put(context.Background(), "k", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	_, err := OpenVaultStore(context.Background(), tv.config(VaultAuth{Method: "kubernetes", K8sRole: "syncgate", K8sJWTFile: writeFile(t, "jwt2", "eyJ.other")}), OpenOptions{})
	if err == nil {
		t.Fatal("wrong service-account JWT accepted")
	}
}

// The store renews its token, and logs in again when the token reaches
// its max TTL. On the emulator the clock jumps; on a real server the test
// waits the few seconds of the role's TTLs.
func TestVaultTokenRenewalAndRelogin(t *testing.T) {
	tv := newTestVault(t)
	roleID, sid := tv.appRole(t, "2s", "6s", false)
	s := tv.open(t, VaultAuth{Method: "approle", RoleID: roleID, SecretIDFile: writeFile(t, "sid", sid)})
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	first := s.Client().Token()
	// The LifetimeWatcher renews a 2s token after about 2/3 of its TTL.
	waitFor(t, 10*time.Second, "token renewal", func() bool {
		l := tv.lookup(t, first)
		return l != nil && l["last_renewal_time"] != nil
	})
	// Past the max TTL the token is dead: renewal fails and the store logs in again.
	if !tv.real() {
		tv.clk.Advance(time.Minute)
	}
	waitFor(t, 20*time.Second, "re-login after max TTL", func() bool { return s.Client().Token() != first })
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("store after re-login: %v", err)
	}
	if err := s.AuthError(); err != nil {
		t.Fatalf("AuthError after a good re-login: %v", err)
	}
}

// A periodic token (token_period) is renewed for ever: no re-login.
func TestVaultPeriodicToken(t *testing.T) {
	tv := newTestVault(t)
	r := tv.role(t, roleOpts{period: "2s"})
	s := tv.open(t, r.auth(writeFile(t, "sid", r.secretID(t))))
	first := s.Client().Token()
	waitFor(t, 10*time.Second, "two renewals", func() bool {
		if !tv.real() { // the emulator's clock stands still: count the renewals
			return tv.emu.Requests("PUT /v1/auth/token/renew-self") >= 2
		}
		l := tv.lookup(t, first)
		return l != nil && l["last_renewal_time"] != nil && tv.renewedTwice(t, first, l)
	})
	if s.Client().Token() != first {
		t.Fatal("a periodic token was replaced instead of renewed")
	}
	if _, err := s.Put(context.Background(), "p", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
}

// renewedTwice notes the first renewal time seen for token and reports
// whether a later one happened.
func (tv *testVault) renewedTwice(t *testing.T, token string, l map[string]any) bool {
	key := "renewal:" + token
	v := fmt.Sprint(l["last_renewal_time"])
	if tv.seen == nil {
		tv.seen = map[string]string{}
	}
	if first, ok := tv.seen[key]; ok {
		return first != v
	}
	tv.seen[key] = v
	return false
}

// A token revoked under the store is found dead on the next request: the
// store logs in once and the request succeeds.
func TestVaultReactiveRelogin(t *testing.T) { forEachFlavor(t, testVaultReactiveRelogin) }

func testVaultReactiveRelogin(t *testing.T, tv *testVault) {
	roleID, sid := tv.appRole(t, "1h", "2h", false)
	s := tv.open(t, VaultAuth{Method: "approle", RoleID: roleID, SecretIDFile: writeFile(t, "sid", sid)})
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	first := s.Client().Token()
	logins := 0
	if !tv.real() {
		logins = tv.emu.Requests("PUT /v1/auth/approle/login")
	}
	tv.revoke(t, first)
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("get with a revoked token did not log in again: %v", err)
	}
	if s.Client().Token() == first {
		t.Fatal("token not replaced")
	}
	if !tv.real() && tv.emu.Requests("PUT /v1/auth/approle/login") != logins+1 {
		t.Fatalf("%d logins for one dead token, want 1", tv.emu.Requests("PUT /v1/auth/approle/login")-logins)
	}
}

// A 403 from the ACL for a live token is a configuration error: it names
// the path and capability, and no login happens (the token stays).
func TestVaultPermissionDeniedIsNotExpiry(t *testing.T) {
	forEachFlavor(t, testVaultPermissionDeniedIsNotExpiry)
}

func testVaultPermissionDeniedIsNotExpiry(t *testing.T, tv *testVault) {
	r := tv.role(t, roleOpts{ttl: "1h"})
	cfg := tv.config(r.auth(writeFile(t, "sid", r.secretID(t))))
	cfg.Path = tv.prefix + "-elsewhere" // the policy grants tv.prefix/* only
	s, err := OpenVaultStore(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := s.Client().Token()
	logins := 0
	if !tv.real() {
		logins = tv.emu.Requests("PUT /v1/auth/approle/login")
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_, err = s.Get(ctx, "graph/client-secret")
		if !errors.Is(err, ErrPermissionDenied) {
			t.Fatalf("get outside the policy: %v, want ErrPermissionDenied", err)
		}
	}
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Capability != "read" || pe.Path != "secret/data/"+tv.prefix+"-elsewhere/graph/client-secret" {
		t.Fatalf("permission error %+v", pe)
	}
	if !strings.Contains(err.Error(), `"read" on secret/data/`+tv.prefix+"-elsewhere/graph/client-secret") {
		t.Fatalf("message does not name capability and path: %v", err)
	}
	if _, err := s.Put(ctx, "x", []byte("v"), NoCAS); !errors.As(err, &pe) || pe.Capability != "create or update" {
		t.Fatalf("put outside the policy: %v", err)
	}
	if _, err := s.List(ctx, ""); !errors.As(err, &pe) || pe.Capability != "list" {
		t.Fatalf("list outside the policy: %v", err)
	}
	if _, _, err := s.Transit().SignJWT(ctx, "not-granted", []byte("x")); !errors.As(err, &pe) || pe.Path != "transit/keys/not-granted" {
		t.Fatalf("transit outside the policy: %v", err)
	}
	if s.Client().Token() != first {
		t.Fatal("an ACL denial made the store log in again")
	}
	if !tv.real() && tv.emu.Requests("PUT /v1/auth/approle/login") != logins {
		t.Fatal("an ACL denial made the store log in again")
	}
	if err := s.AuthError(); err != nil {
		t.Fatalf("AuthError on a permission problem: %v", err)
	}
	if got := describeStoreErr(err); strings.Contains(got, "1 error occurred") {
		t.Fatalf("client-facing reason %q", got)
	}
}

// With a single-use secret id, a dead token cannot be replaced: the store
// says so (AuthError, an error log, OnAuthChange), does not hammer Vault
// with logins, and recovers by itself once a new secret id is in
// secret_id_file (re-read at every login). No credential is logged.
func TestVaultLostAuthAndSecretIDRotation(t *testing.T) {
	forEachFlavor(t, testVaultLostAuthAndSecretIDRotation)
}

func testVaultLostAuthAndSecretIDRotation(t *testing.T, tv *testVault) {
	r := tv.role(t, roleOpts{ttl: "1h", secretIDUses: 1})
	sid1 := r.secretID(t)
	sidFile := writeFile(t, "sid", sid1)
	logs := &logSink{}
	var mu sync.Mutex
	var changes []error
	s, err := OpenVaultStore(context.Background(), tv.config(r.auth(sidFile)), OpenOptions{Logger: logs.logger(),
		OnAuthChange: func(err error) { mu.Lock(); changes = append(changes, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	tok1 := s.Client().Token()
	tv.revoke(t, tok1)
	_, err = s.Get(ctx, "a")
	if !errors.Is(err, ErrTokenInvalid) || !strings.Contains(err.Error(), "invalid role or secret ID") {
		t.Fatalf("get with a dead token and a used secret id: %v", err)
	}
	if aerr := s.AuthError(); aerr == nil || !strings.Contains(aerr.Error(), "invalid role or secret ID") {
		t.Fatalf("AuthError = %v", aerr)
	}
	if s.LoginFailures() == 0 {
		t.Fatal("no login failure counted")
	}
	// A burst of requests does not turn into a burst of logins.
	if !tv.real() {
		before := tv.emu.Requests("PUT /v1/auth/approle/login")
		for i := 0; i < 5; i++ {
			if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("get %d: %v", i, err)
			}
		}
		if n := tv.emu.Requests("PUT /v1/auth/approle/login") - before; n > 1 {
			t.Fatalf("%d logins for 5 requests within the backoff", n)
		}
	}
	mu.Lock()
	lost := len(changes) == 1 && changes[0] != nil
	mu.Unlock()
	if !lost || !strings.Contains(logs.String(), "ERROR vault: lost access") {
		t.Fatalf("loss not reported: changes %v, logs:\n%s", changes, logs)
	}
	// The orchestrator delivers a new secret id; the store picks it up.
	sid2 := r.secretID(t)
	replaceFile(t, sidFile, sid2+"\n")
	waitFor(t, 20*time.Second, "recovery with the new secret id", func() bool { return s.AuthError() == nil })
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("get after recovery: %v", err)
	}
	mu.Lock()
	recovered := len(changes) == 2 && changes[1] == nil
	mu.Unlock()
	if !recovered {
		t.Fatalf("recovery not reported: %v", changes)
	}
	for _, secret := range []string{sid1, sid2, tok1, s.Client().Token(), tv.root} {
		if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
			t.Fatal("a credential is in the logs or errors")
		}
	}
}

// A wrapped secret id is unwrapped once and kept; a new wrapping token in
// secret_id_file is unwrapped at the next login.
func TestVaultWrappedSecretIDReread(t *testing.T) {
	tv := newTestVault(t)
	r := tv.role(t, roleOpts{ttl: "1h", wrapped: true})
	sidFile := writeFile(t, "sid", r.secretID(t))
	s := tv.open(t, r.auth(sidFile))
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	// Same file: the kept secret id logs in again.
	tv.revoke(t, s.Client().Token())
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("re-login with the kept secret id: %v", err)
	}
	// A new wrapping token: unwrapped at the next login.
	wt := r.secretID(t)
	replaceFile(t, sidFile, wt)
	tv.revoke(t, s.Client().Token())
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("re-login with a new wrapping token: %v", err)
	}
	if _, err := tv.admin.Logical().Write("sys/wrapping/lookup", map[string]any{"token": wt}); err == nil {
		t.Fatal("the new wrapping token was not used")
	}
}
