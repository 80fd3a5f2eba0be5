package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/proxy"
)

// seen is what a test upstream received.
type seen struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   int         `json:"body"`
}

// upstream is a real TLS server on loopback that echoes what it received.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []seen
	addr netip.AddrPort
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.hits)
}

func (u *upstream) last() seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.hits) == 0 {
		return seen{}
	}
	return u.hits[len(u.hits)-1]
}

// upstreamOpts tunes a test upstream.
type upstreamOpts struct {
	cert    tls.Certificate
	maxTLS  uint16
	minTLS  uint16
	clients *testpki.CA // require client certificates from this CA
	handler http.HandlerFunc
}

func newUpstream(t testing.TB, o upstreamOpts) *upstream {
	t.Helper()
	u := &upstream{}
	h := o.handler
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			s := seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone(), Body: int(n)}
			u.mu.Lock()
			u.hits = append(u.hits, s)
			u.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Keep-Alive", "timeout=5")
			_ = json.NewEncoder(w).Encode(s)
		}
	} else {
		inner := h
		h = func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.hits = append(u.hits, seen{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone()})
			u.mu.Unlock()
			inner(w, r)
		}
	}
	srv := httptest.NewUnstartedServer(h)
	cfg := &tls.Config{Certificates: []tls.Certificate{o.cert}, MinVersion: o.minTLS, MaxVersion: o.maxTLS}
	if o.clients != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = o.clients.Pool()
	}
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u.srv = srv
	u.addr = netip.MustParseAddrPort(srv.Listener.Addr().String())
	return u
}

// harness is a running gateway with its PKI, policy and audit log in a temp dir.
type harness struct {
	t        testing.TB
	dir      string
	upCA     *testpki.CA // signs upstream certificates
	otherCA  *testpki.CA // an authority nobody trusts
	gwCA     *testpki.CA // signs the gateway's listener certificate
	clientCA *testpki.CA // signs client certificates
	ica      *certs.InterceptCA
	srv      *proxy.Server
	aw       *audit.Writer
	auditLog string
	tlsAddr  string
	plain    string
	hosts    map[string]netip.AddrPort
	files    map[string]string // named PEM files for curl
	// auditPathOverride puts the audit log elsewhere (a small tmpfs).
	auditPathOverride string
	logBuf            *syncBuffer
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harnessOpts struct {
	policy      string // YAML; CA bundle files upstream-ca.pem, other-ca.pem exist beside it
	hosts       map[string]netip.AddrPort
	allow       []netip.Prefix
	resolver    string
	injector    proxy.Injector
	auditWrap   func(proxy.AuditWriter) proxy.AuditWriter
	limits      proxy.Limits
	clientCerts map[string]*testpki.Leaf
}

func newPKI(t testing.TB) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		dir:      t.TempDir(),
		upCA:     testpki.NewCA(t, "upstream CA"),
		otherCA:  testpki.NewCA(t, "other CA"),
		gwCA:     testpki.NewCA(t, "gateway CA"),
		clientCA: testpki.NewCA(t, "clients CA"),
		files:    map[string]string{},
		logBuf:   &syncBuffer{},
	}
	h.upCA.WriteCert(t, h.dir, "upstream-ca.pem")
	h.otherCA.WriteCert(t, h.dir, "other-ca.pem")
	h.files["gwca"] = h.gwCA.WriteCert(t, h.dir, "gateway-ca.pem")
	ica := testpki.NewCA(t, "intercept CA")
	h.files["ica"] = ica.WriteCert(t, h.dir, "intercept-ca.pem")
	ikey := ica.WriteKey(t, h.dir, "intercept-ca.key")
	var err error
	h.ica, err = certs.LoadInterceptCA(h.files["ica"], ikey, certs.InterceptOptions{})
	if err != nil {
		t.Fatalf("intercept CA: %v", err)
	}
	return h
}

