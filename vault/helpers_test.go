package vault

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"

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
	policy     string // grants the store's KV prefix and the test Transit keys
	seen       map[string]string
}

func newTestVault(t *testing.T) *testVault {
	t.Helper()
	return newTestVaultWith(t, emuvault.Options{})
}

// newTestVaultWith is newTestVault with emulator options (ignored for a
// real server).
func newTestVaultWith(t *testing.T, eo emuvault.Options) *testVault {
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
		eo.Clock, eo.RootToken = tv.clk, tv.root
		tv.emu = emuvault.New(eo)
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
	tv.prepare(t)
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

// forEachFlavor runs f against the emulator answering a dead token as
// OpenBao and Vault before 1.16 do, and as Vault 1.16+ does; once against
// a real server.
func forEachFlavor(t *testing.T, f func(t *testing.T, tv *testVault)) {
	if os.Getenv("SYNCGATE_TEST_VAULT_ADDR") != "" {
		f(t, newTestVault(t))
		return
	}
	for name, hc := range map[string]bool{"bare permission denied": false, "invalid token": true} {
		t.Run(name, func(t *testing.T) { f(t, newTestVaultWith(t, emuvault.Options{InvalidTokenErrors: hc})) })
	}
}

// prepare makes what the tests need through the API, as on a fresh dev
// server (which has KV v2 at secret/ and nothing else): the Transit
// engine, the AppRole auth method, and a policy for the test's KV prefix
// and Transit keys named syncgate-test-*.
func (tv *testVault) prepare(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for path, typ := range map[string]string{"sys/mounts/transit": "transit", "sys/auth/approle": "approle"} {
		if _, err := tv.admin.Logical().WriteWithContext(ctx, path, map[string]any{"type": typ}); err != nil && !strings.Contains(err.Error(), "already in use") {
			t.Fatalf("enable %s: %v", typ, err)
		}
	}
	tv.policy = tv.prefix
	tv.putPolicy(t, tv.policy, fmt.Sprintf(`
path "secret/data/%[1]s/*" { capabilities = ["create", "read", "update", "delete"] }
path "secret/metadata/%[1]s/*" { capabilities = ["read", "list", "delete"] }
path "transit/keys/syncgate-test-*" { capabilities = ["read"] }
path "transit/sign/syncgate-test-*" { capabilities = ["update"] }
`, tv.prefix))
}

// putPolicy writes an ACL policy, removed when the test ends.
func (tv *testVault) putPolicy(t *testing.T, name, hcl string) {
	t.Helper()
	if _, err := tv.admin.Logical().Write("sys/policies/acl/"+name, map[string]any{"policy": hcl}); err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	t.Cleanup(func() { _, _ = tv.admin.Logical().Delete("sys/policies/acl/" + name) })
}

// revoke revokes a token as an administrator would.
func (tv *testVault) revoke(t *testing.T, token string) {
	t.Helper()
	if _, err := tv.admin.Logical().Write("auth/token/revoke", map[string]any{"token": token}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

// lookup returns a token's lookup data as the administrator sees it, or nil.
func (tv *testVault) lookup(t *testing.T, token string) map[string]any {
	t.Helper()
	sec, err := tv.admin.Logical().Write("auth/token/lookup", map[string]any{"token": token})
	if err != nil || sec == nil {
		return nil
	}
	return sec.Data
}

// relay is a TCP relay the test controls, between a client and Vault:
// down, it cuts every connection and refuses new ones, as an outage would.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); r.SetDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			down := r.down
			if !down {
				r.conns[c] = true
			}
			r.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go r.pipe(c)
		}
	}()
	return r
}

func (r *relay) pipe(c net.Conn) {
	u, err := net.Dial("tcp", r.target)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	r.conns[u] = true
	r.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

// SetDown cuts (true) or restores (false) the path to Vault.
func (r *relay) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
	if down {
		for c := range r.conns {
			c.Close()
		}
		r.conns = map[net.Conn]bool{}
	}
}

// relayed returns the store config with Vault reached through a relay.
func (tv *testVault) relayed(t *testing.T, auth VaultAuth) (StoreConfig, *relay) {
	t.Helper()
	u, err := url.Parse(tv.addr)
	if err != nil {
		t.Fatal(err)
	}
	r := newRelay(t, u.Host)
	if net.ParseIP(u.Hostname()) == nil && u.Scheme == "https" {
		t.Setenv("VAULT_TLS_SERVER_NAME", u.Hostname()) // the certificate names the server, not 127.0.0.1
	}
	c := tv.config(auth)
	c.Address = u.Scheme + "://" + r.ln.Addr().String()
	return c, r
}

func (tv *testVault) config(auth VaultAuth) StoreConfig {
	return StoreConfig{Backend: "vault", Address: tv.addr, CACert: tv.caFile, Mount: "secret", Path: tv.prefix, Auth: auth}
}

func (tv *testVault) open(t *testing.T, auth VaultAuth) *VaultStore {
	t.Helper()
	s, err := OpenVaultStore(context.Background(), tv.config(auth), OpenOptions{Logger: zerolog.New(zerolog.NewTestWriter(t))})
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
