package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/internal/testpki"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newInterceptCA(t testing.TB, o InterceptOptions) (*InterceptCA, *testpki.CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "intercept CA")
	c, err := LoadInterceptCA(ca.WriteCert(t, dir, "ica.pem"), ca.WriteKey(t, dir, "ica.key"), o)
	if err != nil {
		t.Fatal(err)
	}
	return c, ca, dir
}

func TestInterceptLeaf(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	ica, ca, _ := newInterceptCA(t, InterceptOptions{Now: clock.Now, Allow: func(h string) bool { return h != "evil.example" }})
	for _, tc := range []struct {
		host    string
		wantDNS string
		wantIP  string
	}{
		{"graph.microsoft.com", "graph.microsoft.com", ""},
		{"Graph.Microsoft.COM.", "graph.microsoft.com", ""},
		{"10.1.2.3", "", "10.1.2.3"},
		{"[2001:db8::1]", "", "2001:db8::1"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			leaf, err := ica.Leaf(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			c := leaf.Leaf
			if tc.wantDNS != "" && (len(c.DNSNames) != 1 || c.DNSNames[0] != tc.wantDNS || len(c.IPAddresses) != 0) {
				t.Fatalf("SANs DNS=%v IP=%v, want DNS %s only", c.DNSNames, c.IPAddresses, tc.wantDNS)
			}
			if tc.wantIP != "" && (len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP(tc.wantIP)) || len(c.DNSNames) != 0) {
				t.Fatalf("SANs DNS=%v IP=%v, want IP %s only", c.DNSNames, c.IPAddresses, tc.wantIP)
			}
			if life := c.NotAfter.Sub(clock.Now()); life > DefaultLeafTTL || life < DefaultLeafTTL-time.Minute {
				t.Fatalf("leaf valid for %v from now, want %v", life, DefaultLeafTTL)
			}
			k, ok := c.PublicKey.(*ecdsa.PublicKey)
			if !ok || k.Curve != elliptic.P256() {
				t.Fatalf("leaf key %T, want ECDSA P-256", c.PublicKey)
			}
			name := tc.wantDNS
			if name == "" {
				name = tc.wantIP
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, CurrentTime: clock.Now()}); err != nil {
				t.Fatalf("leaf does not verify for %s: %v", name, err)
			}
		})
	}
}

func TestInterceptDenied(t *testing.T) {
	ica, _, _ := newInterceptCA(t, InterceptOptions{Allow: func(h string) bool { return h == "graph.microsoft.com" }})
	for _, h := range []string{"evil.example", "GRAPH.microsoft.com.evil.example", "127.0.0.1"} {
		if leaf, err := ica.Leaf(h); !errors.Is(err, ErrHostNotAllowed) || leaf != nil {
			t.Fatalf("Leaf(%q) = %v, %v; want ErrHostNotAllowed", h, leaf, err)
		}
	}
	for _, h := range []string{"", "*.microsoft.com", "graph.microsoft.com:443", "a..b", "-x.example", "x y"} {
		if _, err := ica.Leaf(h); err == nil {
			t.Fatalf("Leaf(%q) minted a certificate for an invalid host", h)
		}
	}
	if _, err := ica.Leaf("graph.microsoft.com"); err != nil {
		t.Fatalf("allowed host: %v", err)
	}
}

func TestInterceptCacheAndRemint(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	ica, _, _ := newInterceptCA(t, InterceptOptions{Now: clock.Now, LeafTTL: 3 * time.Hour})
	first, err := ica.Leaf("graph.microsoft.com")
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour + 30*time.Minute) // half the lifetime left: still cached
	again, _ := ica.Leaf("graph.microsoft.com")
	if again != first {
		t.Fatal("leaf re-minted while more than a third of its lifetime was left")
	}
	clock.Add(40 * time.Minute) // under a third left
	renewed, _ := ica.Leaf("graph.microsoft.com")
	if renewed == first || renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("leaf not re-minted with under a third of its lifetime left")
	}
	if !renewed.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Fatal("re-minted leaf does not outlive the old one")
	}
}

func TestInterceptReload(t *testing.T) {
	var reported []string
	ica, _, dir := newInterceptCA(t, InterceptOptions{OnReloadError: func(what string, err error) { reported = append(reported, what) }})
	old, _ := ica.Leaf("graph.microsoft.com")
	if err := os.WriteFile(filepath.Join(dir, "ica.key"), []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ica.Reload(); err == nil || len(reported) != 1 {
		t.Fatalf("broken key: err %v, reported %v", err, reported)
	}
	if l, _ := ica.Leaf("graph.microsoft.com"); l != old {
		t.Fatal("broken reload changed the CA")
	}
	next := testpki.NewCA(t, "next intercept CA")
	next.WriteCert(t, dir, "ica.pem")
	next.WriteKey(t, dir, "ica.key")
	if err := ica.Reload(); err != nil {
		t.Fatal(err)
	}
	l, _ := ica.Leaf("graph.microsoft.com")
	if err := l.Leaf.CheckSignatureFrom(next.Cert); err != nil {
		t.Fatalf("leaf after reload not from the new CA: %v", err)
	}
	if string(ica.CertPEM()) != string(next.CertPEM) {
		t.Fatal("CertPEM not the new CA")
	}
}

func TestInterceptServerConfigHandshake(t *testing.T) {
	ica, ca, _ := newInterceptCA(t, InterceptOptions{})
	cfg, err := ica.ServerConfig("graph.microsoft.com")
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go tls.Server(c2, cfg).Handshake()
	cl := tls.Client(c1, &tls.Config{RootCAs: ca.Pool(), ServerName: "graph.microsoft.com"})
	if err := cl.Handshake(); err != nil {
		t.Fatalf("client trusting the intercept CA: %v", err)
	}
}

func BenchmarkInterceptLeafCached(b *testing.B) {
	ica, _, _ := newInterceptCA(b, InterceptOptions{})
	if _, err := ica.Leaf("graph.microsoft.com"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := ica.Leaf("graph.microsoft.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInterceptLeafMint(b *testing.B) {
	ica, _, _ := newInterceptCA(b, InterceptOptions{MaxCached: 1})
	i := 0
	for b.Loop() {
		i++
		if _, err := ica.Leaf("h" + string(rune('a'+i%26)) + ".example"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzInterceptHost checks that whatever host a client sends in CONNECT,
// a leaf is minted only for one exact, normalised name: no wildcard, no
// port, and the SAN equals what the Allow guard saw.
func FuzzInterceptHost(f *testing.F) {
	for _, s := range []string{"graph.microsoft.com", "GRAPH.microsoft.com.", "10.0.0.1", "[::1]", "*.x.com", "a:443", "", "a..b", "xn--bcher-kva.example", "a b", "a\x00b"} {
		f.Add(s)
	}
	ica, _, _ := newInterceptCA(f, InterceptOptions{})
	f.Fuzz(func(t *testing.T, host string) {
		var seen string
		ica.o.Allow = func(h string) bool { seen = h; return true }
		leaf, err := ica.Leaf(host)
		if err != nil {
			return
		}
		c := leaf.Leaf
		sans := append([]string{}, c.DNSNames...)
		for _, ip := range c.IPAddresses {
			sans = append(sans, ip.String())
		}
		if len(sans) != 1 || sans[0] != seen {
			t.Fatalf("host %q: SANs %v, Allow saw %q", host, sans, seen)
		}
		if net.ParseIP(seen) == nil && (strings.ContainsAny(seen, "*: \x00/") || strings.ToLower(seen) != seen) {
			t.Fatalf("host %q: minted for %q", host, seen)
		}
	})
}
