package certs

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/syncgate/syncgate/internal/testpki"
)

// serve runs an HTTPS server on 127.0.0.1 with cfg and returns its address.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "ok")
		}),
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// get makes one request with a fresh connection and returns the served
// certificate's serial.
func get(addr string, roots *x509.CertPool, cert *tls.Certificate) (*big.Int, error) {
	tc := &tls.Config{RootCAs: roots, ServerName: "gw.test"}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if string(b) != "ok" {
		return nil, fmt.Errorf("body %q", b)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber, nil
}

func writeCRL(t *testing.T, ca *testpki.CA, path string, next time.Time, revoked ...*x509.Certificate) {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: next,
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	dir      string
	serverCA *testpki.CA
	clientCA *testpki.CA
	listener *Listener
	addr     string
	errs     chan string
}

func newFixture(t *testing.T, withClientCA bool) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), serverCA: testpki.NewCA(t, "server CA"), clientCA: testpki.NewCA(t, "clients CA"), errs: make(chan string, 16)}
	srv := f.serverCA.Issue(t, testpki.LeafOpts{CN: "gw.test", DNS: []string{"gw.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	srv.WriteFiles(t, f.dir, "gw")
	cfg := ListenerConfig{CertFile: "gw.pem", KeyFile: "gw.key"}
	if withClientCA {
		f.clientCA.WriteCert(t, f.dir, "clients-ca.pem")
		writeCRL(t, f.clientCA, filepath.Join(f.dir, "clients.crl"), time.Now().Add(24*time.Hour))
		cfg.ClientCA = []string{"clients-ca.pem"}
		cfg.CRLFiles = []string{"clients.crl"}
	}
	l, err := NewListener(context.Background(), cfg, f.dir, zerolog.Nop(), WithOnReloadError(func(what string, err error) {
		f.errs <- what + ": " + err.Error()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	f.listener = l
	f.addr = serve(t, l.TLSConfig())
	return f
}

func TestListenerMTLS(t *testing.T) {
	f := newFixture(t, true)
	roots := f.serverCA.Pool()
	valid := f.clientCA.Issue(t, testpki.LeafOpts{CN: "sync", URIs: []string{"spiffe://corp.example/sync"}, Client: true})
	revoked := f.clientCA.Issue(t, testpki.LeafOpts{CN: "revoked", Client: true})
	writeCRL(t, f.clientCA, filepath.Join(f.dir, "clients.crl"), time.Now().Add(24*time.Hour), revoked.Cert)
	if err := f.listener.Reload(); err != nil {
		t.Fatalf("reload with new CRL: %v", err)
	}
	expired := f.clientCA.Issue(t, testpki.LeafOpts{CN: "expired", Client: true, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Minute)})
	other := testpki.NewCA(t, "other CA").Issue(t, testpki.LeafOpts{CN: "sync", Client: true})
	serverOnly := f.clientCA.Issue(t, testpki.LeafOpts{CN: "server-usage", Server: true})

	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"valid", &valid.TLS, true},
		{"no certificate", nil, false},
		{"expired", &expired.TLS, false},
		{"another CA", &other.TLS, false},
		{"revoked", &revoked.TLS, false},
		{"no clientAuth usage", &serverOnly.TLS, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := get(f.addr, roots, tc.cert)
			if tc.ok && err != nil {
				t.Fatalf("want accepted, got %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("want refused, got a response")
			}
		})
	}
}

func TestListenerStaleCRLFailsClosed(t *testing.T) {
	f := newFixture(t, true)
	valid := f.clientCA.Issue(t, testpki.LeafOpts{CN: "sync", Client: true})
	if _, err := get(f.addr, f.serverCA.Pool(), &valid.TLS); err != nil {
		t.Fatalf("fresh CRL: %v", err)
	}
	writeCRL(t, f.clientCA, filepath.Join(f.dir, "clients.crl"), time.Now().Add(-time.Minute))
	if err := f.listener.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(f.addr, f.serverCA.Pool(), &valid.TLS); err == nil {
		t.Fatal("a stale CRL must refuse clients it can no longer vouch for")
	}
}

func TestListenerClientCAReload(t *testing.T) {
	f := newFixture(t, true)
	newCA := testpki.NewCA(t, "new clients CA")
	newClient := newCA.Issue(t, testpki.LeafOpts{CN: "new", Client: true})
	oldClient := f.clientCA.Issue(t, testpki.LeafOpts{CN: "old", Client: true})
	if _, err := get(f.addr, f.serverCA.Pool(), &newClient.TLS); err == nil {
		t.Fatal("new CA's client accepted before reload")
	}

	// A broken bundle keeps the old one and is reported.
	if err := os.WriteFile(filepath.Join(f.dir, "clients-ca.pem"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.listener.Reload(); err == nil {
		t.Fatal("broken bundle: want error")
	}
	select {
	case msg := <-f.errs:
		if !strings.HasPrefix(msg, "client_ca: ") {
			t.Fatalf("reported %q", msg)
		}
	default:
		t.Fatal("broken bundle not reported through OnReloadError")
	}
	if _, err := get(f.addr, f.serverCA.Pool(), &oldClient.TLS); err != nil {
		t.Fatalf("old client after broken reload: %v", err)
	}

	// The new bundle replaces the old CA; the CRL signed by the old CA no
	// longer matches any client CA, so drop it too.
	newCA.WriteCert(t, f.dir, "clients-ca.pem")
	writeCRL(t, newCA, filepath.Join(f.dir, "clients.crl"), time.Now().Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.listener.Watch(ctx, 20*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := get(f.addr, f.serverCA.Pool(), &newClient.TLS); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new CA's client still refused after Watch should have reloaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := get(f.addr, f.serverCA.Pool(), &oldClient.TLS); err == nil {
		t.Fatal("old CA's client still accepted after its CA was removed")
	}
}

func TestListenerBrokenCertKeepsOld(t *testing.T) {
	f := newFixture(t, false)
	before, err := get(f.addr, f.serverCA.Pool(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A key that does not match the certificate.
	other := f.serverCA.Issue(t, testpki.LeafOpts{CN: "gw.test", DNS: []string{"gw.test"}})
	if err := os.WriteFile(filepath.Join(f.dir, "gw.key"), other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	err = f.listener.Reload()
	if err == nil {
		t.Fatal("mismatched key: want error")
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), string(other.KeyPEM[30:60])) {
		t.Fatalf("error leaks key material: %v", err)
	}
	after, err := get(f.addr, f.serverCA.Pool(), nil)
	if err != nil || after.Cmp(before) != 0 {
		t.Fatalf("after broken reload: serial %v err %v, want old serial %v", after, err, before)
	}
	// An expired new certificate is refused too.
	exp := f.serverCA.Issue(t, testpki.LeafOpts{CN: "gw.test", DNS: []string{"gw.test"}, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	exp.WriteFiles(t, f.dir, "gw")
	if err := f.listener.Reload(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired certificate: want expiry error, got %v", err)
	}
}

func TestListenerReloadUnderLoad(t *testing.T) {
	f := newFixture(t, false)
	roots := f.serverCA.Pool()
	var served sync.Map
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := &tls.Config{RootCAs: roots, ServerName: "gw.test"}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			defer c.CloseIdleConnections()
			for i := 0; i < 200; i++ {
				if i%20 == 0 {
					c.CloseIdleConnections() // new handshakes see the swaps
				}
				resp, err := c.Get("https://" + f.addr + "/")
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				served.Store(resp.TLS.PeerCertificates[0].SerialNumber.String(), true)
			}
		}()
	}
	stop := make(chan struct{})
	swapped := make(chan int)
	go func() {
		n := 0
		defer func() { swapped <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			leaf := f.serverCA.Issue(t, testpki.LeafOpts{CN: "gw.test", DNS: []string{"gw.test"}})
			certFile, keyFile := filepath.Join(f.dir, "gw.pem"), filepath.Join(f.dir, "gw.key")
			// Write via rename, as deployment tools do.
			if err := writeFileAtomic(keyFile, leaf.KeyPEM, 0o600); err != nil {
				panic(err)
			}
			if err := writeFileAtomic(certFile, leaf.CertPEM, 0o644); err != nil {
				panic(err)
			}
			if err := f.listener.Reload(); err == nil {
				n++
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	n := <-swapped
	if failures.Load() != 0 {
		t.Fatalf("%d of 1600 requests failed during swaps; first: %v", failures.Load(), firstErr.Load())
	}
	distinct := 0
	served.Range(func(any, any) bool { distinct++; return true })
	if n == 0 || distinct < 2 {
		t.Fatalf("swaps %d, distinct certificates served %d: the test did not exercise a swap", n, distinct)
	}
	t.Logf("%d swaps, %d distinct certificates served, 0 failures", n, distinct)
}

func TestListenerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  ListenerConfig
		want string
	}{
		{"none", ListenerConfig{}, "exactly one"},
		{"two", ListenerConfig{CertFile: "a", KeyFile: "b", Internal: &InternalConfig{}}, "exactly one"},
		{"missing key", ListenerConfig{CertFile: "a"}, "go together"},
		{"missing file", ListenerConfig{CertFile: "a.pem", KeyFile: "a.key"}, "a.pem"},
		{"crl without ca", ListenerConfig{CertFile: "a", KeyFile: "b", CRLFiles: []string{"x"}}, "client_ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewListener(context.Background(), tc.cfg, dir, zerolog.Nop())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// BenchmarkListenerHandshakeMTLS measures one full TLS 1.3 handshake with a
// verified client certificate (CA pool, CRL and the re-verification done
// for resumed sessions).
func BenchmarkListenerHandshakeMTLS(b *testing.B) {
	dir := b.TempDir()
	serverCA, clientCA := testpki.NewCA(b, "server CA"), testpki.NewCA(b, "clients CA")
	serverCA.Issue(b, testpki.LeafOpts{CN: "gw.test", DNS: []string{"gw.test"}}).WriteFiles(b, dir, "gw")
	clientCA.WriteCert(b, dir, "clients-ca.pem")
	l, err := NewListener(context.Background(), ListenerConfig{CertFile: "gw.pem", KeyFile: "gw.key", ClientCA: []string{"clients-ca.pem"}}, dir, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	client := clientCA.Issue(b, testpki.LeafOpts{CN: "sync", Client: true})
	scfg := l.TLSConfig()
	ccfg := &tls.Config{RootCAs: serverCA.Pool(), ServerName: "gw.test", Certificates: []tls.Certificate{client.TLS}}
	for b.Loop() {
		c1, c2 := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(c2, scfg).Handshake() }()
		if err := tls.Client(c1, ccfg).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		c1.Close()
		c2.Close()
	}
}
