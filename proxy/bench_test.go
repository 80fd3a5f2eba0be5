package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncgate/syncgate/internal/testpki"
)

// BenchmarkProxiedGET compares keep-alive HTTPS GETs with 1 KiB bodies
// straight to an upstream with the same GETs through the gateway in both
// modes (audit log on, fsync=always). Run with -cpu to vary parallelism;
// compare the ns/op of the sub-benchmarks, and p50/p99 reported per mode.
func BenchmarkProxiedGET(b *testing.B) { benchProxied(b, http.MethodGet, "/ok") }

// BenchmarkProxiedPOST is BenchmarkProxiedGET with a 1 KiB JSON request
// body (a sync engine's write), answered with 1 KiB.
func BenchmarkProxiedPOST(b *testing.B) { benchProxied(b, http.MethodPost, "/upload") }

func benchProxied(b *testing.B, method, path string) {
	h := newPKI(b)
	payload := strings.Repeat("x", 1024)
	reqBody := `{"displayName":"` + strings.Repeat("y", 1024-18) + `"}`
	up := newUpstream(b, upstreamOpts{cert: h.upCA.Issue(b, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS,
		handler: func(w http.ResponseWriter, r *http.Request) {
			if n, _ := io.Copy(io.Discard, r.Body); r.Method == http.MethodPost && n != int64(len(reqBody)) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			io.WriteString(w, payload)
		}})
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
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cl.TLS}}}}, "https://graph.test.example" + path},
		{"origination", &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(plainURL), MaxIdleConnsPerHost: 256}}, "http://graph.test.example" + path},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.SetParallelism(4)
			done := reportCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t0 := time.Now()
					var body io.Reader
					if method == http.MethodPost {
						body = strings.NewReader(reqBody)
					}
					req, err := http.NewRequest(method, c.url, body)
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					resp, err := c.c.Do(req)
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
			done()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// BenchmarkGatewayGET measures the gateway alone: a raw keep-alive client on
// the plain listener (origination) and a raw TLS upstream that answers every
// request head with a fixed 1 KiB response, so that allocs/op and B/op are
// (nearly) only the gateway's and its audit writer's. SYNCGATE_BENCH_FSYNC
// chooses the audit fsync mode (default always).
func BenchmarkGatewayGET(b *testing.B) {
	benchGateway(b, []byte("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\nUser-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\r\n"))
}

// BenchmarkGatewayPOST is BenchmarkGatewayGET with a 1 KiB JSON request
// body sent with Content-Length.
func BenchmarkGatewayPOST(b *testing.B) {
	body := `{"displayName":"` + strings.Repeat("y", 1024-18) + `"}`
	benchGateway(b, []byte("POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nUser-Agent: bench\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n"+body))
}

func benchGateway(b *testing.B, req []byte) {
	h := newPKI(b)
	cert := h.upCA.Issue(b, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 30 Nov 2026 04:00:00 GMT\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rawServe(c, resp)
		}
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": addr}})
	b.SetParallelism(4)
	defer reportCPU(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", h.plain)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 8<<10)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if n, err := rawReadResponse(br); err != nil || n != 1024 {
				b.Errorf("response: %d bytes, %v", n, err)
				return
			}
		}
	})
}

// rawServe answers each request on c with resp. A request body is read by
// its Content-Length (the benchmarks send no chunked bodies).
func rawServe(c net.Conn, resp []byte) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8<<10)
	for {
		n := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// rawReadResponse reads one response with a Content-Length body and returns
// the body's length.
func rawReadResponse(br *bufio.Reader) (int, error) {
	n := -1
	status := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if !status {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return 0, fmt.Errorf("status line %q", line)
			}
			status = true
			continue
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return 0, errors.New("no Content-Length")
	}
	_, err := br.Discard(n)
	return n, err
}

// reportCPU reports the process's CPU time (user+system, from getrusage)
// per operation as cpu-µs/op: steadier than ns/op on a shared machine, as
// it does not count time other processes took. It includes the benchmark's
// client and upstream, the same on both sides of a comparison.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	t0 := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpu()-t0).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	}
}

// BenchmarkPoolGatewayMixed runs the direct exchange's pool under
// concurrency: 16 parallel raw clients per CPU on the plain listener, half
// GETs and half 1 KiB POSTs, through one destination whose raw upstream
// keeps connections alive (so the pool is taken from and returned to by
// every request).
func BenchmarkPoolGatewayMixed(b *testing.B) {
	h := newPKI(b)
	cert := h.upCA.Issue(b, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rawServe(c, resp)
		}
	}()
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": netip.MustParseAddrPort(ln.Addr().String())}})
	body := `{"displayName":"` + strings.Repeat("y", 1024-18) + `"}`
	reqs := [][]byte{
		[]byte("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\nUser-Agent: bench\r\n\r\n"),
		[]byte("POST http://graph.test.example/upload HTTP/1.1\r\nHost: graph.test.example\r\nUser-Agent: bench\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n" + body),
	}
	b.SetParallelism(16)
	defer reportCPU(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", h.plain)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 8<<10)
		for i := 0; pb.Next(); i++ {
			if _, err := c.Write(reqs[i%2]); err != nil {
				b.Error(err)
				return
			}
			if n, err := rawReadResponse(br); err != nil || n != 1024 {
				b.Errorf("response: %d bytes, %v", n, err)
				return
			}
		}
	})
}
