package testpki

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// ServeHosts serves h over real TLS on 127.0.0.1 with a certificate, from a
// new CA, for the given host names, and returns the server with a client
// that trusts that CA and sends every host name to the server. This is how
// tests reach an emulator under the real names it answers for
// (graph.microsoft.com, …) without DNS.
func ServeHosts(t testing.TB, h http.Handler, hosts ...string) (*httptest.Server, *http.Client, *CA) {
	t.Helper()
	ca := NewCA(t, "test CA for "+hosts[0])
	leaf := ca.Issue(t, LeafOpts{CN: hosts[0], DNS: hosts})
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return ts, &http.Client{Transport: tr, Timeout: 30 * time.Second}, ca
}
