package proxy_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/proxy"
)

const basePolicy = `version: 1
mode: enforce
ca_bundles:
  upstream: {files: [upstream-ca.pem]}
clients:
  - name: sync
    identities: [{uri: "spiffe://test.example/sync"}]
    sources: ["127.0.0.0/8"]
    subjects: ["*@corp.example"]
  - name: faraway
    identities: [{uri: "spiffe://test.example/faraway"}]
    sources: ["10.0.0.0/8"]
  - name: sidecar
    sources: ["127.0.0.1/32"]
    subjects: ["*@corp.example"]
destinations:
  - name: graph
    hosts: [graph.test.example]
    tls: {min_version: "1.2", ca_bundle: upstream}
    clients: [sync, sidecar]
    rules:
      - id: read-contacts
        methods: [GET]
        paths: ["/v1.0/users/{subject}/contacts/**", "/ok", "/big"]
      - id: upload
        methods: [POST]
        paths: ["/upload"]
`

// graphHarness starts a gateway in front of one good upstream for graph.test.example.
func graphHarness(t *testing.T, extraPolicy string, o harnessOpts) (*harness, *upstream) {
	t.Helper()
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS})
	if o.hosts == nil {
		o.hosts = map[string]netip.AddrPort{}
	}
	o.hosts["graph.test.example"] = up.addr
	o.policy = basePolicy + extraPolicy
	h.start(o)
	return h, up
}

func TestInterceptAllowedWithMTLSClient(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	cert, key := h.client("sync", testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"}})
	r := curl(t, append(h.viaTLS(cert, key),
		"-H", "Syncgate-Subject: alice@corp.example",
		"-H", "Proxy-Foo: leak", "-H", "Connection: X-Drop", "-H", "X-Drop: yes",
		"https://graph.test.example/v1.0/users/alice@corp.example/contacts/123?secret=hunter2")...)
	if r.status != 200 {
		t.Fatalf("status %d, body %s, stderr %s", r.status, r.body, r.stderr)
	}
	var s seen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatal(err)
	}
	if up.count() != 1 {
		t.Fatalf("upstream hits %d", up.count())
	}
	if s.Path != "/v1.0/users/alice@corp.example/contacts/123" || s.Query != "secret=hunter2" {
		t.Errorf("upstream saw %s?%s", s.Path, s.Query)
	}
	for _, k := range []string{"Syncgate-Subject", "Proxy-Foo", "X-Drop"} {
		if s.Header.Get(k) != "" {
			t.Errorf("upstream received %s", k)
		}
	}
	rec := h.lastHTTP()
	if !rec.Decision.Allow || rec.Decision.Rule != "read-contacts" || rec.Client.Name != "sync" || rec.Subject != "alice@corp.example" {
		t.Errorf("record: %+v %+v %+v", rec.Decision, rec.Client, rec.Subject)
	}
	if rec.Upstream == nil || rec.Upstream.TLSVersion == "" || rec.Upstream.CertSHA256 == "" || rec.Upstream.CABundle != "upstream" || rec.Upstream.IP != "127.0.0.1" {
		t.Errorf("upstream in record: %+v", rec.Upstream)
	}
	if rec.Response == nil || rec.Response.Status != 200 {
		t.Errorf("response in record: %+v", rec.Response)
	}
	if rec.Client.CertSHA256 == "" || rec.Client.Identity == "" {
		t.Errorf("client in record: %+v", rec.Client)
	}
	if strings.Contains(readFile(t, h.auditLog), "hunter2") {
		t.Error("query-string value in the audit log")
	}
}

func TestOriginationOnPlainListener(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	r := curl(t, append(h.viaPlain(), "-H", "Syncgate-Subject: bob@corp.example",
		"http://graph.test.example/v1.0/users/bob@corp.example/contacts/delta")...)
	if r.status != 200 {
		t.Fatalf("status %d: %s %s", r.status, r.body, r.stderr)
	}
	if up.count() != 1 {
		t.Fatalf("upstream hits %d", up.count())
	}
	rec := h.lastHTTP()
	if rec.Client.Name != "sidecar" || !rec.Decision.Allow || rec.Upstream.TLSVersion == "" {
		t.Errorf("record %+v %+v %+v", rec.Client, rec.Decision, rec.Upstream)
	}
}

