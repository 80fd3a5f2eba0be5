package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appRole sets up an AppRole role through the API and returns its role id
// and a secret id (response-wrapped if wrapped).
func (tv *testVault) appRole(t *testing.T, ttl, maxTTL string, wrapped bool) (roleID, secretID string) {
	t.Helper()
	ctx := context.Background()
	_, _ = tv.admin.Logical().WriteWithContext(ctx, "sys/auth/approle", map[string]any{"type": "approle"}) // may exist
	role := "syncgate-test-" + randHex(4)
	if _, err := tv.admin.Logical().WriteWithContext(ctx, "auth/approle/role/"+role, map[string]any{"token_ttl": ttl, "token_max_ttl": maxTTL, "token_policies": "default"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = tv.admin.Logical().DeleteWithContext(context.Background(), "auth/approle/role/"+role) })
	sec, err := tv.admin.Logical().ReadWithContext(ctx, "auth/approle/role/"+role+"/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID = sec.Data["role_id"].(string)
	c := tv.admin
	if wrapped {
		c, err = tv.admin.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(tv.root)
		c.SetWrappingLookupFunc(func(string, string) string { return "120s" })
	}
	sec, err = c.Logical().WriteWithContext(ctx, "auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if wrapped {
		if sec.WrapInfo == nil {
			t.Fatal("no wrap_info")
		}
		return roleID, sec.WrapInfo.Token
	}
	return roleID, sec.Data["secret_id"].(string)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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
				if err == nil {
					t.Fatal("a used wrapping token logged in again")
				}
			}
		})
	}
}

func TestVaultAuthRejects(t *testing.T) {
	tv := newTestVault(t)
	roleID, _ := tv.appRole(t, "1h", "2h", false)
	cases := map[string]VaultAuth{
		"wrong secret id":   {Method: "approle", RoleID: roleID, SecretIDFile: writeFile(t, "sid", "not-the-secret-id")},
		"missing secret id": {Method: "approle", RoleID: roleID, SecretIDFile: filepath.Join(t.TempDir(), "absent")},
		"bad token":         {Method: "token", TokenFile: writeFile(t, "tok", "hvs.not-a-token")},
		"unknown method":    {Method: "ldap"},
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := OpenVaultStore(context.Background(), tv.config(a), OpenOptions{})
			if err == nil {
				s.Close()
				t.Fatal("login succeeded")
			}
			if strings.Contains(err.Error(), "not-the-secret-id") || strings.Contains(err.Error(), "hvs.not-a-token") {
				t.Fatalf("error leaks the credential: %v", err)
			}
		})
	}
}

func TestVaultAuthKubernetes(t *testing.T) {
	tv := newTestVault(t)
	if tv.real() {
		t.Skip("needs a Kubernetes cluster behind Vault")
	}
	tv.emu.AddKubernetesRole("syncgate", "eyJ.k8s.jwt", time.Hour, 2*time.Hour)
	s := tv.open(t, VaultAuth{Method: "kubernetes", K8sRole: "syncgate", K8sJWTFile: writeFile(t, "jwt", "eyJ.k8s.jwt\n")})
	if _, err := s.Put(context.Background(), "k", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	_, err := OpenVaultStore(context.Background(), tv.config(VaultAuth{Method: "kubernetes", K8sRole: "syncgate", K8sJWTFile: writeFile(t, "jwt2", "eyJ.other")}), OpenOptions{})
	if err == nil {
		t.Fatal("wrong service-account JWT accepted")
	}
}

func TestVaultTokenRenewalAndRelogin(t *testing.T) {
	tv := newTestVault(t)
	if tv.real() {
		t.Skip("advances the emulator clock")
	}
	roleID, sid := tv.appRole(t, "2s", "6s", false)
	s := tv.open(t, VaultAuth{Method: "approle", RoleID: roleID, SecretIDFile: writeFile(t, "sid", sid)})
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	// The LifetimeWatcher renews a 2s token after about 2/3 of its TTL.
	waitFor(t, 10*time.Second, "token renewal", func() bool { return tv.emu.Requests("PUT /v1/auth/token/renew-self") >= 1 })
	first := s.Client().Token()
	logins := tv.emu.Requests("PUT /v1/auth/approle/login")
	// Past the max TTL the token is dead: renewal fails and the store logs in again.
	tv.clk.Advance(time.Minute)
	waitFor(t, 15*time.Second, "re-login after max TTL", func() bool { return tv.emu.Requests("PUT /v1/auth/approle/login") > logins })
	if s.Client().Token() == first {
		t.Fatal("token not replaced after re-login")
	}
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("store after re-login: %v", err)
	}
}

func TestVaultReactiveRelogin(t *testing.T) {
	tv := newTestVault(t)
	if tv.real() {
		t.Skip("advances the emulator clock")
	}
	roleID, sid := tv.appRole(t, "1h", "2h", false)
	s := tv.open(t, VaultAuth{Method: "approle", RoleID: roleID, SecretIDFile: writeFile(t, "sid", sid)})
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", []byte("v"), NoCAS); err != nil {
		t.Fatal(err)
	}
	tv.clk.Advance(3 * time.Hour) // the watcher sleeps in real time; the token died under it
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("get with an expired token did not log in again: %v", err)
	}
}
