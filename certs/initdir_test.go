package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

func TestInitDirAndIssueClient(t *testing.T) {
	dir := t.TempDir()
	files, err := InitDir(dir, InitOptions{Names: []string{"gw.example", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		wantKey := strings.HasSuffix(f, ".key")
		if wantKey && st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if _, err := InitDir(dir, InitOptions{Names: []string{"x"}}); err == nil {
		t.Fatal("init over an existing set must refuse without Force")
	}
	root, _ := readCertsFile(filepath.Join(dir, RootCAFile))
	ica, _ := readCertsFile(filepath.Join(dir, InterceptCAFile))
	cca, _ := readCertsFile(filepath.Join(dir, ClientsCAFile))
	if bytes.Equal(ica[0].RawSubjectPublicKeyInfo, root[0].RawSubjectPublicKeyInfo) || bytes.Equal(cca[0].RawSubjectPublicKeyInfo, root[0].RawSubjectPublicKeyInfo) {
		t.Fatal("intercept and clients CAs must have their own keys")
	}
	pool := x509.NewCertPool()
	pool.AddCert(root[0])
	lc, err := loadKeyPair(filepath.Join(dir, ListenerFile), filepath.Join(dir, ListenerKeyFile), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"gw.example", "127.0.0.1"} {
		if _, err := lc.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: n}); err != nil {
			t.Errorf("listener certificate for %s: %v", n, err)
		}
	}

	out := t.TempDir()
	certFile, keyFile, err := IssueClient(dir, out, "sync", ClientOptions{URIs: []string{"spiffe://corp.example/sync"}, TTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(keyFile); st.Mode().Perm() != 0o600 {
		t.Errorf("client key mode %v", st.Mode().Perm())
	}
	cc, err := loadKeyPair(certFile, keyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Leaf.URIs) != 1 || cc.Leaf.URIs[0].String() != "spiffe://corp.example/sync" || cc.Leaf.NotAfter.Sub(time.Now()) > 2*time.Hour {
		t.Fatalf("client certificate URIs %v not-after %v", cc.Leaf.URIs, cc.Leaf.NotAfter)
	}
	trust, err := loadClientTrust([]string{filepath.Join(dir, ClientsCAFile)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.check([]*x509.Certificate{cc.Leaf}, time.Now()); err != nil {
		t.Fatalf("issued client certificate not accepted by the clients CA bundle: %v", err)
	}
	if err := trust.check([]*x509.Certificate{lc.Leaf}, time.Now()); err == nil {
		t.Fatal("the listener certificate must not pass as a client")
	}
	for _, bad := range []ClientOptions{{}, {URIs: []string{"not a uri"}}} {
		if _, _, err := IssueClient(dir, out, "x", bad); err == nil {
			t.Errorf("IssueClient(%+v) accepted", bad)
		}
	}
	if _, _, err := IssueClient(dir, out, "../x", ClientOptions{DNS: []string{"a"}}); err == nil {
		t.Error("a name with a path separator was accepted")
	}

	infos, err := DescribeDir(out)
	if err != nil || len(infos) != 1 || infos[0].Role != "client certificate" || infos[0].NextRenewal.IsZero() {
		t.Fatalf("DescribeDir(out) = %+v, %v", infos, err)
	}
	infos, err = DescribeDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, ci := range infos {
		roles[ci.Role] = true
	}
	for _, r := range []string{"internal root CA", "listener (file)", "intercept CA", "clients CA (mTLS)"} {
		if !roles[r] {
			t.Errorf("DescribeDir misses %q: %+v", r, infos)
		}
	}
}

func TestInternalListener(t *testing.T) {
	dir := t.TempDir()
	if _, err := InitDir(dir, InitOptions{Names: []string{"gw.example"}}); err != nil {
		t.Fatal(err)
	}
	cfg := ListenerConfig{Internal: &InternalConfig{CACert: RootCAFile, CAKey: RootKeyFile, Names: []string{"gw.example", "127.0.0.1"}, Lifetime: 48 * time.Hour}}
	l, err := NewListener(context.Background(), cfg, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := serve(t, l.TLSConfig())
	root, _ := readCertsFile(filepath.Join(dir, RootCAFile))
	pool := x509.NewCertPool()
	pool.AddCert(root[0])
	for _, sni := range []string{"gw.example", ""} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: map[string]string{"": "127.0.0.1"}[sni] + sni})
		if err != nil {
			t.Fatalf("handshake (SNI %q): %v", sni, err)
		}
		leaf := c.ConnectionState().PeerCertificates[0]
		c.Close()
		if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 48*time.Hour+clockSkew {
			t.Fatalf("internal leaf lifetime %v", life)
		}
	}
	// A second listener on the same storage (a replica) serves the same
	// certificate instead of issuing its own.
	l2, err := NewListener(context.Background(), cfg, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	a, _ := l.Certificate("gw.example")
	b, _ := l2.Certificate("gw.example")
	if a == nil || b == nil || a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Fatal("replicas sharing storage serve different certificates")
	}
	infos, err := DescribeDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	managed := 0
	for _, ci := range infos {
		if ci.Role == "listener (managed)" {
			managed++
		}
	}
	if managed != 2 { // one per name
		t.Fatalf("DescribeDir lists %d managed listener certificates, want 2: %+v", managed, infos)
	}
	if _, err := NewListener(context.Background(), ListenerConfig{Internal: &InternalConfig{CACert: ListenerFile, CAKey: ListenerKeyFile, Names: []string{"x"}}}, dir, zerolog.Nop()); err == nil {
		t.Fatal("a leaf certificate was accepted as the internal CA")
	}
}

func TestZapBridge(t *testing.T) {
	var buf bytes.Buffer
	zl := NewZapLogger(zerolog.New(&buf).Level(zerolog.InfoLevel)).Named("certmagic")
	zl.Debug("hidden")
	zl.With(zap.String("identifiers", "gw.example")).Error("obtain failed", zap.Error(errors.New("boom")), zap.Int("attempt", 2))
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Fatal("debug entry written at info level")
	}
	for _, want := range []string{`"level":"error"`, `"logger":"certmagic"`, `"identifiers":"gw.example"`, `"error":"boom"`, `"attempt":2`, `"message":"obtain failed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("zerolog line %s lacks %s", out, want)
		}
	}
}

func TestListenerConfigYAML(t *testing.T) {
	var cfg struct {
		TLS ListenerConfig `yaml:"tls"`
	}
	src := `
tls:
  client_ca: [clients-ca.pem]
  crl_files: [clients.crl]
  internal: {ca_cert: root-ca.pem, ca_key: root-ca.key, names: [gw.example], lifetime: 72h}
  acme:
    directory: https://ca.internal/acme/acme/directory
    names: [gw.corp.example]
    challenges: [tls-alpn-01]
    tls_alpn_port: 3129
    eab: {key_id: kid, mac_key_file: eab.mac}
`
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	c := cfg.TLS
	if c.Internal == nil || c.Internal.Lifetime != 72*time.Hour || c.Internal.Names[0] != "gw.example" ||
		c.ACME == nil || c.ACME.TLSALPNPort != 3129 || c.ACME.EAB.MACKeyFile != "eab.mac" || c.CRLFiles[0] != "clients.crl" {
		t.Fatalf("decoded %+v", c)
	}
}