func TestClientCertificateRefusals(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	url := "https://graph.test.example/ok"
	good, goodKey := h.client("good", testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"}})
	expired, expiredKey := h.client("expired", testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	foreign := h.otherCA.Issue(t, testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"}, Client: true})
	foreignCert, foreignKey := foreign.WriteFiles(t, h.dir, "foreign")
	unknown, unknownKey := h.client("unknown", testpki.LeafOpts{URIs: []string{"spiffe://test.example/nobody"}})
	far, farKey := h.client("far", testpki.LeafOpts{URIs: []string{"spiffe://test.example/faraway"}})

	t.Run("valid", func(t *testing.T) {
		if r := curl(t, append(h.viaTLS(good, goodKey), url)...); r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.stderr)
		}
	})
	handshake := []struct{ name, cert, key, reason string }{
		{"no certificate", "", "", "no client certificate"},
		{"expired", expired, expiredKey, "expired"},
		{"another CA", foreignCert, foreignKey, "unknown authority"},
	}
	for _, c := range handshake {
		t.Run(c.name, func(t *testing.T) {
			before := up.count()
			args := []string{"--proxy", "https://" + h.tlsAddr, "--proxy-cacert", h.files["gwca"], "--cacert", h.files["ica"]}
			if c.cert != "" {
				args = append(args, "--proxy-cert", c.cert, "--proxy-key", c.key)
			}
			r := curl(t, append(args, url)...)
			if r.exit == 0 || r.status == 200 {
				t.Fatalf("accepted: exit %d status %d", r.exit, r.status)
			}
			if up.count() != before {
				t.Fatal("request reached the upstream")
			}
			rec := h.lastHTTP()
			if rec.Decision.Allow || !strings.Contains(rec.Decision.Reason, c.reason) {
				t.Errorf("handshake refusal record: %+v", rec.Decision)
			}
		})
	}
	t.Run("unidentified gets 407", func(t *testing.T) {
		r := curl(t, append(h.viaTLS(unknown, unknownKey), url)...)
		if r.status != 407 {
			t.Fatalf("status %d, stderr %s", r.status, r.stderr)
		}
		rec := h.lastHTTP()
		if rec.Decision.Allow || rec.Response.Status != 407 {
			t.Errorf("record %+v", rec.Decision)
		}
	})
	t.Run("outside sources gets 403", func(t *testing.T) {
		r := curl(t, append(h.viaTLS(far, farKey), url)...)
		if r.status != 403 {
			t.Fatalf("status %d, stderr %s", r.status, r.stderr)
		}
		rec := h.lastHTTP()
		if rec.Client.Name != "faraway" || rec.Decision.Allow || !strings.Contains(rec.Decision.Reason, "source") {
			t.Errorf("record %+v %+v", rec.Client, rec.Decision)
		}
	})
}

func TestPolicyDenials(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	cert, key := h.client("sync", testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"}})
	cases := []struct {
		name   string
		args   []string
		reason string
	}{
		{"method off the rules", []string{"-X", "DELETE", "https://graph.test.example/ok"}, "rule"},
		{"path off the rules", []string{"https://graph.test.example/admin"}, "rule"},
		{"subject outside globs", []string{"-H", "Syncgate-Subject: mallory@evil.example", "https://graph.test.example/v1.0/users/mallory@evil.example/contacts/1"}, "subject"},
		{"subject does not match path", []string{"-H", "Syncgate-Subject: alice@corp.example", "https://graph.test.example/v1.0/users/bob@corp.example/contacts/1"}, "rule"},
		{"no subject for per-subject rule", []string{"https://graph.test.example/v1.0/users/bob@corp.example/contacts/1"}, "subject"},
		{"dot-dot", []string{"--path-as-is", "https://graph.test.example/v1.0/users/alice@corp.example/contacts/../../../admin"}, "path"},
		{"encoded dot-dot", []string{"--path-as-is", "-H", "Syncgate-Subject: alice@corp.example", "https://graph.test.example/v1.0/users/alice@corp.example/contacts/%2e%2e/x"}, "path"},
		{"encoded slash", []string{"--path-as-is", "-H", "Syncgate-Subject: alice@corp.example", "https://graph.test.example/v1.0/users/alice@corp.example/contacts/a%2fb"}, "path"},
		{"double slash", []string{"--path-as-is", "-H", "Syncgate-Subject: alice@corp.example", "https://graph.test.example/v1.0/users/alice@corp.example/contacts//x"}, "path"},
		{"semicolon", []string{"--path-as-is", "-H", "Syncgate-Subject: alice@corp.example", "https://graph.test.example/v1.0/users/alice@corp.example/contacts/x;y"}, "path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := up.count()
			r := curl(t, append(h.viaTLS(cert, key), c.args...)...)
			if r.status != 403 {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			if up.count() != before {
				t.Fatal("request reached the upstream")
			}
			var body struct{ Error, Reason, RequestID string }
			_ = json.Unmarshal([]byte(r.body), &body)
			if body.Error != "denied" {
				t.Errorf("body %s", r.body)
			}
			rec := h.lastHTTP()
			if rec.Decision.Allow || !strings.Contains(strings.ToLower(rec.Decision.Reason), c.reason) {
				t.Errorf("record decision %+v, want reason about %q", rec.Decision, c.reason)
			}
		})
	}
	t.Run("CONNECT to a host with no destination", func(t *testing.T) {
		r := curl(t, append(h.viaTLS(cert, key), "https://evil.test.example/ok")...)
		if r.exit == 0 {
			t.Fatalf("curl succeeded: %d", r.status)
		}
		rec := h.lastHTTP()
		if rec.Request.Method != "CONNECT" || rec.Decision.Allow || rec.Response.Status != 403 {
			t.Errorf("record %+v %+v", rec.Request, rec.Decision)
		}
	})
}

func TestHostMustMatchConnectAuthority(t *testing.T) {
	h, up := graphHarness(t, `  - name: other
    hosts: [other.test.example]
    tls: {ca_bundle: upstream}
    clients: [sync]
    rules: [{methods: [GET], paths: ["/**"]}]
`, harnessOpts{})
	certFile, keyFile := h.client("sync", testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"}})
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", h.tlsAddr, &tls.Config{RootCAs: h.gwCA.Pool(), Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT graph.test.example:443 HTTP/1.1\r\nHost: graph.test.example:443\r\n\r\n")
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("CONNECT: %q %v", buf[:n], err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(h.ica.Certificate())
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "graph.test.example"})
	fmt.Fprintf(tc, "GET /ok HTTP/1.1\r\nHost: other.test.example\r\n\r\n")
	n, _ = tc.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 403") {
		t.Fatalf("response %q", buf[:n])
	}
	if up.count() != 0 {
		t.Fatal("request reached the upstream")
	}
	if rec := h.lastHTTP(); !strings.Contains(rec.Decision.Reason, "CONNECT authority") {
		t.Errorf("record reason %q", rec.Decision.Reason)
	}
}