// start compiles the policy and starts the gateway on both listeners.
func (h *harness) start(o harnessOpts) {
	t := h.t
	t.Helper()
	pf := filepath.Join(h.dir, "policy.yaml")
	if err := os.WriteFile(pf, []byte(o.policy), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := mustCompile(t, pf)
	h.auditLog = filepath.Join(h.dir, "audit.jsonl")
	if h.auditPathOverride != "" {
		h.auditLog = h.auditPathOverride
	}
	aw, err := audit.Open(context.Background(), audit.Options{Path: h.auditLog, Fsync: benchFsync})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	h.aw = aw
	var w proxy.AuditWriter = aw
	if o.auditWrap != nil {
		w = o.auditWrap(aw)
	}
	gwLeaf := h.gwCA.Issue(t, testpki.LeafOpts{CN: "gateway", IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNS: []string{"localhost"}})
	allow := o.allow
	if allow == nil {
		allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	var cc proxy.ClientCertSource
	if len(o.clientCerts) > 0 {
		m := map[string]certs.FilePair{}
		for name, l := range o.clientCerts {
			c, k := l.WriteFiles(t, h.dir, "upclient-"+name)
			m[name] = certs.FilePair{CertFile: c, KeyFile: k}
		}
		ccs, err := certs.LoadClientCerts(m, h.dir)
		if err != nil {
			t.Fatal(err)
		}
		cc = ccs
	}
	srv, err := proxy.New(proxy.Options{
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{gwLeaf.TLS},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    h.clientCA.Pool(),
			MinVersion:   tls.VersionTLS12,
		},
		Intercept:   h.ica,
		Audit:       w,
		FailClosed:  true,
		Injector:    o.injector,
		ClientCerts: cc,
		Network:     proxy.Network{AllowRanges: allow, Hosts: o.hosts, Resolver: o.resolver},
		Limits:      o.limits,
		Logger:      zerolog.New(h.logBuf),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetPolicy(eng)
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pln, err := proxy.ListenPlain("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.tlsAddr, h.plain = tln.Addr().String(), pln.Addr().String()
	done := make(chan struct{}, 2)
	go func() { _ = srv.Serve(ctx, tln, false); done <- struct{}{} }()
	go func() { _ = srv.Serve(ctx, pln, true); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		aw.Close()
	})
}

func mustCompile(t testing.TB, file string) *policy.Engine {
	t.Helper()
	p, err := policy.Load(file)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	e, err := policy.Compile(p)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return e
}

// client issues a client certificate and writes it for curl.
func (h *harness) client(name string, o testpki.LeafOpts) (certFile, keyFile string) {
	h.t.Helper()
	o.Client = true
	l := h.clientCA.Issue(h.t, o)
	return l.WriteFiles(h.t, h.dir, name)
}

// records reads the audit log.
func (h *harness) records() []audit.Record {
	h.t.Helper()
	f, err := os.Open(h.auditLog)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			h.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// lastHTTP returns the last http record.
func (h *harness) lastHTTP() audit.Record {
	h.t.Helper()
	rs := h.records()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Kind == audit.KindHTTP {
			return rs[i]
		}
	}
	h.t.Fatal("no http audit record")
	return audit.Record{}
}

// curlResult is what curl reported.
type curlResult struct {
	status int
	body   string
	stderr string
	exit   int
}

func curlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is required for the integration tests (apt-get install curl): %v", err)
	}
	return p
}

// curl runs curl with args and returns the status (from -w) and body.
func curl(t *testing.T, args ...string) curlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"-sS", "--noproxy", "", "-o", "-", "-w", "\n%{http_code} %{http_connect}", "--max-time", "20"}, args...)
	cmd := exec.CommandContext(ctx, curlPath(t), full...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no proxy variables from the environment
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := curlResult{stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("curl: %v", err)
	}
	s := out.String()
	i := strings.LastIndexByte(s, '\n')
	var connect int
	fmt.Sscanf(s[i+1:], "%d %d", &res.status, &connect)
	if res.status == 0 {
		res.status = connect // the CONNECT itself was refused
	}
	res.body = s[:i]
	return res
}

// viaTLS returns curl arguments for the mTLS proxy with a client certificate.
func (h *harness) viaTLS(cert, key string) []string {
	return []string{"--proxy", "https://" + h.tlsAddr, "--proxy-cacert", h.files["gwca"],
		"--proxy-cert", cert, "--proxy-key", key, "--cacert", h.files["ica"]}
}

// viaPlain returns curl arguments for the loopback plain listener.
func (h *harness) viaPlain() []string {
	return []string{"--proxy", "http://" + h.plain}
}

// raw sends bytes to the plain listener and returns the response status line and body.
func (h *harness) raw(t *testing.T, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", h.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
