package proxy_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/internal/testpki"
)

// BenchmarkProxiedGET compares keep-alive HTTPS GETs with 1 KiB bodies
// straight to an upstream with the same GETs through the gateway in both
// modes (audit log on, fsync=always). Run with -cpu to vary parallelism;
// compare the ns/op of the sub-benchmarks, and p50/p99 reported per mode.
func BenchmarkProxiedGET(b *testing.B) {
	h := newPKI(b)
	payload := strings.Repeat("x", 1024)
	up := newUpstream(b, upstreamOpts{cert: h.upCA.Issue(b, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS,
		handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, payload) }})
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})

	cl := h.clientCA.Issue(b, testpki.LeafOpts{URIs: []string{"spiffe://test.example/sync"}, Client: true})
	roots := x509.NewCertPool()
	roots.AddCert(h.gwCA.Cert)
	roots.AddCert(h.ica.Certificate())
	roots.AddCert(h.upCA.Cert)
	tlsURL, _ := url.Parse("https://" + h.tlsAddr)
	plainURL, _ := url.Parse("http://" + h.plain)
	clients := []struct {
		name string
		c    *http.Client
		url  string
	}{
		{"direct", &http.Client{Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots},
			MaxIdleConnsPerHost: 256,
			DialContext: func(ctx context.Context, n, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, n, up.addr.String())
			}}}, "https://graph.test.example/ok"},
		{"connect", &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(tlsURL), MaxIdleConnsPerHost: 256,
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cl.TLS}}}}, "https://graph.test.example/ok"},
		{"origination", &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(plainURL), MaxIdleConnsPerHost: 256}}, "http://graph.test.example/ok"},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t0 := time.Now()
					resp, err := c.c.Get(c.url)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || n != 1024 {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
						return
					}
					d := time.Since(t0)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