func TestSmugglingShapesRefused(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	start := "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\n"
	cases := map[string]string{
		"CL and TE":            start + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"conflicting CL":       start + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
		"CL list conflict":     start + "Content-Length: 4, 5\r\n\r\nabcde",
		"TE with list":         start + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"TE look-alike":        start + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
		"TE twice":             start + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"TE with space name":   start + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
		"obs-fold TE":          start + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		"invalid header name":  start + "X-B\x01d: 1\r\nContent-Length: 0\r\n\r\n",
		"invalid header value": start + "X-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n",
		"bare LF":              "POST http://graph.test.example/upload HTTP/1.1\nHost: graph.test.example\nContent-Length: 0\n\n",
		"negative CL":          start + "Content-Length: -1\r\n\r\n",
		"plus CL":              start + "Content-Length: +4\r\n\r\nabcd",
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := h.raw(t, req)
			if status != 400 {
				t.Fatalf("status %d body %s", status, body)
			}
		})
	}
	if up.count() != 0 {
		t.Fatalf("upstream saw %d requests", up.count())
	}
	// The refusals are audited too.
	n := 0
	for _, r := range h.records() {
		if r.Kind == audit.KindHTTP && r.Response != nil && r.Response.Status == 400 {
			n++
		}
	}
	if n != len(cases) {
		t.Errorf("%d audit records for %d refusals", n, len(cases))
	}
}

