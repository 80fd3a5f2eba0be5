package certs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/syncgate/syncgate/internal/testpki"
)

// pebbleValidity is the lifetime Pebble gives certificates: short, so that
// renewal happens within the test.
const pebbleValidity = 12 * time.Second

type pebble struct {
	dir, mgmt      string
	httpPort       int
	tlsPort        int
	roots          *x509.CertPool // trusts Pebble's own HTTPS
	rootsPEM       []byte
	eabKID, eabMAC string
	out            *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fakeDNS answers every A query with 127.0.0.1, so Pebble's validation of
// any name reaches the challenge servers on loopback.
func fakeDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func startPebble(t *testing.T) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		if os.Getenv("SYNCGATE_SKIP_PEBBLE") == "1" {
			t.Skip("pebble not installed and SYNCGATE_SKIP_PEBBLE=1")
		}
		t.Fatal("pebble (the ACME test server) is not installed: apt-get install pebble, or set SYNCGATE_SKIP_PEBBLE=1 to skip locally")
	}
	dir := t.TempDir()
	ca := testpki.NewCA(t, "pebble HTTPS CA")
	leaf := ca.Issue(t, testpki.LeafOpts{CN: "localhost", DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	certFile, keyFile := leaf.WriteFiles(t, dir, "pebble")
	mac := make([]byte, 32)
	rand.Read(mac)
	p := &pebble{dir: dir, httpPort: freePort(t), tlsPort: freePort(t), roots: ca.Pool(), rootsPEM: ca.CertPEM,
		eabKID: "kid-syncgate", eabMAC: base64.RawURLEncoding.EncodeToString(mac), out: &syncBuffer{}}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p.mgmt = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        p.mgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       p.httpPort,
		"tlsPort":                        p.tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": true,
		"externalAccountMACKeys":         map[string]string{p.eabKID: p.eabMAC},
		"certificateValidityPeriod":      int(pebbleValidity / time.Second),
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-config", cfgFile, "-dnsserver", fakeDNS(t))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", p.out.String())
		}
	})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get("https://" + listen + "/dir")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not come up: %v\n%s", err, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.dir = "https://" + listen + "/dir"
	return p
}

// rootsFile writes the CA of Pebble's own HTTPS certificate into dir.
func (p *pebble) rootsFile(t *testing.T, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "pebble-https-ca.pem")
	if err := os.WriteFile(f, p.rootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// issuingRoots fetches the roots Pebble signs with (generated at its start).
func (p *pebble) issuingRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}, Timeout: 5 * time.Second}
	resp, err := hc.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	cs, err := ParseCertsPEM(b)
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	pool := x509.NewCertPool()
	for _, c := range cs {
		pool.AddCert(c)
	}
	return pool
}

func TestACMEPebble(t *testing.T) {
	p := startPebble(t)
	t.Run("http-01", func(t *testing.T) {
		t.Parallel()
		testACME(t, p, "http-01", "gw-http.syncgate.test")
	})
	t.Run("tls-alpn-01", func(t *testing.T) {
		t.Parallel()
		testACME(t, p, "tls-alpn-01", "gw-alpn.syncgate.test")
	})
}

func testACME(t *testing.T, p *pebble, challenge, name string) {
	dir := t.TempDir()
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	macFile := filepath.Join(dir, "eab.mac")
	os.WriteFile(macFile, []byte(p.eabMAC+"\n"), 0o600)
	cfg := ListenerConfig{ACME: &ACMEConfig{
		Directory: p.dir, Names: []string{name}, Email: "ops@syncgate.test",
		TrustedRoots: []string{p.rootsFile(t, dir)}, Challenges: []string{challenge},
		ListenHost: "127.0.0.1", HTTPPort: p.httpPort, TLSALPNPort: p.tlsPort,
		EAB:                &EAB{KeyID: p.eabKID, MACKeyFile: "eab.mac"},
		RenewalWindowRatio: 0.75,
	}}
	var events syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := NewListener(ctx, cfg, dir, log, WithRenewCheckInterval(time.Second),
		WithEvents(func(ev string, _ map[string]any) { fmt.Fprintln(&events, ev) }))
	if err != nil {
		t.Fatalf("obtain through %s: %v\nlogs:\n%s", challenge, err, logs.String())
	}
	defer l.Close()

	// Serve on the TLS-ALPN port: from now on a tls-alpn-01 renewal must be
	// answered by the gateway's own listener, as in production on :443.
	addr := "127.0.0.1:0"
	if challenge == "tls-alpn-01" {
		addr = fmt.Sprintf("127.0.0.1:%d", p.tlsPort)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
	tc := l.TLSConfig()
	var alpnHandshakes atomic.Int32
	inner := tc.GetConfigForClient
	tc.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(h.SupportedProtos, "acme-tls/1") {
			alpnHandshakes.Add(1)
		}
		return inner(h)
	}
	go srv.Serve(tls.NewListener(ln, tc))
	defer srv.Close()

	roots := p.issuingRoots(t)
	first := handshakeSerial(t, ln.Addr().String(), name, roots)
	deadline := time.Now().Add(45 * time.Second)
	for {
		s := handshakeSerial(t, ln.Addr().String(), name, roots)
		if s != first {
			// A renewal whose tls-alpn-01 validation ran before this
			// listener held the port (certmagic's own solver answered it)
			// may be issued only now; the next renewal must then come
			// through this listener, so wait for that one.
			if challenge != "tls-alpn-01" || alpnHandshakes.Load() > 0 {
				break
			}
			first = s
		}
		if time.Now().After(deadline) {
			if challenge == "tls-alpn-01" && alpnHandshakes.Load() == 0 {
				t.Fatal("no renewal's tls-alpn-01 validation reached the gateway's listener within 45s")
			}
			t.Fatalf("certificate not renewed within 45s (lifetime %v)\nevents:\n%s\nlogs:\n%s", pebbleValidity, events.String(), logs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(events.String(), "cert_obtained") {
		t.Fatalf("no cert_obtained event: %s", events.String())
	}
	if strings.Contains(logs.String(), p.eabMAC) {
		t.Fatal("the EAB MAC key appears in the logs")
	}
	if !strings.Contains(logs.String(), `"library":"certmagic"`) {
		t.Fatal("certmagic's zap logs did not reach zerolog")
	}
}

// handshakeSerial connects, verifies the chain against roots for name, and
// returns the leaf's serial.
func handshakeSerial(t *testing.T, addr, name string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: name})
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
