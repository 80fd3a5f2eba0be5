package emulate

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/emulate/clock"
)

func TestSeedFilesModesAndNoSecretInSummary(t *testing.T) {
	dir := t.TempDir()
	// A leftover secret file with a loose mode must come back 0600.
	must(t, os.WriteFile(filepath.Join(dir, EWSPasswordFile), []byte("old"), 0o644))
	set := New(Options{Clock: clock.NewFake(t0)})
	seed, err := set.SeedDemo(dir)
	must(t, err)

	modes := map[string]os.FileMode{
		MicrosoftSecretFile: 0o600, MicrosoftKeyFile: 0o600, MicrosoftCertFile: 0o644,
		GoogleKeyFile: 0o600, GoogleKeyJSONFile: 0o600,
		SalesforceKeyFile: 0o600, SalesforceCertFile: 0o644,
		EWSPasswordFile: 0o600, VaultTokenFile: 0o600, SeededFile: 0o644,
	}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", name, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if _, ok := modes[e.Name()]; !ok {
			t.Errorf("unexpected file %s (a leftover temporary file?)", e.Name())
		}
	}

	secrets := seedSecrets(t, seed)
	summary, err := os.ReadFile(filepath.Join(dir, SeededFile))
	must(t, err)
	var back Seeded
	must(t, json.Unmarshal(summary, &back))
	if back.Microsoft.ClientID != DemoMicrosoftClientID || back.Google.ClientEmail != DemoGoogleClientEmail ||
		back.Salesforce.ConsumerKey != DemoSalesforceKey || back.EWS.Username != DemoEWSUser || back.Dir != seed.Dir {
		t.Fatalf("seeded.json does not round-trip the identifiers: %s", summary)
	}
	structJSON, _ := json.Marshal(seed)
	for _, s := range secrets {
		if bytes.Contains(summary, []byte(s)) || bytes.Contains(structJSON, []byte(s)) {
			t.Errorf("a secret value appears in the seed summary")
		}
	}
	if len(back.Salesforce.UserIDs) != 3 || len(back.Microsoft.UserIDs) != 3 {
		t.Errorf("user ids missing: %s", summary)
	}

	if _, err := set.SeedDemo(t.TempDir()); err == nil {
		t.Fatal("a second SeedDemo on the same Set succeeded")
	}
}

// seedSecrets reads every secret value the seed wrote, including the
// base64 body of each private key.
func seedSecrets(t *testing.T, s *Seeded) []string {
	t.Helper()
	out := []string{
		readSecret(t, s.Microsoft.ClientSecretFile), readSecret(t, s.EWS.PasswordFile), readSecret(t, s.Vault.TokenFile),
	}
	for _, f := range []string{s.Microsoft.KeyFile, s.Google.KeyFile, s.Salesforce.KeyFile} {
		lines := strings.Split(readSecret(t, f), "\n")
		out = append(out, lines[1]) // first base64 line of the key body
	}
	for _, v := range out {
		if len(v) < 16 {
			t.Fatalf("secret too short to search for: %d chars", len(v))
		}
	}
	return out
}

func TestSeedDemoRejectsEmptyDir(t *testing.T) {
	if _, err := New(Options{}).SeedDemo(""); err == nil {
		t.Fatal("SeedDemo(\"\") succeeded")
	}
}

func TestSeedSecretsDifferPerSet(t *testing.T) {
	a, err := New(Options{}).SeedDemo(t.TempDir())
	must(t, err)
	b, err := New(Options{}).SeedDemo(t.TempDir())
	must(t, err)
	if readSecret(t, a.Microsoft.ClientSecretFile) == readSecret(t, b.Microsoft.ClientSecretFile) ||
		readSecret(t, a.EWS.PasswordFile) == readSecret(t, b.EWS.PasswordFile) ||
		readSecret(t, a.Vault.TokenFile) == readSecret(t, b.Vault.TokenFile) {
		t.Fatal("two seeds share a secret")
	}
}

func TestEnsureCerts(t *testing.T) {
	dir := t.TempDir()
	names := New(Options{}).CertNames()
	now := time.Now()
	c1, caFile, err := EnsureCerts(dir, names, now)
	must(t, err)
	if caFile != filepath.Join(dir, certs.RootCAFile) {
		t.Fatalf("ca file %s", caFile)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(caFile)
	must(t, err)
	pool.AppendCertsFromPEM(caPEM)
	verify := func(c tls.Certificate, name string) error {
		_, err := c.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name})
		return err
	}
	for _, n := range names {
		if err := verify(c1, n); err != nil {
			t.Errorf("listener certificate for %s: %v", n, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, certs.ListenerKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("listener key mode: %v %v", fi.Mode(), err)
	}

	// Same names: the same certificate is reused.
	c2, _, err := EnsureCerts(dir, names, now)
	must(t, err)
	if c2.Leaf.SerialNumber.Cmp(c1.Leaf.SerialNumber) != 0 {
		t.Error("listener certificate reissued although the names did not change")
	}
	// A new name: reissued from the same root, old clients keep trusting it.
	more := append(append([]string(nil), names...), "crm.acme.example")
	c3, _, err := EnsureCerts(dir, more, now)
	must(t, err)
	if c3.Leaf.SerialNumber.Cmp(c1.Leaf.SerialNumber) == 0 {
		t.Fatal("listener certificate not reissued for a new name")
	}
	for _, n := range more {
		if err := verify(c3, n); err != nil {
			t.Errorf("reissued certificate for %s: %v", n, err)
		}
	}
	caAfter, err := os.ReadFile(caFile)
	must(t, err)
	if !bytes.Equal(caPEM, caAfter) {
		t.Error("the root CA changed when only the listener needed reissuing")
	}
	// Near expiry: reissued.
	c4, _, err := EnsureCerts(dir, more, c3.Leaf.NotAfter.Add(-time.Hour))
	must(t, err)
	if c4.Leaf.SerialNumber.Cmp(c3.Leaf.SerialNumber) == 0 {
		t.Error("listener certificate not reissued near its expiry")
	}
}

func TestEnsureCertsErrors(t *testing.T) {
	if _, _, err := EnsureCerts(t.TempDir(), nil, time.Now()); err == nil {
		t.Error("no names accepted")
	}
	// A root CA without its key cannot reissue: a clear error, not a panic.
	dir := t.TempDir()
	_, _, err := EnsureCerts(dir, []string{"a.example"}, time.Now())
	must(t, err)
	must(t, os.Remove(filepath.Join(dir, certs.RootKeyFile)))
	_, _, err = EnsureCerts(dir, []string{"a.example", "b.example"}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "root CA key") {
		t.Errorf("missing root key: %v", err)
	}
}

func BenchmarkHandlerVaultHealth(b *testing.B) {
	h := New(Options{}).Handler()
	req := httptest.NewRequest("GET", "https://vault.emulator.local/v1/sys/health", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkHandlerMisdirected(b *testing.B) {
	h := New(Options{}).Handler()
	req := httptest.NewRequest("GET", "https://evil.example/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
	}
}

func BenchmarkSeedDemo(b *testing.B) {
	for b.Loop() {
		if _, err := New(Options{}).SeedDemo(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}
