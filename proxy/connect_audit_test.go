package proxy_test

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/internal/testpki"
)

// connectTo opens an mTLS connection to the gateway as the sync client and
// sends CONNECT authority; it returns the connection and the 200's
// Syncgate-Request-Id.
func connectTo(t *testing.T, h *harness, authority string) (*tls.Conn, *bufio.Reader, string) {
	t.Helper()
	certFile, keyFile := h.client("sync", testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"}})
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", h.tlsAddr, &tls.Config{RootCAs: h.gwCA.Pool(), Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", authority, resp, err)
	}
	id := resp.Header.Get("Syncgate-Request-Id")
	if id == "" {
		t.Fatal("200 Connection established without Syncgate-Request-Id")
	}
	return c, br, id
}

func recordByID(t *testing.T, h *harness, id string) (audit.Record, []audit.Record) {
	t.Helper()
	rs := h.records()
	for _, r := range rs {
		if r.ID == id {
			return r, rs
		}
	}
	t.Fatalf("no audit record with id %s (the id of the CONNECT's 200)", id)
	return audit.Record{}, nil
}

// TestConnectAudited: the Syncgate-Request-Id of an allowed CONNECT is the
// id of its audit record, of kind connect: client, authority, destination,
// the minted leaf and the TLS the client spoke; it comes before the records
// of the requests inside the tunnel.
func TestConnectAudited(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	c, br, id := connectTo(t, h, "graph.test.example:443")
	pool := x509.NewCertPool()
	pool.AddCert(h.ica.Certificate())
	tc := tls.Client(&readerConn{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: "graph.test.example", MaxVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	leaf := sha256.Sum256(tc.ConnectionState().PeerCertificates[0].Raw)
	fmt.Fprintf(tc, "GET /ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request in the tunnel: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if up.count() != 1 {
		t.Fatalf("upstream hits %d", up.count())
	}

	rec, all := recordByID(t, h, id)
	if rec.Kind != audit.KindConnect || rec.Client == nil || rec.Client.Name != "sync" || rec.Client.Identity != "uri:spiffe://test.example/sync" ||
		rec.Request == nil || rec.Request.Method != "CONNECT" || rec.Request.Host != "graph.test.example" || rec.Request.Port != 443 ||
		rec.Decision == nil || !rec.Decision.Allow || rec.Decision.Destination != "graph" || rec.Response == nil || rec.Response.Status != 200 {
		t.Fatalf("connect record: %+v %+v %+v %+v", rec.Client, rec.Request, rec.Decision, rec.Response)
	}
	if rec.Detail["client_tls_version"] != "1.2" || rec.Detail["client_cipher"] == "" || rec.Detail["leaf_sha256"] != hex.EncodeToString(leaf[:]) || rec.Detail["error"] != "" {
		t.Fatalf("connect detail: %v", rec.Detail)
	}
	// The request's own record follows it, under its own id.
	var inner *audit.Record
	for i := range all {
		if all[i].Kind == audit.KindHTTP && all[i].Request != nil && all[i].Request.Path == "/ok" {
			inner = &all[i]
		}
	}
	if inner == nil || inner.ID == id || inner.Seq <= rec.Seq {
		t.Fatalf("tunnelled request record %+v after connect seq %d", inner, rec.Seq)
	}
}

// TestConnectHandshakeFailureAudited: a client that gets the 200 but never
// completes TLS with the minted leaf still leaves the connect record, with
// the failure, under the id it was given.
func TestConnectHandshakeFailureAudited(t *testing.T) {
	h, up := graphHarness(t, "", harnessOpts{})
	c, br, id := connectTo(t, h, "graph.test.example:443")
	fmt.Fprintf(c, "this is not a TLS ClientHello\r\n\r\n")
	// The gateway writes the record, then closes: EOF means it is on disk.
	io.Copy(io.Discard, br)
	rec, _ := recordByID(t, h, id)
	if rec.Kind != audit.KindConnect || !rec.Decision.Allow || rec.Detail["error"] != "client TLS handshake failed" || rec.Detail["client_tls_version"] != "" || rec.Detail["leaf_sha256"] == "" {
		t.Fatalf("record after a failed client handshake: %+v %v", rec.Decision, rec.Detail)
	}
	if up.count() != 0 {
		t.Fatal("upstream reached")
	}
}

// readerConn lets a TLS client read bytes already buffered after the
// CONNECT response.
type readerConn struct {
	*tls.Conn
	r *bufio.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