func TestChunkedBodyAndKeepAlive(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	c, err := net.Dial("tcp", h.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" +
		"GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := newReader(c)
	for i := 0; i < 2; i++ {
		resp := readResp(t, br)
		if resp.status != 200 {
			t.Fatalf("response %d: %d %s", i, resp.status, resp.body)
		}
	}
	if up.count() != 2 {
		t.Fatalf("upstream hits %d", up.count())
	}
	if got := up.hits[0].Body; got != 11 {
		t.Errorf("upstream got %d body bytes", got)
	}
}

func TestLimits(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{limits: proxy.Limits{MaxHeaderBytes: 2048, MaxBodyBytes: 1024}})
	status, _ := h.raw(t, "GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\nX-Big: "+strings.Repeat("a", 4096)+"\r\n\r\n")
	if status != 431 {
		t.Errorf("big head: %d", status)
	}
	status, _ = h.raw(t, "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nContent-Length: 2000\r\n\r\n"+strings.Repeat("a", 2000))
	if status != 413 {
		t.Errorf("big body: %d", status)
	}
	status, _ = h.raw(t, "POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n"+strings.Repeat("a", 2000)+"\r\n0\r\n\r\n")
	if status != 413 {
		t.Errorf("big chunked body: %d", status)
	}
	if up.count() != 0 {
		// The chunked body may have started upstream; it must not have completed.
		if up.last().Body >= 2000 {
			t.Errorf("upstream received the whole oversized body")
		}
	}
}

