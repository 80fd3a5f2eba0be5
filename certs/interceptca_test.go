package certs

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConstrainedCA(t *testing.T, dir string, hosts ...string) (certFile, keyFile string, ca *x509.Certificate) {
	t.Helper()
	nc, err := ConstraintsForHosts(hosts)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "ica.pem"), filepath.Join(dir, "ica.key")
	ca, err = WriteInterceptCA(certFile, keyFile, InterceptCAOptions{Constraints: &nc})
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, ca
}

func verifyLeaf(t *testing.T, leaf *x509.Certificate, host string, roots ...*x509.Certificate) error {
	t.Helper()
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
	return err
}

// The gateway's minter refuses a host outside the CA's constraints with a
// reason for the client and the audit log, and mints inside ones.
func TestInterceptLeafRefusesHostOutsideConstraints(t *testing.T) {
	certFile, keyFile, ca := writeConstrainedCA(t, t.TempDir(), "graph.microsoft.com", "*.my.salesforce.com")
	ica, err := LoadInterceptCA(certFile, keyFile, InterceptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ica.Constrained() {
		t.Fatal("not constrained")
	}
	for _, h := range []string{"graph.microsoft.com", "corp.my.salesforce.com"} {
		leaf, err := ica.Leaf(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyLeaf(t, leaf.Leaf, h, ca); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
	}
	for _, h := range []string{"evil.example", "graph.microsoft.com.evil.example", "10.0.0.1"} {
		_, err := ica.Leaf(h)
		var ce *ConstraintError
		if !errors.Is(err, ErrOutsideConstraints) || !errors.As(err, &ce) || !strings.Contains(ce.DenyReason(), "outside the intercept CA's name constraints") {
			t.Fatalf("%s: %v", h, err)
		}
	}
	if err := ica.PermitsHost("*.salesforce.com"); err == nil {
		t.Fatal("a wildcard wider than the constraints is inside")
	}
}

// The intercept CA key file must not be readable by group or others.
func TestInterceptCARefusesOpenKeyFile(t *testing.T) {
	certFile, keyFile, _ := writeConstrainedCA(t, t.TempDir(), "graph.microsoft.com")
	if err := os.Chmod(keyFile, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadInterceptCA(certFile, keyFile, InterceptOptions{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a 0640 key loaded: %v", err)
	}
}

// Rotation: a staged next CA is published with the current one but does
// not sign; after the promotion it signs, and the old CA stays published;
// the next staging drops it. Reload follows each step.
func TestInterceptRotationFileKey(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cur := writeConstrainedCA(t, dir, "graph.microsoft.com")
	var reloads int
	ica, err := LoadInterceptCA(certFile, keyFile, InterceptOptions{OnReload: func() { reloads++ }})
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := ConstraintsForHosts([]string{"graph.microsoft.com", "login.microsoftonline.com"})
	next, err := StageNextInterceptFile(certFile, keyFile, InterceptCAOptions{Constraints: &nc, Lifetime: 48 * time.Hour, Now: func() time.Time { return time.Now().Add(time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	if life := next.NotAfter.Sub(next.NotBefore); life > 49*time.Hour {
		t.Fatalf("lifetime %v not honoured", life)
	}
	if fi, err := os.Stat(NextKeyFile(keyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("next key: %v %v", fi, err)
	}
	if err := ica.Reload(); err != nil || reloads != 1 {
		t.Fatalf("reload after staging: %v (%d)", err, reloads)
	}
	if !ica.Certificate().Equal(cur) || len(ica.Bundle().Next) != 1 || !ica.Bundle().Next[0].Equal(next) {
		t.Fatal("staged CA signs, or is not in the bundle")
	}
	if cs, _ := ParseCertsPEM(ica.CertPEM()); len(cs) != 2 {
		t.Fatalf("published %d CAs, want current and next", len(cs))
	}
	leaf, err := ica.Leaf("graph.microsoft.com")
	if err != nil || verifyLeaf(t, leaf.Leaf, "graph.microsoft.com", cur) != nil {
		t.Fatalf("leaf not from the current CA: %v", err)
	}
	if _, err := StageNextInterceptFile(certFile, keyFile, InterceptCAOptions{Constraints: &nc}); err == nil || !strings.Contains(err.Error(), "--promote") {
		t.Fatalf("second staging: %v", err)
	}

	// Promote: the certificate file first. A gateway reading it before the
	// key moves still finds its key's certificate and keeps the old CA.
	if _, err := PromoteNextIntercept(certFile, keyFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadInterceptBundle(certFile, keyFile); err != nil || !b.Current.Equal(next) || len(b.Previous) != 1 || !b.Previous[0].Equal(cur) {
		t.Fatalf("bundle after promotion: %+v %v", b, err)
	}
	if _, err := os.Stat(NextKeyFile(keyFile)); !os.IsNotExist(err) {
		t.Fatal("the next key file is still there")
	}
	if err := ica.Reload(); err != nil {
		t.Fatal(err)
	}
	if !ica.Certificate().Equal(next) {
		t.Fatal("the promoted CA does not sign")
	}
	leaf, err = ica.Leaf("login.microsoftonline.com")
	if err != nil || verifyLeaf(t, leaf.Leaf, "login.microsoftonline.com", next) != nil {
		t.Fatalf("leaf not from the promoted CA: %v", err)
	}
	if _, err := PromoteNextIntercept(certFile, keyFile, time.Now()); err == nil {
		t.Fatal("promoted twice")
	}
	// The next rotation drops the previous CA.
	if _, err := StageNextInterceptFile(certFile, keyFile, InterceptCAOptions{Constraints: &nc, Now: func() time.Time { return time.Now().Add(2 * time.Second) }}); err != nil {
		t.Fatal(err)
	}
	b, err := ReadInterceptBundle(certFile, keyFile)
	if err != nil || !b.Current.Equal(next) || len(b.Next) != 1 || len(b.Previous) != 0 {
		t.Fatalf("bundle after the second staging: %+v %v", b, err)
	}
}

// A key that matches no certificate in the file is refused at load and on
// reload (the old CA stays).
func TestInterceptCAKeyMustMatchBundle(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeConstrainedCA(t, dir, "graph.microsoft.com")
	other := filepath.Join(t.TempDir(), "x")
	os.MkdirAll(other, 0o755)
	oc, _, _ := writeConstrainedCA(t, other, "graph.microsoft.com")
	b, _ := os.ReadFile(oc)
	if _, err := LoadInterceptCA(oc, keyFile, InterceptOptions{}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key: %v", err)
	}
	ica, err := LoadInterceptCA(certFile, keyFile, InterceptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := ica.Certificate()
	if err := os.WriteFile(certFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ica.Reload(); err == nil || !ica.Certificate().Equal(old) {
		t.Fatalf("reload to a foreign CA: %v", err)
	}
}

func TestInitDirInterceptCAConstrained(t *testing.T) {
	nc, err := ConstraintsForHosts([]string{"graph.microsoft.com", "*.my.salesforce.com"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := InitDir(dir, InitOptions{Names: []string{"127.0.0.1"}, InterceptConstraints: &nc}); err != nil {
		t.Fatal(err)
	}
	cs, err := readCertsFile(filepath.Join(dir, InterceptCAFile))
	if err != nil {
		t.Fatal(err)
	}
	ca := cs[0]
	if got := strings.Join(ca.PermittedDNSDomains, ","); got != "graph.microsoft.com,my.salesforce.com" || !ca.PermittedDNSDomainsCritical {
		t.Fatalf("constraints %q critical=%v", got, ca.PermittedDNSDomainsCritical)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life > 366*24*time.Hour {
		t.Fatalf("intercept CA lifetime %v, want a year", life)
	}
	// Without constraints (no --policy) the CA still lives a year only.
	dir2 := t.TempDir()
	if _, err := InitDir(dir2, InitOptions{Names: []string{"127.0.0.1"}, InterceptLifetime: 90 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	cs, _ = readCertsFile(filepath.Join(dir2, InterceptCAFile))
	if _, ok := ConstraintsOf(cs[0]); ok || cs[0].NotAfter.Sub(cs[0].NotBefore) > 91*24*time.Hour {
		t.Fatalf("unconstrained CA: constrained=%v lifetime %v", ok, cs[0].NotAfter.Sub(cs[0].NotBefore))
	}
}
