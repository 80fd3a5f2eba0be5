package vault

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/syncgate/syncgate/emulate/clock"
	emuvault "github.com/syncgate/syncgate/emulate/vault"
	"github.com/syncgate/syncgate/internal/testpki"
)

// tlsServer serves h over real TLS on 127.0.0.1 and returns a client that
// trusts only the test CA.
func tlsServer(t *testing.T, h http.Handler) (*httptest.Server, *http.Client, *testpki.CA) {
	t.Helper()
	ca := testpki.NewCA(t, "test CA")
	leaf := ca.Issue(t, testpki.LeafOpts{CN: "127.0.0.1", IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNS: []string{"localhost"}})
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	return srv, client, ca
}

// testVault is either the emulator (default) or a real Vault when
// SYNCGATE_TEST_VAULT_ADDR and SYNCGATE_TEST_VAULT_TOKEN are set.
type testVault struct {
	addr, root string
	caFile     string // "" for a real Vault: VAULT_CACERT applies
	emu        *emuvault.Emulator
	clk        *clock.Fake
	admin      *vapi.Client
	prefix     string
}

func newTestVault(t *testing.T) *testVault {
	t.Helper()
	tv := &testVault{prefix: "syncgate-test-" + randHex(6)}
	if addr := os.Getenv("SYNCGATE_TEST_VAULT_ADDR"); addr != "" {
		tv.addr, tv.root = addr, os.Getenv("SYNCGATE_TEST_VAULT_TOKEN")
		if tv.root == "" {
			t.Fatal("SYNCGATE_TEST_VAULT_ADDR is set but SYNCGATE_TEST_VAULT_TOKEN is not")
		}
	} else {
		tv.clk = clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
		tv.root = "root-" + randHex(8)
		tv.emu = emuvault.New(emuvault.Options{Clock: tv.clk, RootToken: tv.root})
		srv, _, ca := tlsServer(t, tv.emu)
		tv.addr = srv.URL
		tv.caFile = ca.WriteCert(t, t.TempDir(), "vault-ca.pem")
	}
	conf := vapi.DefaultConfig()
	conf.Address = tv.addr
	if tv.caFile != "" {
		if err := conf.ConfigureTLS(&vapi.TLSConfig{CACert: tv.caFile}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := vapi.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tv.root)
	tv.admin = c
	t.Cleanup(func() {
		// Remove everything this test wrote under its prefix.
		ctx := context.Background()
		var walk func(dir string)
		walk = func(dir string) {
			sec, err := c.Logical().ListWithContext(ctx, "secret/metadata/"+dir)
			if err != nil || sec == nil {
				return
			}
			keys, _ := sec.Data["keys"].([]any)
			for _, k := range keys {
				ks := k.(string)
				if ks[len(ks)-1] == '/' {
					walk(dir + ks)
				} else {
					_, _ = c.Logical().DeleteWithContext(ctx, "secret/metadata/"+dir+ks)
				}
			}
		}
		walk(tv.prefix + "/")
	})
	return tv
}

func (tv *testVault) real() bool { return tv.emu == nil }

func (tv *testVault) config(auth VaultAuth) StoreConfig {
	return StoreConfig{Backend: "vault", Address: tv.addr, CACert: tv.caFile, Mount: "secret", Path: tv.prefix, Auth: auth}
}

func (tv *testVault) open(t *testing.T, auth VaultAuth) *VaultStore {
	t.Helper()
	s, err := OpenVaultStore(context.Background(), tv.config(auth), OpenOptions{Logf: t.Logf})
	if err != nil {
		t.Fatalf("open vault store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rootAuth writes the root token to a file and returns token auth for it.
func (tv *testVault) rootAuth(t *testing.T) VaultAuth {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tv.root+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return VaultAuth{Method: "token", TokenFile: p}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustErrIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