func TestBadUpstreamsRefused(t *testing.T) {
	h := newPKI(t)
	now := time.Now()
	other := testpki.NewCA(t, "upstream-client other CA")
	pinCA := testpki.NewCA(t, "pin CA")
	ups := map[string]upstreamOpts{
		"expired.test.example":  {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"expired.test.example"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}).TLS},
		"unknown.test.example":  {cert: h.otherCA.Issue(t, testpki.LeafOpts{DNS: []string{"unknown.test.example"}}).TLS},
		"mismatch.test.example": {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"somebody-else.test.example"}}).TLS},
		"oldtls.test.example":   {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"oldtls.test.example"}}).TLS, minTLS: tls.VersionTLS10, maxTLS: tls.VersionTLS11},
		"only12.test.example":   {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"only12.test.example"}}).TLS, maxTLS: tls.VersionTLS12},
		"pinned.test.example":   {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"pinned.test.example"}}).TLS},
		"pinok.test.example":    {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"pinok.test.example"}}).TLS},
		"mtls.test.example":     {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"mtls.test.example"}}).TLS, clients: h.upCA},
		"mtlsbad.test.example":  {cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"mtlsbad.test.example"}}).TLS, clients: other},
	}
	hosts := map[string]netip.AddrPort{}
	servers := map[string]*upstream{}
	for name, o := range ups {
		u := newUpstream(t, o)
		servers[name] = u
		hosts[name] = u.addr
	}
	wrongPin := sha256.Sum256(pinCA.Cert.RawSubjectPublicKeyInfo)
	goodPin := sha256.Sum256(h.upCA.Cert.RawSubjectPublicKeyInfo)
	dest := func(name, host, tlsExtra, extra string) string {
		return fmt.Sprintf(`  - name: %s
    hosts: [%s]
    tls: {ca_bundle: upstream%s}
    clients: [sync, sidecar]%s
    rules: [{methods: [GET], paths: ["/**"]}]
`, name, host, tlsExtra, extra)
	}
	pol := `version: 1
ca_bundles:
  upstream: {files: [upstream-ca.pem]}
clients:
  - name: sync
    identities: [{uri: "spiffe://test.example/sync"}]
    sources: ["127.0.0.0/8"]
  - name: sidecar
    sources: ["127.0.0.1/32"]
destinations:
` + dest("expired", "expired.test.example", "", "") +
		dest("unknown", "unknown.test.example", "", "") +
		dest("mismatch", "mismatch.test.example", "", "") +
		dest("oldtls", "oldtls.test.example", "", "") +
		dest("only12", "only12.test.example", `, min_version: "1.3"`, "") +
		dest("pinned", "pinned.test.example", ", spki_pins: ["+base64.StdEncoding.EncodeToString(wrongPin[:])+"]", "") +
		dest("pinok", "pinok.test.example", ", spki_pins: ["+base64.StdEncoding.EncodeToString(goodPin[:])+"]", "") +
		dest("mtls", "mtls.test.example", "", "\n    client_cert: upclient") +
		dest("mtlsbad", "mtlsbad.test.example", "", "\n    client_cert: upclient")
	h.start(harnessOpts{policy: pol, hosts: hosts, clientCerts: map[string]*testpki.Leaf{
		"upclient": h.upCA.Issue(t, testpki.LeafOpts{CN: "syncgate", Client: true}),
	}})
	cases := []struct {
		host   string
		status int
		reason string
	}{
		{"expired.test.example", 502, proxy.ReasonExpired},
		{"unknown.test.example", 502, proxy.ReasonUnknownAuthority},
		{"mismatch.test.example", 502, proxy.ReasonNameMismatch},
		{"oldtls.test.example", 502, proxy.ReasonVersion},
		{"only12.test.example", 502, proxy.ReasonVersion},
		{"pinned.test.example", 502, proxy.ReasonPin},
		{"pinok.test.example", 200, ""},
		{"mtls.test.example", 200, ""},
		{"mtlsbad.test.example", 502, proxy.ReasonClientCert},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			r := curl(t, append(h.viaPlain(), "http://"+c.host+"/x")...)
			if r.status != c.status {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			rec := h.lastHTTP()
			if c.reason == "" {
				if rec.Upstream.Error != "" || servers[c.host].count() != 1 {
					t.Fatalf("record %+v hits %d", rec.Upstream, servers[c.host].count())
				}
				return
			}
			if rec.Upstream == nil || rec.Upstream.Error != c.reason {
				t.Fatalf("record upstream %+v, want reason %s", rec.Upstream, c.reason)
			}
			if !rec.Decision.Allow || rec.Response.Status != 502 || !strings.HasPrefix(rec.Detail["error"], "upstream ") {
				t.Errorf("record %+v %+v %v", rec.Decision, rec.Response, rec.Detail)
			}
			if servers[c.host].count() != 0 {
				t.Error("upstream handler ran")
			}
		})
	}
}

func TestFailClosedWhenAuditUnwritable(t *testing.T) {
	fw := &failingAudit{}
	h, up := graphHarness(t, "", harnessOpts{auditWrap: func(w proxy.AuditWriter) proxy.AuditWriter { fw.AuditWriter = w; return fw }})
	if r := curl(t, append(h.viaPlain(), "http://graph.test.example/ok")...); r.status != 200 {
		t.Fatalf("healthy: %d", r.status)
	}
	fw.set(errors.New("disk full"))
	r := curl(t, append(h.viaPlain(), "http://graph.test.example/ok")...)
	if r.status != 503 {
		t.Fatalf("status %d", r.status)
	}
	if up.count() != 1 {
		t.Fatalf("upstream hits %d: a request was forwarded while the log was down", up.count())
	}
	fw.set(nil)
	if r := curl(t, append(h.viaPlain(), "http://graph.test.example/ok")...); r.status != 200 {
		t.Fatalf("after recovery: %d", r.status)
	}
}

// failingAudit wraps the real writer and fails on demand, as a full disk would.
type failingAudit struct {
	proxy.AuditWriter
	mu  sync.Mutex
	err error
}

func (f *failingAudit) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *failingAudit) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *failingAudit) Write(ctx context.Context, r *audit.Record) error {
	if err := f.get(); err != nil {
		return err
	}
	return f.AuditWriter.Write(ctx, r)
}

func (f *failingAudit) Healthy() error {
	if err := f.get(); err != nil {
		return err
	}
	return f.AuditWriter.Healthy()
}

func TestMonitorModeForwardsAndRecordsWouldDeny(t *testing.T) {
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS})
	pol := strings.Replace(basePolicy, "mode: enforce", "mode: monitor", 1)
	h.start(harnessOpts{policy: pol, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	r := curl(t, append(h.viaPlain(), "http://graph.test.example/admin")...)
	if r.status != 200 || up.count() != 1 {
		t.Fatalf("monitor mode: status %d, upstream hits %d", r.status, up.count())
	}
	rec := h.lastHTTP()
	if !rec.Decision.Allow || !rec.Decision.WouldDeny || rec.Decision.Mode != "monitor" || rec.Decision.Reason == "" {
		t.Fatalf("record %+v", rec.Decision)
	}
	// A host with no destination has no TLS policy to forward under: still refused.
	r = curl(t, append(h.viaPlain(), "http://nowhere.test.example/")...)
	if r.status != 403 {
		t.Fatalf("unknown host in monitor mode: %d", r.status)
	}
}

func TestHTTP10ClientGetsCloseDelimitedBody(t *testing.T) {
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS,
		handler: func(w http.ResponseWriter, r *http.Request) {
			// Flushing before the end makes net/http stream it chunked.
			w.Write([]byte("first "))
			w.(http.Flusher).Flush()
			w.Write([]byte("second"))
		}})
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	c, err := net.Dial("tcp", h.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET http://graph.test.example/ok HTTP/1.0\r\nHost: graph.test.example\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(b)
	if strings.Contains(strings.ToLower(raw), "transfer-encoding") || !strings.HasSuffix(raw, "first second") {
		t.Fatalf("HTTP/1.0 response:\n%s", raw)
	}
}

// Monitor mode is one rule for both entry points: the gateway's own request
// (the token broker's) that policy would deny goes through, recorded as
// would_deny, exactly like a client's.
func TestMonitorModeSameForGatewayRequests(t *testing.T) {
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS})
	pol := strings.Replace(basePolicy, "mode: enforce", "mode: monitor", 1)
	h.start(harnessOpts{policy: pol, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	c := &http.Client{Transport: h.srv.InternalTransport("sidecar", audit.KindToken)}
	resp, err := c.Get("https://graph.test.example/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || up.count() != 1 {
		t.Fatalf("monitor mode, gateway request: status %d, upstream hits %d", resp.StatusCode, up.count())
	}
	rs := h.records()
	rec := rs[len(rs)-1]
	if rec.Kind != audit.KindToken || !rec.Decision.Allow || !rec.Decision.WouldDeny || rec.Decision.Mode != "monitor" || rec.Response.Status != 200 {
		t.Fatalf("record %+v %+v", rec, rec.Decision)
	}
	// No destination: refused for the gateway too, as a deny.
	if _, err := c.Get("https://nowhere.test.example/"); !errors.Is(err, proxy.ErrInternalDenied) {
		t.Fatalf("unknown host in monitor mode: %v", err)
	}
	rs = h.records()
	if rec := rs[len(rs)-1]; rec.Decision.Allow || rec.Response.Status != 403 {
		t.Fatalf("record %+v %+v", rec, rec.Decision)
	}
}
